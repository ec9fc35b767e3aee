#include "half_float.h"
#include <immintrin.h>
#include <string.h>

int sl_half_has_f16c(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
}

// IEEE binary16 by hand, for CPUs without F16C.
static float half_to_float_slow(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t float_to_half_slow(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift, rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13), rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

__attribute__((target("avx,f16c")))
static void to_float_f16c(const uint16_t *src, float *dst, size_t n, const float *scale, size_t channels) {
    size_t i = 0;
    if (!scale) {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    } else if (channels % 8 == 0) {
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i)));
            _mm256_storeu_ps(dst + i, _mm256_mul_ps(v, _mm256_loadu_ps(scale + i % channels)));
        }
    }
    for (; i < n; i++) {
        float v = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(src[i])));
        dst[i] = scale ? v * scale[i % channels] : v;
    }
}

__attribute__((target("avx,f16c")))
static void to_half_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = float_to_half_slow(src[i]);
}

void sl_half_to_float(const uint16_t *src, float *dst, size_t n) { sl_half_to_float_scaled(src, dst, n, NULL, 1); }

void sl_half_to_float_scaled(const uint16_t *src, float *dst, size_t n, const float *scale, size_t channels) {
    if (sl_half_has_f16c()) { to_float_f16c(src, dst, n, scale, channels); return; }
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float_slow(src[i]) * (scale ? scale[i % channels] : 1.0f);
}

void sl_float_to_half(const float *src, uint16_t *dst, size_t n) {
    if (sl_half_has_f16c()) { to_half_f16c(src, dst, n); return; }
    for (size_t i = 0; i < n; i++) dst[i] = float_to_half_slow(src[i]);
}
