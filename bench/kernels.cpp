//===- kernels.cpp - Baselines for the step benchmarks --------------------===//
//
// Hand-written CPU loops that bench/bench_step.py times against compiled
// steps, loaded with ctypes. Built with clang-22 -O3 -march=native
// -fno-math-errno -fopenmp against LLVM's libomp (the OpenMP runtime the
// JIT-compiled steps use, so both share one thread pool).
//
// Every kernel walks a list of fp32 tensors through a chunk table, as the
// compiled steps do: chunk c covers elements [start[c], start[c] + len[c])
// of tensor tensor[c] (the benchmark cuts tensors into chunks of 64 Ki
// elements, the compiler's default chunk size; a tensor's chunks are
// consecutive). Each parallel loop is `omp for schedule(static)` over the
// chunks, with `num_threads` threads, one parallel region per call.
//
// Floor kernels move exactly the bytes a step must move and do trivial
// arithmetic (`x += s * y` with a runtime `s`, 0 in the benchmark, so values
// stay put but nothing can be folded away); they are bandwidth-bound. Bytes
// per fp32 parameter (4 B per array read or written; a written array is
// always one that was just read, so no extra write-allocate traffic):
//
//   floor_adamw     read p, g, m, v; write p, m, v                  = 28 B
//   floor_momentum_gc
//     reduction pass (centralised tensors only): read g             =  4 B
//     update pass (all tensors): read p, g, v; write p, v           = 20 B
//     -> 24 B for a centralised parameter, 20 B for the others
//   floor_lamb
//     norm pass: read p, g, m, v                                    = 16 B
//     update pass: read p, g, m, v; write p, m, v                   = 28 B
//     -> 44 B (the per-tensor trust ratio needs |p| and the norm of
//        the update, which depends on the new m and v: the first pass
//        reads everything the update reads, the second recomputes it)
//
// The per-chunk partial sums and per-tensor totals are a few floats per
// 64 Ki elements (negligible).
//
// adamw_fused: MindSpore's AdamWeightDecay formula in one fused,
// vectorisable loop:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr (m / (sqrt(v) + eps) + wd p)
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstdint>

#define RESTRICT __restrict__

extern "C" {

/// Floor of fp32 AdamW: 28 B a parameter.
void floor_adamw(float *const *p, float *const *g, float *const *m,
                 float *const *v, const int64_t *tensor, const int64_t *start,
                 const int64_t *len, int64_t nchunks, float s,
                 int num_threads) {
#pragma omp parallel for num_threads(num_threads) schedule(static)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t t = tensor[c], off = start[c], n = len[c];
    float *RESTRICT pp = p[t] + off;
    const float *RESTRICT gg = g[t] + off;
    float *RESTRICT mm = m[t] + off;
    float *RESTRICT vv = v[t] + off;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float gi = gg[i], vi = vv[i];
      pp[i] += s * gi;
      mm[i] += s * vi;
      vv[i] = vi + s * gi;
    }
  }
}

/// Floor of Momentum with gradient centralisation: a reduction pass over
/// the decayed gradients `g + wd * p` of the tensors with `centralize[t] !=
/// 0` (MindSpore decays before it centralizes: 8 B a parameter), then one
/// update pass over all (20 B a parameter).
/// `partial` has `nchunks` entries, `total` one per tensor; `first[t]` is
/// tensor t's first chunk (`first[ntensors]` == nchunks).
void floor_momentum_gc(float *const *p, float *const *g, float *const *v,
                       const int64_t *tensor, const int64_t *start,
                       const int64_t *len, int64_t nchunks,
                       const int64_t *first, const int32_t *centralize,
                       int64_t ntensors, float *partial, float *total, float s,
                       int num_threads) {
#pragma omp parallel num_threads(num_threads)
  {
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t t = tensor[c];
      float sum = 0.0f;
      if (centralize[t]) {
        const float *RESTRICT gg = g[t] + start[c];
        const float *RESTRICT pp = p[t] + start[c];
        const int64_t n = len[c];
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < n; ++i)
          sum += gg[i] + s * pp[i];
      }
      partial[c] = sum;
    }
#pragma omp for schedule(static)
    for (int64_t t = 0; t < ntensors; ++t) {
      float sum = 0.0f;
      for (int64_t c = first[t]; c < first[t + 1]; ++c)
        sum += partial[c];
      total[t] = sum;
    }
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t t = tensor[c], off = start[c], n = len[c];
      const float shift = s * total[t];
      float *RESTRICT pp = p[t] + off;
      const float *RESTRICT gg = g[t] + off;
      float *RESTRICT vv = v[t] + off;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float vi = vv[i] + s * gg[i] + shift;
        vv[i] = vi;
        pp[i] += s * vi;
      }
    }
  }
}

/// Floor of Lamb: a norm pass reading p, g, m, v (16 B a parameter), then
/// the update pass reading p, g, m, v and writing p, m, v (28 B).
/// `partial` has 2 * nchunks entries, `total` 2 * ntensors.
void floor_lamb(float *const *p, float *const *g, float *const *m,
                float *const *v, const int64_t *tensor, const int64_t *start,
                const int64_t *len, int64_t nchunks, const int64_t *first,
                int64_t ntensors, float *partial, float *total, float s,
                int num_threads) {
#pragma omp parallel num_threads(num_threads)
  {
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t t = tensor[c], off = start[c], n = len[c];
      const float *RESTRICT pp = p[t] + off;
      const float *RESTRICT gg = g[t] + off;
      const float *RESTRICT mm = m[t] + off;
      const float *RESTRICT vv = v[t] + off;
      float sp = 0.0f, su = 0.0f;
#pragma omp simd reduction(+ : sp, su)
      for (int64_t i = 0; i < n; ++i) {
        sp += pp[i] * pp[i];
        su += (mm[i] + s * gg[i]) * vv[i];
      }
      partial[2 * c] = sp;
      partial[2 * c + 1] = su;
    }
#pragma omp for schedule(static)
    for (int64_t t = 0; t < ntensors; ++t) {
      float sp = 0.0f, su = 0.0f;
      for (int64_t c = first[t]; c < first[t + 1]; ++c) {
        sp += partial[2 * c];
        su += partial[2 * c + 1];
      }
      total[2 * t] = sp;
      total[2 * t + 1] = su;
    }
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t t = tensor[c], off = start[c], n = len[c];
      const float ratio = s * (total[2 * t] + total[2 * t + 1]);
      float *RESTRICT pp = p[t] + off;
      const float *RESTRICT gg = g[t] + off;
      float *RESTRICT mm = m[t] + off;
      float *RESTRICT vv = v[t] + off;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float gi = gg[i], vi = vv[i];
        pp[i] += ratio * gi;
        mm[i] += s * vi;
        vv[i] = vi + s * gi;
      }
    }
  }
}

/// Hand-written fused AdamWeightDecay (MindSpore's formula), one pass.
void adamw_fused(float *const *p, float *const *g, float *const *m,
                 float *const *v, const int64_t *tensor, const int64_t *start,
                 const int64_t *len, int64_t nchunks, float lr, float beta1,
                 float beta2, float eps, float weight_decay, int num_threads) {
  const float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
#pragma omp parallel for num_threads(num_threads) schedule(static)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t t = tensor[c], off = start[c], n = len[c];
    float *RESTRICT pp = p[t] + off;
    const float *RESTRICT gg = g[t] + off;
    float *RESTRICT mm = m[t] + off;
    float *RESTRICT vv = v[t] + off;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float gi = gg[i];
      const float mi = beta1 * mm[i] + c1 * gi;
      const float vi = beta2 * vv[i] + c2 * gi * gi;
      mm[i] = mi;
      vv[i] = vi;
      pp[i] -= lr * (mi / (std::sqrt(vi) + eps) + weight_decay * pp[i]);
    }
  }
}

/// The OpenMP runtime's blocktime setting, for the benchmark's header.
int kmp_get_blocktime(void);
int bench_omp_blocktime(void) { return kmp_get_blocktime(); }

} // extern "C"
