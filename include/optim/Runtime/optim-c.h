/*===- optim-c.h - C API of the optim-mlir runtime ----------------*- C -*-===*\
|*                                                                            *|
|* Compile an optimizer written in the optim dialect once, for the host CPU  *|
|* or an NVIDIA GPU, then run its step many times on the caller's buffers.   *|
|*                                                                            *|
|* Conventions (docs/C-API.md): functions returning int return 0 on success  *|
|* and an OPTIM_ERROR* code on failure; where they take `char **error`, a    *|
|* failure stores a message there (when `error` is not NULL) that the caller *|
|* releases with optimFreeError. Queries returning a count, rank or index    *|
|* return -1, those returning a pointer NULL, and those returning an enum    *|
|* its *_INVALID value for a bad handle or index. Every handle is checked    *|
|* against the live ones, every index against its range. One optimizer is   *|
|* not re-entrant: a call that runs or changes it while another does fails  *|
|* with OPTIM_ERROR_BUSY. No function aborts the process on bad input.      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef OPTIM_RUNTIME_OPTIM_C_H
#define OPTIM_RUNTIME_OPTIM_C_H

#include <stddef.h>
#include <stdint.h>

/* Marks the functions the library exports (docs/C-API.md). */
#if defined(_WIN32) || defined(__CYGWIN__)
#ifdef OptimRuntime_EXPORTS
#define OPTIM_C_EXPORT __declspec(dllexport)
#else
#define OPTIM_C_EXPORT __declspec(dllimport)
#endif
#else
#define OPTIM_C_EXPORT __attribute__((visibility("default")))
#endif

/* Error codes of the functions that return int (0: success). */
enum {
  /* The operation failed: a bad argument or value, or a failure of the
   * step, the compiler or the driver (see the message). */
  OPTIM_ERROR = 1,
  /* The optimizer, bound-step, communicator or sharded-optimizer handle is
   * NULL, destroyed, or was not created by this library. */
  OPTIM_ERROR_INVALID_HANDLE = 2,
  /* Another call is using the optimizer at the same time (one optimizer is
   * not re-entrant), or the communicator (calls that communicate run one
   * at a time in a process). */
  OPTIM_ERROR_BUSY = 3,
  /* A collective of a distributed call failed or did not complete within
   * the communicator's timeout (a rank died or stalled), now or in an
   * earlier call: the communicator is broken and every later call that
   * communicates fails with this code (docs/Distributed.md). */
  OPTIM_ERROR_DISTRIBUTED = 4
};

#ifdef __cplusplus
extern "C" {
#endif

/* An optimizer compiled for one target. Owned by the caller: release it
 * with optimDestroy. */
typedef struct OptimOptimizer OptimOptimizer;

/* Where a step runs. */
typedef enum OptimTarget {
  /* The host CPU: vectorised loops, OpenMP threads, on host buffers. */
  OPTIM_TARGET_CPU = 0,
  /* An NVIDIA GPU: CUDA kernels on device buffers, enqueued on a stream
   * (docs/GPU.md). The driver is loaded at run time. */
  OPTIM_TARGET_CUDA = 1,
  /* optimGetTarget of a handle that is not live. */
  OPTIM_TARGET_INVALID = -1,
  /* Makes every int a value of the type (no value a caller passes is
   * outside its range in C++). Not a target. */
  OPTIM_TARGET_MAX_ENUM = 0x7fffffff
} OptimTarget;

typedef enum OptimDType {
  OPTIM_F32 = 0,
  OPTIM_F64 = 1,
  OPTIM_F16 = 2,
  OPTIM_BF16 = 3,
  /* A query with a handle that is not live or an index out of range. */
  OPTIM_DTYPE_INVALID = -1,
  OPTIM_DTYPE_MAX_ENUM = 0x7fffffff /* as OPTIM_TARGET_MAX_ENUM */
} OptimDType;

/* Parses `source` (optim dialect text holding one `optim.optimizer`) and
 * compiles it. `options` is NULL or a pipeline option string such as
 * "num-threads=2 chunk-size=65536". Returns NULL on failure. Compiled code
 * is cached in the process by the source and options, and on disk (see
 * optimGetCacheStats). */
OPTIM_C_EXPORT OptimOptimizer *optimCompile(const char *source, size_t length,
                                            const char *options, char **error);
/* Compiles for `target`. OPTIM_TARGET_CPU is optimCompile. For
 * OPTIM_TARGET_CUDA, `options` holds `chip=sm_XX` (NULL, or no chip: the
 * chip of CUDA device 0, which needs the driver) and any other
 * `optim-lower-to-gpu` options, e.g. "chip=sm_90 chunk-size=8192";
 * compiling needs no driver (it is loaded by optimLoad or the first step).
 * Only dense parameters run on a GPU. */
OPTIM_C_EXPORT OptimOptimizer *
optimCompileForTarget(const char *source, size_t length, OptimTarget target,
                      const char *options, char **error);
OPTIM_C_EXPORT OptimTarget optimGetTarget(const OptimOptimizer *optimizer);
/* Releases `optimizer` (NULL: nothing, returns 0). A handle that is not
 * live (already destroyed, foreign) is refused with
 * OPTIM_ERROR_INVALID_HANDLE, one another call is using with
 * OPTIM_ERROR_BUSY. Bound steps of it must be destroyed first. */
OPTIM_C_EXPORT int optimDestroy(OptimOptimizer *optimizer);
OPTIM_C_EXPORT void optimFreeError(char *error);

/* The step's ABI. Parameters are in step order (`order_params`). These
 * queries return -1 (NULL for names, OPTIM_DTYPE_INVALID for dtypes) for a
 * handle that is not live or an index out of range. */
OPTIM_C_EXPORT int64_t optimNumParams(const OptimOptimizer *optimizer);
OPTIM_C_EXPORT const char *optimParamName(const OptimOptimizer *optimizer,
                                          int64_t param);
OPTIM_C_EXPORT int64_t optimParamRank(const OptimOptimizer *optimizer,
                                      int64_t param);
/* Writes optimParamRank() sizes to `shape`, which holds `capacity`
 * elements; a smaller capacity is an error (nothing written). */
OPTIM_C_EXPORT int optimParamShape(const OptimOptimizer *optimizer,
                                   int64_t param, int64_t *shape,
                                   int64_t capacity, char **error);
OPTIM_C_EXPORT int64_t optimParamNumElements(const OptimOptimizer *optimizer,
                                             int64_t param);
OPTIM_C_EXPORT OptimDType optimParamDType(const OptimOptimizer *optimizer,
                                          int64_t param);
OPTIM_C_EXPORT int64_t optimParamGroup(const OptimOptimizer *optimizer,
                                       int64_t param);
/* 1 if the parameter's gradient is sparse (rows, see OptimSparseGrad),
 * else 0. */
OPTIM_C_EXPORT int optimParamIsSparse(const OptimOptimizer *optimizer,
                                      int64_t param);
/* Every parameter has the same states, of the parameter's dtype and, for
 * most rules, of its shape; optimStateShape gives each one's (Adafactor's
 * factored row and column states are smaller). With mixed precision
 * (docs/Mixed-precision.md) a state's dtype may differ from the
 * parameter's (optimStateDType), and when some parameter has float32
 * master weights the last state is "master": the f32 master copy, of the
 * parameter's shape, or 0 elements (NULL allowed) for a parameter without
 * one. */
OPTIM_C_EXPORT int64_t optimNumStates(const OptimOptimizer *optimizer);
OPTIM_C_EXPORT const char *optimStateName(const OptimOptimizer *optimizer,
                                          int64_t state);
OPTIM_C_EXPORT OptimDType optimStateDType(const OptimOptimizer *optimizer,
                                          int64_t param, int64_t state);
OPTIM_C_EXPORT int64_t optimStateRank(const OptimOptimizer *optimizer,
                                      int64_t param, int64_t state);
/* Writes optimStateRank() sizes to `shape`, which holds `capacity`
 * elements; a smaller capacity is an error (nothing written). */
OPTIM_C_EXPORT int optimStateShape(const OptimOptimizer *optimizer,
                                   int64_t param, int64_t state, int64_t *shape,
                                   int64_t capacity, char **error);
OPTIM_C_EXPORT int64_t optimStateNumElements(const OptimOptimizer *optimizer,
                                             int64_t param, int64_t state);
/* Fills the states of every parameter with their initial values.
 * `states[param * optimNumStates() + state]` points to that buffer. On a
 * CUDA optimizer the buffers are device memory and the fills are enqueued
 * on the legacy default stream (optimInitStatesOnStream: on `stream`). */
OPTIM_C_EXPORT int optimInitStates(OptimOptimizer *optimizer,
                                   void *const *states, char **error);
OPTIM_C_EXPORT int optimInitStatesOnStream(OptimOptimizer *optimizer,
                                           void *const *states, void *stream,
                                           char **error);
/* optimInitStates, each master copy starting as its parameter's value
 * (`params[i]`: parameter i's data) converted to float32. optimInitStates
 * fails on an optimizer with master weights. CPU only. */
OPTIM_C_EXPORT int optimInitStatesFromParams(OptimOptimizer *optimizer,
                                             void *const *params,
                                             void *const *states, char **error);
OPTIM_C_EXPORT int64_t optimNumGroups(const OptimOptimizer *optimizer);

/* Hyper-parameters are runtime data: setting one never recompiles.
 * `name` is "learning_rate" (constant learning rates only),
 * "weight_decay", "loss_scale" (any group) or one of the rule's
 * hyper-parameters (e.g. "beta1"). On a loaded CUDA optimizer the table
 * lives in device memory and a new value is copied there at once, in order
 * on the stream of the latest step: later steps, replays of a captured
 * CUDA graph included, use it. `group` is checked against [0,
 * optimNumGroups()). A value is refused (nothing changes) when it is NaN,
 * outside the hyper-parameter's range (the rule's, docs/Rules.md, with
 * its lower end included: e.g. Adam's beta1 in [0, 1), eps >= 0;
 * loss_scale > 0, max_grad_norm > 0, ...), or,
 * where the step computes in float32 (any parameter of the group, or any
 * parameter for the global slots, not float64), not a float32 value: a
 * magnitude above FLT_MAX, or non-zero below FLT_MIN where 0 is not a
 * valid value (and for loss_scale, an inverse below FLT_MIN). Under the `constant-hyper-params` option the
 * values are compiled in: setting any other value than the compiled one
 * fails. */
OPTIM_C_EXPORT int optimSetHyperParam(OptimOptimizer *optimizer, int64_t group,
                                      const char *name, double value,
                                      char **error);
OPTIM_C_EXPORT int optimGetHyperParam(const OptimOptimizer *optimizer,
                                      int64_t group, const char *name,
                                      double *value, char **error);

/* The global step (0 before the first step). On a loaded CUDA optimizer it
 * lives in device memory and the step's last kernel increments it (a
 * replayed graph counts too); reading it waits for the stream of the latest
 * step. optimGlobalStep returns -1 where optimGetGlobalStep fails.
 * optimSetGlobalStep refuses a negative step; a step at the largest
 * int64_t (the counter would overflow) fails, nothing written. */
OPTIM_C_EXPORT int64_t optimGlobalStep(const OptimOptimizer *optimizer);
OPTIM_C_EXPORT int optimGetGlobalStep(OptimOptimizer *optimizer, int64_t *step,
                                      char **error);
OPTIM_C_EXPORT int optimSetGlobalStep(OptimOptimizer *optimizer, int64_t step,
                                      char **error);
/* What the last step found and did, for an optimizer that clips gradients
 * (`max_grad_norm`) or scales the loss dynamically
 * (`#optim.dynamic_loss_scale`). The step keeps it in its own memory (device
 * memory on a GPU); reading it on a loaded CUDA optimizer waits for the
 * stream of the latest step. */
typedef struct OptimStepStatus {
  double loss_scale;  /* the scale the next step unscales by */
  int64_t good_steps; /* clean steps since the scale last changed */
  int found_inf;      /* 1: the last step's gradients held an inf or a NaN;
                         with dynamic scaling it changed nothing and did not
                         count */
  double grad_norm;   /* global L2 norm of its unscaled gradients */
  double clip_factor; /* what clipping divided them by (>= 1) */
} OptimStepStatus;
/* 1 if the optimizer has a step status, else 0; -1 for a handle that is
 * not live. */
OPTIM_C_EXPORT int optimHasStepStatus(const OptimOptimizer *optimizer);
OPTIM_C_EXPORT int optimGetStepStatus(OptimOptimizer *optimizer,
                                      OptimStepStatus *status, char **error);
/* Restores a dynamic loss scale and its count of clean steps (e.g. from a
 * checkpoint); both are checked first, nothing changes on error. */
OPTIM_C_EXPORT int optimSetLossScaleState(OptimOptimizer *optimizer,
                                          double loss_scale, int64_t good_steps,
                                          char **error);
/* CUDA: loads the kernels, the device tables and the hyper-parameters on
 * device `device` now (else the first step or optimInitStates does, on
 * device 0). Fails on a CPU optimizer. */
OPTIM_C_EXPORT int optimLoad(OptimOptimizer *optimizer, int device,
                             char **error);
/* The learning rate each group uses at the next step (CPU only), written
 * to `rates`, which holds `capacity` elements (at least
 * optimNumGroups(); a smaller capacity is an error, nothing written). */
OPTIM_C_EXPORT int optimLearningRates(const OptimOptimizer *optimizer,
                                      double *rates, int64_t capacity,
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
 * nothing changed and the global step stays. The checks include: every
 * buffer the step writes (parameters, states) overlaps no other buffer of
 * the step (gradients may share memory with each other; O(n log n) in the
 * number of buffers); with `unique` off, a sparse gradient's indices are
 * distinct (O(count log count) per sparse gradient); the global step is
 * not negative and can be incremented. */
OPTIM_C_EXPORT int optimStep(OptimOptimizer *optimizer, void *const *params,
                             void *const *grads, void *const *states,
                             char **error);

/* optimStep on `stream`. CPU: `stream` must be NULL and the step runs
 * before the call returns. CUDA: `params`, `grads` and `states` hold device
 * pointers (16-byte aligned) and the step is enqueued on `stream` (a
 * CUstream; NULL: the legacy default stream) without waiting; its kernels
 * read the hyper-parameters and the global step from device memory. The
 * pointer tables are copied to the device only when a buffer moved since
 * the previous step, so a step captured into a CUDA graph must use the
 * buffers of the step before it (run one step before capturing; otherwise
 * this fails). Everything is checked before anything is enqueued; one step
 * at a time per optimizer (order consecutive steps, e.g. on one stream).
 * optimStep on a CUDA optimizer uses the legacy default stream. */
OPTIM_C_EXPORT int optimStepOnStream(OptimOptimizer *optimizer,
                                     void *const *params, void *const *grads,
                                     void *const *states, void *stream,
                                     char **error);

/* Bound steps: the step's pointer tables kept between calls, so that a
 * caller writes a pointer once and again only when its buffer moves; the
 * runtime's work per step and tensor is then a few pointer copies. State
 * buffers may live in one block the runtime owns (64-byte-aligned
 * buffers). */
typedef struct OptimBoundStep OptimBoundStep;

/* A bound step of `optimizer` (CPU only), every pointer NULL. `optimizer` stays
 * owned by the caller and must outlive the bound step; release the bound step
 * with optimBoundStepDestroy. Returns NULL on failure. */
OPTIM_C_EXPORT OptimBoundStep *optimBoundStepCreate(OptimOptimizer *optimizer,
                                                    char **error);
/* Releases `bound` (NULL: nothing, returns 0); a handle that is not live
 * is refused with OPTIM_ERROR_INVALID_HANDLE. */
OPTIM_C_EXPORT int optimBoundStepDestroy(OptimBoundStep *bound);
/* Allocates every state buffer in one block owned by the bound step (freed
 * by optimBoundStepDestroy), each starting on a 64-byte boundary, fills them
 * with their initial values and writes their pointers to the state table. */
OPTIM_C_EXPORT int optimBoundStepAllocateStates(OptimBoundStep *bound,
                                                char **error);
/* The pointer tables, owned by the bound step and valid until it is
 * destroyed: optimNumParams() parameter and gradient pointers, and
 * optimNumParams() * optimNumStates() state pointers (param-major, as in
 * optimStep). The caller writes into them. NULL for a handle that is not
 * live. */
OPTIM_C_EXPORT void **optimBoundStepParams(OptimBoundStep *bound);
OPTIM_C_EXPORT void **optimBoundStepGrads(OptimBoundStep *bound);
OPTIM_C_EXPORT void **optimBoundStepStates(OptimBoundStep *bound);
/* One step on the tables' buffers, as optimStep (checked before any
 * write; on failure nothing changed). */
OPTIM_C_EXPORT int optimBoundStepRun(OptimBoundStep *bound, char **error);
/* Runs only the compiled code again on the buffers of the previous
 * optimBoundStepRun, without checks or table writes, and increments the
 * global step: it measures the compiled call alone. Fails unless the
 * optimizer's last step was this bound step's. */
OPTIM_C_EXPORT int optimBoundStepRunCompiledOnly(OptimBoundStep *bound,
                                                 char **error);

/*===----------------------------------------------------------------------===*\
|* Threads and caches (docs/Threads-and-caches.md)                            *|
\*===----------------------------------------------------------------------===*/

/* The OpenMP threads a large step uses: 0 (the default) for the options'
 * `num-threads` if given, else every core the process may run on; never
 * more than those cores. Steps of fewer than 256Ki elements run on the
 * calling thread; workers never spin between steps. Fails (non-zero) for a
 * negative count. */
OPTIM_C_EXPORT int optimSetNumThreads(OptimOptimizer *optimizer, int numThreads,
                                      char **error);
/* The threads a large step uses now (the setting, resolved); 0 for a CUDA
 * optimizer, -1 for a handle that is not live. */
OPTIM_C_EXPORT int optimNumThreads(const OptimOptimizer *optimizer);

/* Where an optimizer's code came from. */
typedef enum OptimCodeOrigin {
  OPTIM_CODE_COMPILED = 0,     /* lowered and compiled by optimCompile */
  OPTIM_CODE_MEMORY_CACHE = 1, /* same source and options, this process */
  OPTIM_CODE_DISK_CACHE = 2,   /* loaded from the on-disk cache */
  OPTIM_CODE_INVALID = -1,     /* the handle is not live */
  OPTIM_CODE_MAX_ENUM = 0x7fffffff /* as OPTIM_TARGET_MAX_ENUM */
} OptimCodeOrigin;
OPTIM_C_EXPORT OptimCodeOrigin optimCodeOrigin(const OptimOptimizer *optimizer);

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
/* Writes the counters to `*stats` (owned by the caller; NULL: nothing). */
OPTIM_C_EXPORT void optimGetCacheStats(OptimCacheStats *stats);

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
OPTIM_C_EXPORT int optimCudaDriverAvailable(char **error);

/* On success (0), stores in `*description` a text owned by the caller
 * (release it with optimFreeError) naming the driver's path and version
 * and each device with its compute capability, one device a line. Fails
 * as optimCudaDriverAvailable. */
OPTIM_C_EXPORT int optimCudaDriverDescribe(char **description, char **error);

/*===----------------------------------------------------------------------===*\
|* Distributed steps over MPI (docs/Distributed.md)                           *|
\*===----------------------------------------------------------------------===*/

/* The ranks of MPI_COMM_WORLD (a duplicate of it). MPI is initialised on
 * first use (MPI_THREAD_SERIALIZED) and finalised at exit if this library
 * initialised it. Owned by the caller: release it with optimCommDestroy. */
typedef struct OptimCommunicator OptimCommunicator;

/* The job's communicator, with a deadline of `timeout` seconds (> 0,
 * finite) on every collective; the environment variable
 * OPTIM_DIST_TIMEOUT, when set, overrides it. Every call returns a new
 * handle to the process's one communicator (the timeout is then changed
 * for every handle). Returns NULL on failure. */
OPTIM_C_EXPORT OptimCommunicator *optimCommWorld(double timeout, char **error);
/* Releases `comm` (NULL: nothing, returns 0); a handle that is not live is
 * refused with OPTIM_ERROR_INVALID_HANDLE, and one released while another
 * call communicates with OPTIM_ERROR_BUSY. Sharded optimizers compiled on
 * it keep the communicator: they may outlive the handle. */
OPTIM_C_EXPORT int optimCommDestroy(OptimCommunicator *comm);
/* This process's rank and the number of ranks; -1 for a handle that is not
 * live. */
OPTIM_C_EXPORT int optimCommRank(const OptimCommunicator *comm);
OPTIM_C_EXPORT int optimCommSize(const OptimCommunicator *comm);
/* The deadline of later collectives in seconds; -1 for a handle that is
 * not live. */
OPTIM_C_EXPORT double optimCommGetTimeout(const OptimCommunicator *comm);
/* Changes the deadline of later collectives (> 0 seconds, finite; else
 * OPTIM_ERROR, nothing changed). */
OPTIM_C_EXPORT int optimCommSetTimeout(OptimCommunicator *comm, double seconds,
                                       char **error);
/* The first failure of the communicator ("" while it works), owned by the
 * library and valid until the next call that communicates; NULL for a
 * handle that is not live. */
OPTIM_C_EXPORT const char *optimCommFailure(const OptimCommunicator *comm);
/* Waits until every rank has called it. OPTIM_ERROR_DISTRIBUTED when it
 * fails or times out (the communicator is then broken). */
OPTIM_C_EXPORT int optimCommBarrier(OptimCommunicator *comm, char **error);

/* How a sharded step divides the update among the ranks. */
typedef enum OptimShardMode {
  /* The source's `sharding` attribute; OPTIM_SHARD_ZERO when it has none.
   * (optimShardedMode never returns it.) */
  OPTIM_SHARD_FROM_SOURCE = 0,
  /* MindSpore's broadcast_params: parameter i is updated by rank
   * i mod N, then broadcast rank by rank. */
  OPTIM_SHARD_BROADCAST_PARAMS = 1,
  /* ZeRO-1: each rank keeps the states of 1/N of the elements of every
   * class of parameters, a parameter possibly split between ranks (whole
   * where the rule needs the whole tensor), then the parameters are
   * allgathered. */
  OPTIM_SHARD_ZERO = 2,
  /* optimShardedMode of a handle that is not live. */
  OPTIM_SHARD_INVALID = -1,
  OPTIM_SHARD_MAX_ENUM = 0x7fffffff /* as OPTIM_TARGET_MAX_ENUM */
} OptimShardMode;

/* What a rank does with the gradients it is given. */
typedef enum OptimGradientReduction {
  /* None: they are the same on every rank already (e.g. after the data
   * parallel allreduce). */
  OPTIM_REDUCE_NONE = 0,
  /* Sum, or average, them over the ranks first: a reduce-scatter, each
   * rank summing in rank order the pieces it updates (deterministic).
   * Dense float32 and float64 parameters only. */
  OPTIM_REDUCE_SUM = 1,
  OPTIM_REDUCE_MEAN = 2,
  /* Never valid; with it the enum spans every int (a caller's -1 is a
   * value of the type, refused by optimShardedCompile). */
  OPTIM_REDUCE_INVALID = -1,
  OPTIM_REDUCE_MAX_ENUM = 0x7fffffff /* as OPTIM_TARGET_MAX_ENUM */
} OptimGradientReduction;

/* A step sharded over a communicator (CPU). Every rank compiles the same
 * source and passes every parameter and every gradient to each step; each
 * rank keeps the states of its own pieces only. Owned by the caller:
 * release it with optimShardedDestroy. */
typedef struct OptimShardedOptimizer OptimShardedOptimizer;

/* Compiles `source` (as optimCompile, with the pipeline `options`) for a
 * sharded step on `comm`'s ranks. A collective call: every rank passes the
 * same source, mode, reduction and options (else every rank fails), and
 * when one rank's compilation fails every rank's does, with the lowest
 * such rank's message ("compiling the sharded step failed on rank R, and
 * nothing changed: ..."); a collective that fails or times out breaks the
 * communicator (optimCommFailure). Refused (NULL): `max_grad_norm` and
 * dynamic loss scaling (their norm and finiteness check span every rank's
 * gradients), a reduction of sparse or half-precision gradients, a value
 * outside the enums, a NULL source. */
OPTIM_C_EXPORT OptimShardedOptimizer *
optimShardedCompile(const char *source, size_t length, OptimCommunicator *comm,
                    OptimShardMode mode, OptimGradientReduction reduction,
                    const char *options, char **error);
/* Releases `sharded` (NULL: nothing, returns 0); a handle that is not live
 * is refused with OPTIM_ERROR_INVALID_HANDLE, one another call is using
 * (or while another call communicates) with OPTIM_ERROR_BUSY. */
OPTIM_C_EXPORT int optimShardedDestroy(OptimShardedOptimizer *sharded);
OPTIM_C_EXPORT OptimShardMode
optimShardedMode(const OptimShardedOptimizer *sharded);

/* Every parameter, in step order, as the optimParam* queries of the
 * unsharded optimizer: -1 (NULL for names, OPTIM_DTYPE_INVALID for dtypes)
 * for a handle that is not live or an index out of range. */
OPTIM_C_EXPORT int64_t
optimShardedNumParams(const OptimShardedOptimizer *sharded);
OPTIM_C_EXPORT const char *
optimShardedParamName(const OptimShardedOptimizer *sharded, int64_t param);
OPTIM_C_EXPORT int64_t
optimShardedParamRank(const OptimShardedOptimizer *sharded, int64_t param);
/* Writes optimShardedParamRank() sizes to `shape`, which holds `capacity`
 * elements; a smaller capacity is an error (nothing written). */
OPTIM_C_EXPORT int optimShardedParamShape(const OptimShardedOptimizer *sharded,
                                          int64_t param, int64_t *shape,
                                          int64_t capacity, char **error);
OPTIM_C_EXPORT int64_t optimShardedParamNumElements(
    const OptimShardedOptimizer *sharded, int64_t param);
OPTIM_C_EXPORT OptimDType
optimShardedParamDType(const OptimShardedOptimizer *sharded, int64_t param);
OPTIM_C_EXPORT int64_t
optimShardedParamGroup(const OptimShardedOptimizer *sharded, int64_t param);
/* 1 if the parameter's gradient is sparse (an OptimSparseGrad), else 0. */
OPTIM_C_EXPORT int
optimShardedParamIsSparse(const OptimShardedOptimizer *sharded, int64_t param);
OPTIM_C_EXPORT int64_t
optimShardedNumStates(const OptimShardedOptimizer *sharded);
OPTIM_C_EXPORT const char *
optimShardedStateName(const OptimShardedOptimizer *sharded, int64_t state);
OPTIM_C_EXPORT int64_t
optimShardedNumGroups(const OptimShardedOptimizer *sharded);

/* A part of a parameter whose states a rank keeps and which it updates:
 * `count` elements from element `offset` of the flat parameter; `whole` is
 * 1 when it is the whole parameter. */
typedef struct OptimShardPiece {
  int64_t param;
  int64_t offset;
  int64_t count;
  int whole;
} OptimShardPiece;
/* The pieces of rank `rank` (every rank's plan is known on every rank);
 * -1 for a handle that is not live or a rank out of range. The pieces of
 * this rank are its local pieces, in the order of its local states. */
OPTIM_C_EXPORT int64_t
optimShardedNumPieces(const OptimShardedOptimizer *sharded, int64_t rank);
/* Writes optimShardedNumPieces() pieces to `pieces`, which holds
 * `capacity` of them; a smaller capacity is an error (nothing written). */
OPTIM_C_EXPORT int optimShardedPieces(const OptimShardedOptimizer *sharded,
                                      int64_t rank, OptimShardPiece *pieces,
                                      int64_t capacity, char **error);
/* This rank's pieces (optimShardedNumPieces and optimShardedPieces of its
 * rank). A rank may have none. */
OPTIM_C_EXPORT int64_t
optimShardedNumLocalPieces(const OptimShardedOptimizer *sharded);
OPTIM_C_EXPORT int optimShardedLocalPieces(const OptimShardedOptimizer *sharded,
                                           OptimShardPiece *pieces,
                                           int64_t capacity, char **error);
/* The local states: `localStates[piece * optimShardedNumStates() + state]`
 * is state `state` of local piece `piece`, of this many elements of this
 * dtype (a split piece's states are flat; a whole piece's have the
 * parameter's state shape, optimStateShape). -1 / OPTIM_DTYPE_INVALID for
 * a handle that is not live or an index out of range. */
OPTIM_C_EXPORT int64_t optimShardedLocalStateNumElements(
    const OptimShardedOptimizer *sharded, int64_t piece, int64_t state);
OPTIM_C_EXPORT OptimDType optimShardedLocalStateDType(
    const OptimShardedOptimizer *sharded, int64_t piece, int64_t state);
/* Fills the local states with their initial values (as optimInitStates);
 * `numLocalStates` must be optimShardedNumLocalPieces() *
 * optimShardedNumStates(). Does not communicate. */
OPTIM_C_EXPORT int optimShardedInitStates(OptimShardedOptimizer *sharded,
                                          void *const *localStates,
                                          size_t numLocalStates, char **error);

/* As optimSetHyperParam and optimGetHyperParam (same names, ranges and
 * checks, `group` in [0, optimShardedNumGroups())). Setting does not
 * communicate: every rank must set the same values before the next step. */
OPTIM_C_EXPORT int optimShardedSetHyperParam(OptimShardedOptimizer *sharded,
                                             int64_t group, const char *name,
                                             double value, char **error);
OPTIM_C_EXPORT int
optimShardedGetHyperParam(const OptimShardedOptimizer *sharded, int64_t group,
                          const char *name, double *value, char **error);
/* The global step (0 before the first step); as optimGetGlobalStep and
 * optimSetGlobalStep (a negative step is refused). optimShardedGlobalStep
 * returns -1 for a handle that is not live. */
OPTIM_C_EXPORT int64_t
optimShardedGlobalStep(const OptimShardedOptimizer *sharded);
OPTIM_C_EXPORT int optimShardedGetGlobalStep(OptimShardedOptimizer *sharded,
                                             int64_t *step, char **error);
OPTIM_C_EXPORT int optimShardedSetGlobalStep(OptimShardedOptimizer *sharded,
                                             int64_t step, char **error);
/* The OpenMP threads of this rank's local step, as optimSetNumThreads. */
OPTIM_C_EXPORT int optimShardedSetNumThreads(OptimShardedOptimizer *sharded,
                                             int numThreads, char **error);

/* Clipping and dynamic loss scaling of a sharded step, as
 * optimHasStepStatus, optimGetStepStatus and optimSetLossScaleState: the
 * status of the last step is the same on every rank (the norm spans every
 * rank's gradients), and every rank must restore the same scale. */
OPTIM_C_EXPORT int optimShardedHasStepStatus(const OptimShardedOptimizer *sharded);
OPTIM_C_EXPORT int optimShardedGetStepStatus(OptimShardedOptimizer *sharded,
                                             OptimStepStatus *status,
                                             char **error);
OPTIM_C_EXPORT int optimShardedSetLossScaleState(OptimShardedOptimizer *sharded,
                                                 double loss_scale,
                                                 int64_t good_steps,
                                                 char **error);

/* One sharded step; a collective call: every rank calls it with the same
 * optimizer. `params[i]` and `grads[i]` (`numParams` of each, every
 * parameter) as in optimStep, on every rank; `localStates` as in
 * optimShardedInitStates. Every rank checks its arguments (counts, null
 * buffers, the global step, and for its own pieces what optimStep checks)
 * and the ranks agree before any write: when one rank's are refused,
 * every rank returns OPTIM_ERROR with the lowest such rank's message ("the
 * step failed on rank R, and nothing changed: ...") and nothing
 * changed anywhere (a NULL array of the right count is refused so too, as
 * that many NULL buffers). Then
 * the gradients are reduced (if asked), each rank updates its pieces, and
 * the parameters are exchanged, so that every rank ends with every updated
 * parameter. A collective that fails or times out returns
 * OPTIM_ERROR_DISTRIBUTED: this rank's own pieces may have been updated,
 * nothing it would have received is written, and the communicator is
 * broken. */
OPTIM_C_EXPORT int optimShardedStep(OptimShardedOptimizer *sharded,
                                    void *const *params, void *const *grads,
                                    size_t numParams, void *const *localStates,
                                    size_t numLocalStates, char **error);

/* The communication of the last successful optimShardedStep on this rank. */
typedef struct OptimExchangeStats {
  int64_t bytes_sent;      /* payload bytes this rank sent (gradients and */
  int64_t bytes_received;  /* parameters; MPI's own copies not counted) */
  double reduce_seconds;   /* the agreement and the gradient reduction */
  double exchange_seconds; /* the parameter exchange */
} OptimExchangeStats;
OPTIM_C_EXPORT int
optimShardedGetLastStats(const OptimShardedOptimizer *sharded,
                         OptimExchangeStats *stats, char **error);

#ifdef __cplusplus
}
#endif

#endif /* OPTIM_RUNTIME_OPTIM_C_H */
