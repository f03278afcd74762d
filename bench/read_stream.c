/* One read stream, as the squared-norm phase of clipping reads a gradient:
 * the float64 sum of squares of 8 Mi float32 (32 MB), with a software
 * prefetch 0, 256, 1024, 2048 or 4096 floats ahead of each 32-float
 * iteration; fastest of 30 rounds each, the distances interleaved.
 *
 *   clang-22 -O3 -march=native bench/read_stream.c -o read_stream
 *   ./read_stream
 *
 * Needs AVX-512 (the hosts of bench/RESULTS.md). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
__attribute__((noinline)) double sumsq(const float *x, long n, int pf) {
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  for (long i = 0; i < n; i += 32) {
    if (pf) {
      _mm_prefetch((const char *)(x + i + pf), _MM_HINT_T0);
      _mm_prefetch((const char *)(x + i + pf + 16), _MM_HINT_T0);
    }
    __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
    __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v0)),
            d1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v0, 1));
    __m512d d2 = _mm512_cvtps_pd(_mm512_castps512_ps256(v1)),
            d3 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v1, 1));
    a0 = _mm512_fmadd_pd(d0, d0, a0);
    a1 = _mm512_fmadd_pd(d1, d1, a1);
    a2 = _mm512_fmadd_pd(d2, d2, a2);
    a3 = _mm512_fmadd_pd(d3, d3, a3);
  }
  return _mm512_reduce_add_pd(
      _mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
}
int main(void) {
  long n = 8l << 20;
  float *x = aligned_alloc(64, n * 4);
  for (long i = 0; i < n; i++)
    x[i] = i % 7;
  int pfs[] = {0, 256, 1024, 2048, 4096};
  double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
  double s = 0;
  for (int r = 0; r < 30; r++)
    for (int k = 0; k < 5; k++) {
      double t = now();
      s += sumsq(x, n, pfs[k]);
      t = now() - t;
      if (t < best[k])
        best[k] = t;
    }
  for (int k = 0; k < 5; k++)
    printf("pf=%d: %.3f ms %.1f GB/s\n", pfs[k], best[k] * 1e3,
           n * 4 / best[k] / 1e9);
  printf("%g\n", s);
}
