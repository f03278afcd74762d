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
 * is cached in the process by a hash of the source and options. */
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

#ifdef __cplusplus
}
#endif

#endif /* OPTIM_RUNTIME_OPTIM_C_H */
