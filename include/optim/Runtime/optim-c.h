/*===- optim-c.h - C API of the optim-mlir runtime ----------------*- C -*-===*\
|*                                                                            *|
|* Compile an optimizer written in the optim dialect for the host CPU once,  *|
|* then run its step many times on the caller's buffers.                     *|
|*                                                                            *|
|* Conventions: functions returning int return 0 on success and a non-zero   *|
|* code on failure; where they take `char **error`, a failure stores a       *|
|* message there (when `error` is not NULL) that the caller releases with    *|
|* optimFreeError. No function aborts the process on bad input.              *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef OPTIM_RUNTIME_OPTIM_C_H
#define OPTIM_RUNTIME_OPTIM_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An optimizer compiled for one target. Owned by the caller: release it
 * with optimDestroy. */
typedef struct OptimOptimizer OptimOptimizer;

typedef enum OptimDType {
  OPTIM_F32 = 0,
  OPTIM_F64 = 1,
  OPTIM_F16 = 2,
  OPTIM_BF16 = 3,
} OptimDType;

/* Parses `source` (optim dialect text holding one `optim.optimizer`) and
 * compiles it. `options` is NULL or a pipeline option string such as
 * "num-threads=2 chunk-size=65536". Returns NULL on failure. Compiled code
 * is cached in the process by the source and options, and on disk (see
 * optimGetCacheStats). */
OptimOptimizer *optimCompile(const char *source, size_t length,
                             const char *options, char **error);
void optimDestroy(OptimOptimizer *optimizer);
void optimFreeError(char *error);

/* The step's ABI. Parameters are in step order (`order_params`). */
int64_t optimNumParams(const OptimOptimizer *optimizer);
const char *optimParamName(const OptimOptimizer *optimizer, int64_t param);
int64_t optimParamRank(const OptimOptimizer *optimizer, int64_t param);
/* Writes optimParamRank() sizes to `shape`. */
void optimParamShape(const OptimOptimizer *optimizer, int64_t param,
                     int64_t *shape);
int64_t optimParamNumElements(const OptimOptimizer *optimizer, int64_t param);
OptimDType optimParamDType(const OptimOptimizer *optimizer, int64_t param);
int64_t optimParamGroup(const OptimOptimizer *optimizer, int64_t param);
/* 1 if the parameter's gradient is sparse (rows, see OptimSparseGrad),
 * else 0. */
int optimParamIsSparse(const OptimOptimizer *optimizer, int64_t param);
/* Every parameter has the same states, each of the parameter's shape and
 * dtype. */
int64_t optimNumStates(const OptimOptimizer *optimizer);
const char *optimStateName(const OptimOptimizer *optimizer, int64_t state);
/* Fills the states of every parameter with their initial values.
 * `states[param * optimNumStates() + state]` points to that buffer. */
int optimInitStates(OptimOptimizer *optimizer, void *const *states,
                    char **error);
int64_t optimNumGroups(const OptimOptimizer *optimizer);

/* Hyper-parameters are runtime data: setting one never recompiles.
 * `name` is "learning_rate" (constant learning rates only),
 * "weight_decay", "loss_scale" (any group) or one of the rule's
 * hyper-parameters (e.g. "beta1"). */
int optimSetHyperParam(OptimOptimizer *optimizer, int64_t group,
                       const char *name, double value, char **error);
int optimGetHyperParam(const OptimOptimizer *optimizer, int64_t group,
                       const char *name, double *value, char **error);

/* The global step (0 before the first step). */
int64_t optimGlobalStep(const OptimOptimizer *optimizer);
void optimSetGlobalStep(OptimOptimizer *optimizer, int64_t step);
/* The learning rate each group uses at the next step. */
int optimLearningRates(const OptimOptimizer *optimizer, float *rates,
                       char **error);

/* The gradient of a sparse parameter of shape (R, d1, ...): `count` rows;
 * row k, at `rows + k * (d1 * ...)` elements of the parameter's dtype
 * (contiguous, row-major), is the gradient of parameter row `indices[k]`.
 * Every index must lie in [0, R). Duplicate indices are summed when the
 * optimizer merges them (`unique`, the default). `count` may be 0 (then
 * `indices` and `rows` may be NULL). The struct and both buffers stay owned
 * by the caller; they are read only during optimStep, which keeps no
 * pointer to them. */
typedef struct OptimSparseGrad {
  const int32_t *indices;
  const void *rows;
  int64_t count;
} OptimSparseGrad;

/* One step: updates every parameter and state in place, then increments
 * the global step. `params[i]` points to parameter i's data (contiguous,
 * row-major); `grads[i]` to its gradient of the same shape if the
 * parameter is dense, or to an OptimSparseGrad if it is sparse
 * (optimParamIsSparse); states as in optimInitStates. Everything, sparse
 * indices included, is checked before any buffer changes: on failure
 * nothing changed and the global step stays. */
int optimStep(OptimOptimizer *optimizer, void *const *params,
              void *const *grads, void *const *states, char **error);

/* Bound steps: the step's pointer tables kept between calls, so that a
 * caller writes a pointer once and again only when its buffer moves; the
 * runtime's work per step and tensor is then a few pointer copies. State
 * buffers may live in one block the runtime owns (64-byte-aligned
 * buffers). */
typedef struct OptimBoundStep OptimBoundStep;

/* A bound step of `optimizer`, every pointer NULL. `optimizer` stays owned by
 * the caller and must outlive the bound step; release the bound step with
 * optimBoundStepDestroy. Returns NULL on failure. */
OptimBoundStep *optimBoundStepCreate(OptimOptimizer *optimizer, char **error);
void optimBoundStepDestroy(OptimBoundStep *bound);
/* Allocates every state buffer in one block owned by the bound step (freed
 * by optimBoundStepDestroy), each starting on a 64-byte boundary, fills them
 * with their initial values and writes their pointers to the state table. */
int optimBoundStepAllocateStates(OptimBoundStep *bound, char **error);
/* The pointer tables, owned by the bound step and valid until it is
 * destroyed: optimNumParams() parameter and gradient pointers, and
 * optimNumParams() * optimNumStates() state pointers (param-major, as in
 * optimStep). The caller writes into them. */
void **optimBoundStepParams(OptimBoundStep *bound);
void **optimBoundStepGrads(OptimBoundStep *bound);
void **optimBoundStepStates(OptimBoundStep *bound);
/* One step on the tables' buffers, as optimStep (checked before any
 * write; on failure nothing changed). */
int optimBoundStepRun(OptimBoundStep *bound, char **error);
/* Runs only the compiled code again on the buffers of the previous
 * optimBoundStepRun, without checks or table writes, and increments the
 * global step: it measures the compiled call alone. Fails unless the
 * optimizer's last step was this bound step's. */
int optimBoundStepRunCompiledOnly(OptimBoundStep *bound, char **error);

/*===----------------------------------------------------------------------===*\
|* Threads and caches (docs/Threads-and-caches.md)                            *|
\*===----------------------------------------------------------------------===*/

/* The OpenMP threads a large step uses: 0 (the default) for the options'
 * `num-threads` if given, else every core the process may run on; never
 * more than those cores. Steps of fewer than 256Ki elements run on the
 * calling thread; workers never spin between steps. Fails (non-zero) for a
 * negative count. */
int optimSetNumThreads(OptimOptimizer *optimizer, int numThreads,
                       char **error);
/* The threads a large step uses now (the setting, resolved). */
int optimNumThreads(const OptimOptimizer *optimizer);

/* Where an optimizer's code came from. */
typedef enum OptimCodeOrigin {
  OPTIM_CODE_COMPILED = 0,     /* lowered and compiled by optimCompile */
  OPTIM_CODE_MEMORY_CACHE = 1, /* same source and options, this process */
  OPTIM_CODE_DISK_CACHE = 2,   /* loaded from the on-disk cache */
} OptimCodeOrigin;
OptimCodeOrigin optimCodeOrigin(const OptimOptimizer *optimizer);

/* Counters of the process's compiled-code caches since it started. The
 * disk cache lives in $OPTIM_MLIR_CACHE_DIR, else
 * $XDG_CACHE_HOME/optim-mlir, else ~/.cache/optim-mlir;
 * OPTIM_MLIR_DISABLE_DISK_CACHE=1 turns it off. */
typedef struct OptimCacheStats {
  int64_t compilations; /* lowerings and code generations (misses) */
  int64_t memoryHits;
  int64_t diskHits;
  int64_t diskRejects; /* damaged disk entries, ignored and recompiled */
  int64_t diskWrites;
} OptimCacheStats;
/* Writes the counters to `*stats` (owned by the caller). */
void optimGetCacheStats(OptimCacheStats *stats);

/*===----------------------------------------------------------------------===*\
|* CUDA driver (docs/GPU.md)                                                  *|
\*===----------------------------------------------------------------------===*/

/* Whether GPU steps can run in this process: returns 0 when the CUDA driver
 * ($OPTIM_CUDA_DRIVER if set, else libcuda.so.1) loads, has every entry
 * point the runtime calls, initialises and reports at least one device.
 * Otherwise returns non-zero and stores the reason in `*error` (when `error`
 * is not NULL), e.g. "cannot load the CUDA driver (libcuda.so.1): ..." or
 * "cuInit failed: CUDA_ERROR_NO_DEVICE (...)". The driver is loaded once;
 * later calls give the same answer. */
int optimCudaDriverAvailable(char **error);

/* On success (0), stores in `*description` a text owned by the caller
 * (release it with optimFreeError) naming the driver's path and version
 * and each device with its compute capability, one device a line. Fails
 * as optimCudaDriverAvailable. */
int optimCudaDriverDescribe(char **description, char **error);

/*===----------------------------------------------------------------------===*\
|* GPU step (GPUOptimizer.h, docs/GPU.md)                                     *|
\*===----------------------------------------------------------------------===*/

/* An optimizer whose step runs as CUDA kernels on device buffers. Owned by
 * the caller: release it with optimGPUDestroy. */
typedef struct OptimGPUOptimizer OptimGPUOptimizer;

/* Parses `source` (one `optim.optimizer`, dense parameters only) and
 * compiles its kernels to PTX for `chip` (e.g. "sm_90"; NULL or "": the
 * chip of CUDA device 0, which needs the driver). `options` is NULL or more
 * `optim-lower-to-gpu` options, e.g. "chunk-size=8192". Compiling needs no
 * driver; it is loaded at the first step. Returns NULL on failure. */
OptimGPUOptimizer *optimGPUCompile(const char *source, size_t length,
                                   const char *chip, const char *options,
                                   char **error);
void optimGPUDestroy(OptimGPUOptimizer *optimizer);

/* The step's ABI, as optimNumParams and optimNumStates. */
int64_t optimGPUNumParams(const OptimGPUOptimizer *optimizer);
int64_t optimGPUNumStates(const OptimGPUOptimizer *optimizer);

/* Hyper-parameters, as optimSetHyperParam / optimGetHyperParam; a new
 * value reaches the device at the next step. */
int optimGPUSetHyperParam(OptimGPUOptimizer *optimizer, int64_t group,
                          const char *name, double value, char **error);
int optimGPUGetHyperParam(const OptimGPUOptimizer *optimizer, int64_t group,
                          const char *name, double *value, char **error);

/* The global step (0 before the first step), kept on the host. */
int64_t optimGPUGlobalStep(const OptimGPUOptimizer *optimizer);
void optimGPUSetGlobalStep(OptimGPUOptimizer *optimizer, int64_t step);

/* Loads the kernels on CUDA device `device` now rather than at the first
 * step (which uses device 0). */
int optimGPULoad(OptimGPUOptimizer *optimizer, int device, char **error);

/* Enqueues one step on `stream` (a CUstream; NULL: the legacy default
 * stream) and increments the global step. `params`, `grads` and `states`
 * (param-major, as in optimStep) hold device pointers, each 16-byte
 * aligned. Everything is checked before anything is copied or launched: on
 * failure nothing was enqueued and the global step stays. Nothing is
 * synchronized; one step at a time per optimizer (issue consecutive steps
 * on one stream). */
int optimGPUStep(OptimGPUOptimizer *optimizer, void *const *params,
                 void *const *grads, void *const *states, void *stream,
                 char **error);

#ifdef __cplusplus
}
#endif

#endif /* OPTIM_RUNTIME_OPTIM_C_H */
