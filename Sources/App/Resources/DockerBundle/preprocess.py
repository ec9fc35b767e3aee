"""Image preparation for a Sightline model, step for step as the server does it (libvips):

1. decode (first frame), apply the EXIF orientation, convert to 8-bit sRGB,
   flatten any alpha channel onto white;
2. take the whole image, as Custom Vision's exported models expect (`network_input`,
   `whole_input`); only a classifier trained before Sightline framed images so (its
   README or manifest.json says "centre-crop") wants `centre_crop_input`: the centre
   square whose side is 224/256 of the shorter side (side = floor(0.875 * min(w, h)),
   left = (w - side + 1) // 2, top likewise);
3. resize that to the model's input size as PIL's `Image.resize` (bicubic) does, which
   Custom Vision's own export samples use: each axis on its own, horizontal first, pixel
   centres aligned; a shrink is a cubic convolution widened by the factor (libvips'
   reduce), an enlargement Catmull-Rom between pixel centres (the input is square
   whatever the image's aspect: width and height scale apart);
4. hand the model RGB values 0-255 as float32 NCHW; the model normalises them itself.

With the same libvips the input is the server's to the bit.
"""
import numpy as np
import pyvips


class ImageError(ValueError):
    pass


def upright_rgb8(data):
    try:
        image = pyvips.Image.new_from_buffer(data, "", fail=True)
        image = image.autorot().colourspace("srgb")
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        return image.cast("uchar")
    except pyvips.Error as e:
        raise ImageError("The image cannot be decoded: %s" % str(e).strip().splitlines()[0]) from None


def _resample_axis(image, horizontal, length):
    current = image.width if horizontal else image.height
    if length == current:
        return image
    if length < current:
        return image.reduceh(current / length, kernel="cubic") if horizontal else image.reducev(current / length, kernel="cubic")
    scale = length / current
    shift = 0.5 - 0.5 / scale  # input pixel centres land at (i + 0.5) * scale - 0.5
    if horizontal:
        return image.affine([scale, 0, 0, 1], interpolate=pyvips.Interpolate.new("bicubic"), extend="copy",
                            oarea=[0, 0, length, image.height], idx=shift)
    return image.affine([1, 0, 0, scale], interpolate=pyvips.Interpolate.new("bicubic"), extend="copy",
                        oarea=[0, 0, image.width, length], idy=shift)


def resize_to(image, width, height):
    """The image resized to width x height as the server resizes it."""
    return _resample_axis(_resample_axis(image, True, width), False, height)


def _nchw(resized, size):
    if resized.width != size or resized.height != size:
        resized = resized.gravity("centre", size, size, extend="copy")
    pixels = np.frombuffer(resized.write_to_memory(), dtype=np.uint8).reshape(size, size, 3)
    return pixels.astype(np.float32).transpose(2, 0, 1)[np.newaxis].copy()


def whole_input(data, size):
    """Encoded image bytes -> float32 array [1, 3, size, size] of RGB values 0-255: the whole
    image resized to size x size without keeping its aspect."""
    image = upright_rgb8(data)
    return _nchw(resize_to(image, size, size), size)


def network_input(data, size, framing="whole"):
    """Encoded image bytes -> float32 array [1, 3, size, size] of RGB values 0-255, framed
    as the model was trained ("whole", or "centre-crop" for older classifiers)."""
    if framing == "centre-crop":
        return centre_crop_input(data, size)
    if framing != "whole":
        raise ValueError("unknown framing %r" % framing)
    return whole_input(data, size)


def centre_crop_input(data, size):
    """Encoded image bytes -> float32 array [1, 3, size, size] of RGB values 0-255: the
    centre square of side 224/256 of the shorter side, resized."""
    image = upright_rgb8(data)
    w, h = image.width, image.height
    short = min(w, h)
    side = max(1, min(int(224.0 / 256.0 * short), short))
    left, top = (w - side + 1) // 2, (h - side + 1) // 2
    square = image.extract_area(left, top, side, side)
    return _nchw(resize_to(square, size, size), size)
