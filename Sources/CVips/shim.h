// Plain C wrappers over libvips' variadic calls, which Swift cannot call directly.
#ifndef SIGHTLINE_CVIPS_SHIM_H
#define SIGHTLINE_CVIPS_SHIM_H
#include <vips/vips.h>
#include <string.h>

static inline int sl_vips_init(void) {
    if (VIPS_INIT("sightline")) return -1;
    vips_cache_set_max(0);       // no operation cache: every upload is new data
    vips_concurrency_set(1);     // one thread per call; callers run calls in parallel
    return 0;
}

/// The loader libvips would pick for these bytes ("jpegload_buffer", ...), or NULL.
static inline const char *sl_vips_loader(const void *buf, size_t len) {
    const char *name = vips_foreign_find_load_buffer(buf, len);
    if (!name) return NULL;
    VipsObjectClass *cls = VIPS_OBJECT_CLASS(g_type_class_ref(g_type_from_name(name)));
    return cls ? cls->nickname : NULL;
}

/// Header only: no pixels are decoded. Returns 0 on success.
static inline int sl_vips_header(const void *buf, size_t len, int *width, int *height, int *bands,
                                 int *orientation, int *interpretation, int *format) {
    VipsImage *img = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!img) return -1;
    *width = vips_image_get_width(img);
    *height = vips_image_get_height(img);
    *bands = vips_image_get_bands(img);
    *orientation = vips_image_get_orientation(img);
    *interpretation = (int)vips_image_get_interpretation(img);
    *format = (int)vips_image_get_format(img);
    g_object_unref(img);
    return 0;
}

/// Orientation applied, 8-bit sRGB, alpha flattened onto white: what every consumer
/// of decoded pixels wants. Returns 0 and a new reference in *out.
static inline int sl_vips_upright_srgb8(VipsImage *in, VipsImage **out) {
    VipsImage *rot = NULL, *srgb = NULL, *flat = NULL;
    int rc = -1;
    if (vips_autorot(in, &rot, NULL)) goto done;
    if (vips_colourspace(rot, &srgb, VIPS_INTERPRETATION_sRGB, NULL)) goto done;
    if (vips_image_hasalpha(srgb)) {
        double white[3] = {255, 255, 255};
        VipsArrayDouble *bg = vips_array_double_new(white, 3);
        int frc = vips_flatten(srgb, &flat, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (frc) goto done;
    } else { flat = srgb; g_object_ref(flat); }
    if (vips_cast_uchar(flat, out, NULL)) goto done;
    rc = 0;
done:
    if (flat) g_object_unref(flat);
    if (srgb) g_object_unref(srgb);
    if (rot) g_object_unref(rot);
    return rc;
}

/// Decodes fully (first frame), upright 8-bit sRGB, fits inside max_side x max_side
/// (never enlarging), and saves as JPEG. fail=TRUE turns a truncated or corrupt file
/// into an error rather than grey pixels.
static inline int sl_vips_jpeg_variant(const void *buf, size_t len, int max_side, int quality,
                                       void **out, size_t *out_len, int *out_w, int *out_h) {
    VipsImage *loaded = NULL, *u8 = NULL, *fitted = NULL;
    int rc = -1;
    // JPEG shrinks while it decodes (by 2, 4 or 8): a large photo costs a fraction of a
    // full decode when only a smaller copy is wanted.
    int shrink = 1;
    const char *loader = sl_vips_loader(buf, len);
    if (loader && strcmp(loader, "jpegload_buffer") == 0) {
        int hw = 0, hh = 0, hb = 0, ho = 0, hi = 0, hf = 0;
        if (sl_vips_header(buf, len, &hw, &hh, &hb, &ho, &hi, &hf) == 0) {
            int side = hw > hh ? hw : hh;
            while (shrink < 8 && side / (shrink * 2) >= max_side) shrink *= 2;
        }
    }
    vips_error_clear();
    loaded = shrink > 1 ? vips_image_new_from_buffer(buf, len, "", "fail", TRUE, "shrink", shrink, NULL)
                        : vips_image_new_from_buffer(buf, len, "", "fail", TRUE, NULL);
    if (!loaded || sl_vips_upright_srgb8(loaded, &u8)) goto done;
    int w = vips_image_get_width(u8), h = vips_image_get_height(u8);
    if (w > max_side || h > max_side) {
        if (vips_resize(u8, &fitted, (double)max_side / (double)(w > h ? w : h), NULL)) goto done;
    } else { fitted = u8; g_object_ref(fitted); }
    if (vips_jpegsave_buffer(fitted, out, out_len, "Q", quality, "strip", TRUE, NULL)) goto done;
    *out_w = vips_image_get_width(fitted);
    *out_h = vips_image_get_height(fitted);
    rc = 0;
done:
    if (fitted) g_object_unref(fitted);
    if (u8) g_object_unref(u8);
    if (loaded) g_object_unref(loaded);
    return rc;
}

/// Decodes to interleaved 8-bit sRGB (3 bands), orientation applied. Caller frees with g_free.
/// Interleaved RGB pixels, upright sRGB. With min_side > 0 an image whose shorter side is
/// longer is scaled down until it is min_side (a JPEG shrinks while it decodes), for callers
/// that only ever read it at a smaller size; 0 keeps every pixel.
static inline int sl_vips_rgb8_scaled(const void *buf, size_t len, int min_side, unsigned char **pixels, int *w, int *h) {
    VipsImage *loaded = NULL, *u8 = NULL, *fitted = NULL;
    int rc = -1;
    int shrink = 1;
    const char *loader = min_side > 0 ? sl_vips_loader(buf, len) : NULL;
    if (loader && strcmp(loader, "jpegload_buffer") == 0) {
        int hw = 0, hh = 0, hb = 0, ho = 0, hi = 0, hf = 0;
        if (sl_vips_header(buf, len, &hw, &hh, &hb, &ho, &hi, &hf) == 0) {
            int side = hw < hh ? hw : hh;
            while (shrink < 8 && side / (shrink * 2) >= min_side) shrink *= 2;
        }
    }
    vips_error_clear();
    loaded = shrink > 1 ? vips_image_new_from_buffer(buf, len, "", "fail", TRUE, "shrink", shrink, NULL)
                        : vips_image_new_from_buffer(buf, len, "", "fail", TRUE, NULL);
    if (!loaded || sl_vips_upright_srgb8(loaded, &u8)) goto done;
    int uw = vips_image_get_width(u8), uh = vips_image_get_height(u8);
    int shorter = uw < uh ? uw : uh;
    if (min_side > 0 && shorter > min_side) {
        if (vips_resize(u8, &fitted, (double)min_side / (double)shorter, NULL)) goto done;
    } else { fitted = u8; g_object_ref(fitted); }
    size_t size = 0;
    *pixels = (unsigned char *)vips_image_write_to_memory(fitted, &size);
    if (!*pixels) goto done;
    *w = vips_image_get_width(fitted);
    *h = vips_image_get_height(fitted);
    rc = 0;
done:
    if (fitted) g_object_unref(fitted);
    if (u8) g_object_unref(u8);
    if (loaded) g_object_unref(loaded);
    return rc;
}

static inline int sl_vips_rgb8(const void *buf, size_t len, unsigned char **pixels, int *w, int *h) {
    return sl_vips_rgb8_scaled(buf, len, 0, pixels, w, h);
}

/// One axis of `sl_vips_resize_to`: resamples `in` to `length` pixels along it.
static inline int sl_vips_resample_axis(VipsImage *in, VipsImage **out, int horizontal, int length) {
    int from = horizontal ? vips_image_get_width(in) : vips_image_get_height(in);
    if (length == from) { *out = in; g_object_ref(in); return 0; }
    double scale = (double)length / from;
    if (length < from)   // a convolution whose support widens with the shrink (antialiased)
        return horizontal ? vips_reduceh(in, out, 1.0 / scale, "kernel", VIPS_KERNEL_CUBIC, NULL)
                          : vips_reducev(in, out, 1.0 / scale, "kernel", VIPS_KERNEL_CUBIC, NULL);
    // Enlarging: Catmull-Rom between the input's pixel centres, which sit at
    // (i + 0.5)·scale − 0.5 in the output; edges repeat the last pixel.
    VipsInterpolate *bicubic = vips_interpolate_new("bicubic");
    if (!bicubic) return -1;
    double shift = 0.5 - 0.5 / scale;
    VipsArrayInt *area = vips_array_int_newv(4, 0, 0, horizontal ? length : vips_image_get_width(in),
                                             horizontal ? vips_image_get_height(in) : length);
    int rc = vips_affine(in, out, horizontal ? scale : 1.0, 0.0, 0.0, horizontal ? 1.0 : scale,
                         "interpolate", bicubic, "extend", VIPS_EXTEND_COPY, "oarea", area,
                         horizontal ? "idx" : "idy", shift, NULL);
    vips_area_unref(VIPS_AREA(area));
    g_object_unref(bicubic);
    return rc;
}

/// Resizes to width x height, aspect not kept, as PIL's `Image.resize` (bicubic) does, the
/// resize Custom Vision's export samples run: each axis on its own, horizontal first,
/// pixel centres aligned. vips_resize aligns enlarged images differently, which put the
/// server up to 110 levels away from those clients on enlarged images.
static inline int sl_vips_resize_to(VipsImage *in, VipsImage **out, int width, int height) {
    VipsImage *across = NULL;
    if (sl_vips_resample_axis(in, &across, 1, width)) return -1;
    int rc = sl_vips_resample_axis(across, out, 0, height);
    g_object_unref(across);
    return rc;
}

/// Network input from 8-bit RGB pixels: crop (left, top, cw, ch), bicubic resize to
/// size x size, optional horizontal flip, then (x - 127) / 128 into out (HWC floats).
/// Writes `image` (size×size RGB after an exact-size fix) to `out` as (x−127)/128 floats.
static inline int sl_vips_write_input(VipsImage *image, int size, float *out) {
    VipsImage *exact = NULL;
    VipsImage *last = image;
    int rc = -1;
    // Rounding in the scale can leave one pixel more or less: fix the size exactly.
    if (vips_image_get_width(last) != size || vips_image_get_height(last) != size) {
        if (vips_gravity(last, &exact, VIPS_COMPASS_DIRECTION_CENTRE, size, size, "extend", VIPS_EXTEND_COPY, NULL)) goto done;
        last = exact;
    }
    size_t bytes = 0;
    unsigned char *px = (unsigned char *)vips_image_write_to_memory(last, &bytes);
    if (!px || bytes != (size_t)size * size * 3) { if (px) g_free(px); goto done; }
    for (size_t i = 0; i < bytes; i++) out[i] = ((float)px[i] - 127.0f) / 128.0f;
    g_free(px);
    rc = 0;
done:
    if (exact) g_object_unref(exact);
    return rc;
}

/// Crops, resizes (bicubic) to size×size, optionally mirrors, and normalises. When
/// `mirrored` is given it also receives the other orientation from the same resize (the
/// expensive step), as the identity view and its mirror need.
static inline int sl_vips_preprocess(const unsigned char *rgb, int w, int h, int left, int top, int cw, int ch,
                                     int size, int flip, float *out, float *mirrored) {
    VipsImage *in = NULL, *crop = NULL, *resized = NULL, *flipped = NULL;
    int rc = -1;
    in = vips_image_new_from_memory(rgb, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
    if (!in) goto done;
    if (vips_extract_area(in, &crop, left, top, cw, ch, NULL)) goto done;
    if (sl_vips_resize_to(crop, &resized, size, size)) goto done;
    // Materialise the resize once when both orientations read it.
    if (mirrored) {
        VipsImage *copy = vips_image_copy_memory(resized);
        if (!copy) goto done;
        g_object_unref(resized);
        resized = copy;
    }
    if (flip || mirrored) { if (vips_flip(resized, &flipped, VIPS_DIRECTION_HORIZONTAL, NULL)) goto done; }
    if (sl_vips_write_input(flip ? flipped : resized, size, out)) goto done;
    if (mirrored && sl_vips_write_input(flip ? resized : flipped, size, mirrored)) goto done;
    rc = 0;
done:
    if (flipped) g_object_unref(flipped);
    if (resized) g_object_unref(resized);
    if (crop) g_object_unref(crop);
    if (in) g_object_unref(in);
    return rc;
}

/// Lowers the calling thread's priority (Linux: nice applies per thread).
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
static inline int sl_lower_thread_priority(int nice_value) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice_value);
}

static inline const char *sl_vips_error(void) { return vips_error_buffer(); }
static inline void sl_vips_error_clear(void) { vips_error_clear(); }
static inline void sl_g_free(void *p) { g_free(p); }
#endif
