// Float16 <-> float32 for whole arrays with the F16C instructions: Swift's own Float16
// conversions call a software routine per element on x86-64.
#ifndef SIGHTLINE_HALF_FLOAT_H
#define SIGHTLINE_HALF_FLOAT_H
#include <stddef.h>
#include <stdint.h>

/// 1 when the CPU has F16C (the functions then use it; otherwise a portable loop).
int sl_half_has_f16c(void);
void sl_half_to_float(const uint16_t *src, float *dst, size_t n);
void sl_float_to_half(const float *src, uint16_t *dst, size_t n);
/// dst[i] = half(src[i]) * scale[i % channels]: loads a cached map and applies
/// per-channel dropout in one pass.
void sl_half_to_float_scaled(const uint16_t *src, float *dst, size_t n, const float *scale, size_t channels);
#endif
