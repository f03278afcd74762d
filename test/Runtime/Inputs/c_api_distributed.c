/* Sharded steps through the C API, under mpirun: each rank runs the same
 * optimizer sharded (broadcast_params and ZeRO, with and without a
 * reduction of the gradients over the ranks) and unsharded (optimStep) on
 * identical data, and checks that the parameters stay bit-identical; then
 * the refusals: bad handles, indices, capacities, counts (refused on every
 * rank when one rank's arguments are wrong) and what a sharded step does
 * not support. Each rank writes its lines to `<prefix>.<rank>`.
 *
 * With the argument `timeout`, rank 0 waits at a barrier for 0.5 s while
 * rank 1 comes after 3 s: rank 0's barrier fails with
 * OPTIM_ERROR_DISTRIBUTED and its communicator stays broken. */
#define _POSIX_C_SOURCE 200809L
#include "optim/Runtime/optim-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Two groups of float32 parameters: in ZeRO mode on 2 or 3 ranks, "w" and
 * "u" are split between ranks. */
#define GROUPS                                                                 \
  "  optim.group {\n"                                                          \
  "    optim.param \"w\" : tensor<6x8xf32>\n"                                  \
  "    optim.param \"b\" : tensor<40xf32>\n"                                   \
  "    optim.param \"v\" : tensor<7xf32>\n"                                    \
  "  }\n"                                                                      \
  "  optim.group weight_decay 0.0 {\n"                                         \
  "    optim.param \"u\" : tensor<33xf32>\n"                                   \
  "  }\n"                                                                      \
  "}\n"
static const char kSource[] =
    "optim.optimizer @d rule #optim.rule<adam> learning_rate 0.01 "
    "weight_decay 0.01 sharding <broadcast_params> {\n" GROUPS;

/* kSource with dynamic loss scaling and clipping that does not act (a
 * norm far below 1e6): bit-identical to optimStep, skipped steps included. */
static const char kControlled[] =
    "optim.optimizer @d rule #optim.rule<adam> learning_rate 0.01 "
    "weight_decay 0.01 loss_scale 1024.0 dynamic<growth_factor = 2.0, "
    "backoff_factor = 0.5, growth_interval = 2, min_scale = 1.0> "
    "max_grad_norm 1.0e+06 {\n" GROUPS;

/* Clipping a sparse gradient: refused. */
static const char kClipped[] =
    "optim.optimizer @c rule #optim.rule<lazy_adam> learning_rate 0.1 "
    "max_grad_norm 1.0 {\n"
    "  optim.param \"e\" : tensor<4x2xf32> sparse\n"
    "}\n";

#define NUM_PARAMS 4
#define MAX_PIECES 8
#define MAX_STATES 4
static const int64_t kSizes[NUM_PARAMS] = {48, 40, 7, 33};

static FILE *out;
static int rank, size;

static void fail(const char *what, char *error) {
  fprintf(out, "FAILED %s: %s\n", what, error ? error : "(no message)");
  fclose(out);
  exit(1);
}

/* Prints the status and message of a call, then frees the message. */
static void show(const char *what, int status, char *error) {
  fprintf(out, "%s: %d %s\n", what, status, error ? error : "(no message)");
  optimFreeError(error);
}

#define CALL(what, expr)                                                       \
  do {                                                                         \
    char *error = NULL;                                                        \
    int status = (expr);                                                       \
    show(what, status, error);                                                 \
  } while (0)

/* Gradient element `i` of parameter `k` at step `t` on rank `r`: small
 * dyadic values, exact in float32. */
static float gradient(int k, int64_t i, int t, int r) {
  return (float)((i * 13 + t * 7 + r * 5 + k * 3) % 97 - 48) / 64.0f;
}

static float *params[NUM_PARAMS], *grads[NUM_PARAMS];
static float *refParams[NUM_PARAMS], *refGrads[NUM_PARAMS];

static void fillParams(void) {
  for (int k = 0; k < NUM_PARAMS; ++k)
    for (int64_t i = 0; i < kSizes[k]; ++i)
      params[k][i] = refParams[k][i] =
          (float)((i * 37 + k * 11) % 101 - 50) / 50.0f;
}

/* This rank's gradients for the sharded step and the reference's: the same
 * on every rank without a reduction; with one, each rank's own, and the
 * reference gets their sum (in rank order, as the reduction) or mean. */
static void fillGrads(int t, OptimGradientReduction reduction) {
  for (int k = 0; k < NUM_PARAMS; ++k)
    for (int64_t i = 0; i < kSizes[k]; ++i) {
      if (reduction == OPTIM_REDUCE_NONE) {
        grads[k][i] = refGrads[k][i] = gradient(k, i, t, 0);
        continue;
      }
      grads[k][i] = gradient(k, i, t, rank);
      float sum = gradient(k, i, t, 0);
      for (int r = 1; r < size; ++r)
        sum += gradient(k, i, t, r);
      if (reduction == OPTIM_REDUCE_MEAN)
        sum /= (float)size;
      refGrads[k][i] = sum;
    }
}

static const char *modeName(OptimShardMode mode) {
  return mode == OPTIM_SHARD_ZERO               ? "zero"
         : mode == OPTIM_SHARD_BROADCAST_PARAMS ? "broadcast_params"
                                                : "?";
}

/* Prints this rank's pieces as name[offset:end] (whole pieces by name). */
static void showPieces(OptimShardedOptimizer *s) {
  OptimShardPiece pieces[MAX_PIECES];
  char *error = NULL;
  if (optimShardedLocalPieces(s, pieces, MAX_PIECES, &error))
    fail("pieces", error);
  int64_t n = optimShardedNumLocalPieces(s);
  fprintf(out, "  pieces:");
  for (int64_t p = 0; p < n; ++p) {
    const char *name = optimShardedParamName(s, pieces[p].param);
    if (pieces[p].whole)
      fprintf(out, " %s", name);
    else
      fprintf(out, " %s[%lld:%lld]", name, (long long)pieces[p].offset,
              (long long)(pieces[p].offset + pieces[p].count));
  }
  fprintf(out, "%s\n", n == 0 ? " none" : "");
}

/* Runs 5 steps sharded and unsharded, changing a learning rate after the
 * second; prints whether every parameter is bit-identical. With
 * `controlled` (kControlled), the last rank's gradient holds an inf at step
 * 2 and the step statuses are compared too. */
static void compareSource(OptimCommunicator *comm, const char *source,
                          OptimShardMode mode,
                          OptimGradientReduction reduction, int controlled) {
  static const char *reductions[] = {"none", "sum", "mean"};
  char *error = NULL;
  OptimShardedOptimizer *s = optimShardedCompile(source, strlen(source), comm,
                                                 mode, reduction, NULL, &error);
  if (!s)
    fail("sharded compile", error);
  OptimOptimizer *o = optimCompile(source, strlen(source), NULL, &error);
  if (!o)
    fail("compile", error);
  fprintf(out, "%s, gradients %s:\n", modeName(optimShardedMode(s)),
          reductions[reduction]);
  showPieces(s);

  /* Local states, and the reference's. */
  int64_t numStates = optimShardedNumStates(s);
  int64_t numLocal = optimShardedNumLocalPieces(s) * numStates;
  void *localStates[MAX_PIECES * MAX_STATES];
  for (int64_t j = 0; j < numLocal; ++j) {
    int64_t n =
        optimShardedLocalStateNumElements(s, j / numStates, j % numStates);
    if (n < 0 || optimShardedLocalStateDType(s, j / numStates, j % numStates) !=
                     OPTIM_F32)
      fail("local state", NULL);
    localStates[j] = malloc((size_t)(n ? n : 1) * sizeof(float));
  }
  void *refStates[NUM_PARAMS * MAX_STATES];
  for (int64_t j = 0; j < NUM_PARAMS * numStates; ++j)
    refStates[j] =
        malloc((size_t)optimStateNumElements(o, j / numStates, j % numStates) *
               sizeof(float));
  if (optimShardedInitStates(s, localStates, (size_t)numLocal, &error))
    fail("init local states", error);
  if (optimInitStates(o, refStates, &error))
    fail("init states", error);

  fillParams();
  void *p[NUM_PARAMS], *g[NUM_PARAMS], *rp[NUM_PARAMS], *rg[NUM_PARAMS];
  for (int k = 0; k < NUM_PARAMS; ++k) {
    p[k] = params[k];
    g[k] = grads[k];
    rp[k] = refParams[k];
    rg[k] = refGrads[k];
  }
  int identical = 1, sameStatus = 1;
  char found[8] = "";
  for (int t = 0; t < 5; ++t) {
    if (t == 2) {
      if (optimShardedSetHyperParam(s, 1, "learning_rate", 0.005, &error))
        fail("set learning rate", error);
      if (optimSetHyperParam(o, 1, "learning_rate", 0.005, &error))
        fail("set reference learning rate", error);
    }
    fillGrads(t, reduction);
    if (controlled && t == 2) {
      if (reduction == OPTIM_REDUCE_NONE || rank == size - 1)
        grads[1][3] = INFINITY;
      refGrads[1][3] = INFINITY;
    }
    if (optimShardedStep(s, p, g, NUM_PARAMS, localStates, (size_t)numLocal,
                         &error))
      fail("sharded step", error);
    if (optimStep(o, rp, rg, refStates, &error))
      fail("step", error);
    if (controlled) {
      OptimStepStatus a, b;
      if (optimShardedGetStepStatus(s, &a, &error))
        fail("sharded status", error);
      if (optimGetStepStatus(o, &b, &error))
        fail("status", error);
      sameStatus &= a.loss_scale == b.loss_scale &&
                    a.good_steps == b.good_steps &&
                    a.found_inf == b.found_inf &&
                    (a.grad_norm == b.grad_norm ||
                     fabs(a.grad_norm - b.grad_norm) <= 1e-12 * b.grad_norm) &&
                    a.clip_factor == b.clip_factor;
      found[t] = a.found_inf ? 'I' : '.';
    }
    for (int k = 0; k < NUM_PARAMS; ++k)
      if (memcmp(params[k], refParams[k], (size_t)kSizes[k] * sizeof(float)))
        identical = 0;
  }
  int changed = params[0][0] != (float)(0 - 50) / 50.0f;
  double rate = 0;
  if (optimShardedGetHyperParam(s, 1, "learning_rate", &rate, &error))
    fail("get learning rate", error);
  OptimExchangeStats stats;
  if (optimShardedGetLastStats(s, &stats, &error))
    fail("stats", error);
  int64_t step = -1;
  if (optimShardedGetGlobalStep(s, &step, &error))
    fail("global step", error);
  fprintf(out,
          "  identical %d changed %d step %lld (reference %lld) rate %g "
          "sent %d received %d\n",
          identical, changed, (long long)step, (long long)optimGlobalStep(o),
          rate, stats.bytes_sent > 0, stats.bytes_received > 0);
  if (controlled) {
    OptimStepStatus a;
    if (optimShardedGetStepStatus(s, &a, &error))
      fail("sharded status", error);
    fprintf(out, "  status %d same %d found %s scale %g good %lld\n",
            optimShardedHasStepStatus(s), sameStatus, found, a.loss_scale,
            (long long)a.good_steps);
  }

  for (int64_t j = 0; j < numLocal; ++j)
    free(localStates[j]);
  for (int64_t j = 0; j < NUM_PARAMS * numStates; ++j)
    free(refStates[j]);
  if (optimShardedDestroy(s) || optimDestroy(o))
    fail("destroy", NULL);
}

static void compare(OptimCommunicator *comm, OptimShardMode mode,
                    OptimGradientReduction reduction) {
  compareSource(comm, kSource, mode, reduction, 0);
}

/* The refusals. */
static void refusals(OptimCommunicator *comm) {
  char *error = NULL;
  fprintf(out, "refusals:\n");

  /* Compiling. */
  OptimShardedOptimizer *none =
      optimShardedCompile(kSource, strlen(kSource), NULL, OPTIM_SHARD_ZERO,
                          OPTIM_REDUCE_NONE, NULL, &error);
  show("null communicator", none != NULL, error);
  error = NULL;
  none = optimShardedCompile(kSource, strlen(kSource), comm, (OptimShardMode)7,
                             OPTIM_REDUCE_NONE, NULL, &error);
  show("mode 7", none != NULL, error);
  error = NULL;
  none = optimShardedCompile(kSource, strlen(kSource), comm, OPTIM_SHARD_ZERO,
                             (OptimGradientReduction)-1, NULL, &error);
  show("reduction -1", none != NULL, error);
  error = NULL;
  none = optimShardedCompile(kClipped, strlen(kClipped), comm, OPTIM_SHARD_ZERO,
                             OPTIM_REDUCE_NONE, NULL, &error);
  show("max_grad_norm", none != NULL, error);
  fprintf(out, "status of NULL: %d\n", optimShardedHasStepStatus(NULL));
  error = NULL;
  none = optimShardedCompile(NULL, 5, comm, OPTIM_SHARD_ZERO, OPTIM_REDUCE_NONE,
                             NULL, &error);
  show("null source", none != NULL, error);
  /* Compiling is a collective: every rank fails when the ranks disagree. */
  error = NULL;
  none = optimShardedCompile(kSource, strlen(kSource), comm,
                             rank == 1 ? OPTIM_SHARD_BROADCAST_PARAMS
                                       : OPTIM_SHARD_ZERO,
                             OPTIM_REDUCE_NONE, NULL, &error);
  show("rank 1's mode", none != NULL, error);

  /* A sharded optimizer outlives the communicator handle it was compiled
   * on. */
  OptimCommunicator *second = optimCommWorld(30.0, &error);
  if (!second)
    fail("second communicator", error);
  OptimShardedOptimizer *s =
      optimShardedCompile(kSource, strlen(kSource), second, OPTIM_SHARD_ZERO,
                          OPTIM_REDUCE_NONE, NULL, &error);
  if (!s)
    fail("sharded compile", error);
  fprintf(out, "destroy communicator handle %d again %d null %d\n",
          optimCommDestroy(second), optimCommDestroy(second),
          optimCommDestroy(NULL));
  CALL("destroyed communicator barrier", optimCommBarrier(second, &error));
  fprintf(out, "destroyed communicator rank %d size %d timeout %g failure %s\n",
          optimCommRank(second), optimCommSize(second),
          optimCommGetTimeout(second), optimCommFailure(second) ? "?" : "null");

  /* Queries out of range. */
  fprintf(out,
          "params %lld states %lld groups %lld name %s %s rank %lld "
          "elements %lld group %lld sparse %d dtype %d\n",
          (long long)optimShardedNumParams(s),
          (long long)optimShardedNumStates(s),
          (long long)optimShardedNumGroups(s), optimShardedParamName(s, 0),
          optimShardedParamName(s, 4) ? "?" : "null",
          (long long)optimShardedParamRank(s, -1),
          (long long)optimShardedParamNumElements(s, 4),
          (long long)optimShardedParamGroup(s, 1LL << 32),
          optimShardedParamIsSparse(s, 9), (int)optimShardedParamDType(s, -1));
  fprintf(out,
          "state name %s %s pieces of rank %d: %lld, of rank -1: %lld, "
          "local state elements %lld dtype %d\n",
          optimShardedStateName(s, 0),
          optimShardedStateName(s, 2) ? "?" : "null", size,
          (long long)optimShardedNumPieces(s, size),
          (long long)optimShardedNumPieces(s, -1),
          (long long)optimShardedLocalStateNumElements(s, MAX_PIECES, 0),
          (int)optimShardedLocalStateDType(s, 0, 2));
  int64_t shape[2] = {-7, -7};
  CALL("shape capacity 1", optimShardedParamShape(s, 0, shape, 1, &error));
  CALL("shape capacity 2", optimShardedParamShape(s, 0, shape, 2, &error));
  fprintf(out, "shape %lld %lld\n", (long long)shape[0], (long long)shape[1]);
  OptimShardPiece pieces[MAX_PIECES];
  CALL("pieces capacity 0", optimShardedPieces(s, 0, pieces, 0, &error));
  CALL("pieces of rank -1",
       optimShardedPieces(s, -1, pieces, MAX_PIECES, &error));
  CALL("group 2", optimShardedSetHyperParam(s, 2, "beta1", 0.5, &error));
  CALL("null name", optimShardedSetHyperParam(s, 0, NULL, 0.5, &error));
  CALL("beta1 1.0", optimShardedSetHyperParam(s, 0, "beta1", 1.0, &error));
  double value = 0;
  CALL("get beta1", optimShardedGetHyperParam(s, 0, "beta1", &value, &error));
  fprintf(out, "beta1 %.2f\n", value);
  CALL("global step -1", optimShardedSetGlobalStep(s, -1, &error));
  CALL("null stats", optimShardedGetLastStats(s, NULL, &error));
  OptimStepStatus none_status;
  fprintf(out, "has status %d\n", optimShardedHasStepStatus(s));
  CALL("status", optimShardedGetStepStatus(s, &none_status, &error));
  CALL("loss scale state", optimShardedSetLossScaleState(s, 2.0, 0, &error));
  CALL("timeout 0", optimCommSetTimeout(comm, 0.0, &error));
  CALL("timeout nan", optimCommSetTimeout(comm, NAN, &error));
  fprintf(out, "timeout %g\n", optimCommGetTimeout(comm));
  OptimCommunicator *bad = optimCommWorld(-1.0, &error);
  show("world timeout -1", bad != NULL, error);

  /* Steps refused on every rank, nothing changed. */
  int64_t numStates = optimShardedNumStates(s);
  int64_t numLocal = optimShardedNumLocalPieces(s) * numStates;
  void *localStates[MAX_PIECES * MAX_STATES];
  for (int64_t j = 0; j < numLocal; ++j)
    localStates[j] = calloc((size_t)optimShardedLocalStateNumElements(
                                s, j / numStates, j % numStates),
                            sizeof(float));
  CALL("init with a wrong count",
       optimShardedInitStates(s, localStates, (size_t)numLocal + 1, &error));
  CALL("init",
       optimShardedInitStates(s, localStates, (size_t)numLocal, &error));
  fillParams();
  fillGrads(0, OPTIM_REDUCE_NONE);
  void *p[NUM_PARAMS], *g[NUM_PARAMS];
  for (int k = 0; k < NUM_PARAMS; ++k) {
    p[k] = params[k];
    g[k] = grads[k];
  }
  CALL("3 parameters", optimShardedStep(s, p, g, NUM_PARAMS - 1, localStates,
                                        (size_t)numLocal, &error));
  /* Only the last rank passes one local state too many. */
  CALL("last rank's local states",
       optimShardedStep(s, p, g, NUM_PARAMS, localStates,
                        (size_t)numLocal + (rank == size - 1), &error));
  /* Only rank 1 passes no parameter array. */
  CALL("rank 1's null parameters",
       optimShardedStep(s, rank == 1 ? NULL : p, g, NUM_PARAMS, localStates,
                        (size_t)numLocal, &error));
  int unchanged = 1;
  for (int k = 0; k < NUM_PARAMS; ++k)
    if (memcmp(params[k], refParams[k], (size_t)kSizes[k] * sizeof(float)))
      unchanged = 0;
  fprintf(out, "unchanged %d step %lld\n", unchanged,
          (long long)optimShardedGlobalStep(s));
  CALL("step", optimShardedStep(s, p, g, NUM_PARAMS, localStates,
                                (size_t)numLocal, &error));
  fprintf(out, "step %lld\n", (long long)optimShardedGlobalStep(s));

  /* Destroyed and null handles. */
  fprintf(out, "destroy %d again %d null %d\n", optimShardedDestroy(s),
          optimShardedDestroy(s), optimShardedDestroy(NULL));
  CALL("destroyed step", optimShardedStep(s, p, g, NUM_PARAMS, localStates,
                                          (size_t)numLocal, &error));
  CALL("null step", optimShardedStep(NULL, p, g, NUM_PARAMS, localStates,
                                     (size_t)numLocal, &error));
  CALL("destroyed set", optimShardedSetHyperParam(s, 0, "beta1", 0.5, &error));
  CALL("null pieces", optimShardedLocalPieces(NULL, pieces, 8, &error));
  fprintf(out, "destroyed: params %lld pieces %lld mode %d step %lld\n",
          (long long)optimShardedNumParams(s),
          (long long)optimShardedNumLocalPieces(s), (int)optimShardedMode(s),
          (long long)optimShardedGlobalStep(s));
  CALL("null barrier", optimCommBarrier(NULL, &error));
  /* A foreign pointer. */
  CALL("foreign timeout",
       optimCommSetTimeout((OptimCommunicator *)params[0], 1.0, &error));
  for (int64_t j = 0; j < numLocal; ++j)
    free(localStates[j]);
}

/* Rank 0 waits at a barrier for 0.5 s; rank 1 comes after 3 s. Rank 0
 * then leaves without MPI_Finalize (its request is given up), so mpirun
 * reports an abnormal exit. */
static void timeout(OptimCommunicator *comm) {
  if (rank == 0) {
    CALL("set timeout", optimCommSetTimeout(comm, 0.5, &error));
    CALL("barrier", optimCommBarrier(comm, &error));
    fprintf(out, "failure: %s\n", optimCommFailure(comm));
    CALL("barrier again", optimCommBarrier(comm, &error));
    /* Let rank 1 finish before this rank leaves without MPI_Finalize. */
    struct timespec pause = {5, 0};
    nanosleep(&pause, NULL);
  } else {
    struct timespec pause = {3, 0};
    nanosleep(&pause, NULL);
    CALL("late barrier", optimCommBarrier(comm, &error));
    fprintf(out, "failure: '%s'\n", optimCommFailure(comm));
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PREFIX [timeout]\n", argv[0]);
    return 2;
  }
  char *error = NULL;
  OptimCommunicator *comm = optimCommWorld(60.0, &error);
  if (!comm) {
    fprintf(stderr, "optimCommWorld: %s\n", error);
    return 1;
  }
  rank = optimCommRank(comm);
  size = optimCommSize(comm);
  char path[4096];
  snprintf(path, sizeof(path), "%s.%d", argv[1], rank);
  out = fopen(path, "w");
  if (!out) {
    perror(path);
    return 1;
  }
  fprintf(out, "rank %d of %d\n", rank, size);
  if (argc > 2 && strcmp(argv[2], "timeout") == 0) {
    timeout(comm);
    fclose(out);
    return 0;
  }
  for (int k = 0; k < NUM_PARAMS; ++k) {
    params[k] = malloc((size_t)kSizes[k] * sizeof(float));
    grads[k] = malloc((size_t)kSizes[k] * sizeof(float));
    refParams[k] = malloc((size_t)kSizes[k] * sizeof(float));
    refGrads[k] = malloc((size_t)kSizes[k] * sizeof(float));
  }
  compare(comm, OPTIM_SHARD_FROM_SOURCE, OPTIM_REDUCE_NONE);
  compare(comm, OPTIM_SHARD_ZERO, OPTIM_REDUCE_NONE);
  compare(comm, OPTIM_SHARD_ZERO, OPTIM_REDUCE_MEAN);
  compare(comm, OPTIM_SHARD_BROADCAST_PARAMS, OPTIM_REDUCE_SUM);
  compareSource(comm, kControlled, OPTIM_SHARD_ZERO, OPTIM_REDUCE_SUM, 1);
  compareSource(comm, kControlled, OPTIM_SHARD_BROADCAST_PARAMS,
                OPTIM_REDUCE_NONE, 1);
  refusals(comm);
  CALL("barrier", optimCommBarrier(comm, &error));
  fprintf(out, "destroy %d\n", optimCommDestroy(comm));
  for (int k = 0; k < NUM_PARAMS; ++k) {
    free(params[k]);
    free(grads[k]);
    free(refParams[k]);
    free(refGrads[k]);
  }
  fclose(out);
  return 0;
}
