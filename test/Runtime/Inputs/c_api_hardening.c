/* The C API refuses bad handles, indices, capacities and values with an
 * error code and a message, and a refused step writes nothing. */
#include "optim/Runtime/optim-c.h"

#include <stdio.h>
#include <string.h>

static const char kAdam[] =
    "optim.optimizer @a rule #optim.rule<adam> learning_rate 0.1 {\n"
    "  optim.param \"w\" : tensor<2x2xf32>\n"
    "  optim.param \"v\" : tensor<3xf32>\n"
    "}\n";

static const char kLazy[] =
    "optim.optimizer @sp rule #optim.rule<lazy_adam> learning_rate 0.1 "
    "unique false {\n"
    "  optim.param \"emb\" : tensor<4x2xf32> sparse\n"
    "}\n";

/* Prints the status and message of a call, then frees the message. */
static void show(const char *what, int status, char *error) {
  printf("%s: %d %s\n", what, status, error ? error : "(no message)");
  optimFreeError(error);
}

#define CALL(what, expr)                                                       \
  do {                                                                         \
    char *error = NULL;                                                        \
    int status = (expr);                                                       \
    show(what, status, error);                                                 \
  } while (0)

int main(void) {
  char *error = NULL;
  OptimOptimizer *o = optimCompile(kAdam, strlen(kAdam), NULL, &error);
  if (!o) {
    printf("compile failed: %s\n", error);
    return 1;
  }

  /* Indices out of range. */
  printf("name %s rank %lld elements %lld group %lld sparse %d dtype %d\n",
         optimParamName(o, 2) ? "?" : "null", (long long)optimParamRank(o, -1),
         (long long)optimParamNumElements(o, 2),
         (long long)optimParamGroup(o, 1LL << 32), optimParamIsSparse(o, 9),
         (int)optimParamDType(o, -1));
  printf("state name %s rank %lld elements %lld dtype %d\n",
         optimStateName(o, 2) ? "?" : "null",
         (long long)optimStateRank(o, 0, 2),
         (long long)optimStateNumElements(o, 2, 0),
         (int)optimStateDType(o, 0, -1));

  /* Capacities. */
  int64_t shape[2] = {-7, -7};
  CALL("shape capacity 1", optimParamShape(o, 0, shape, 1, &error));
  printf("shape untouched %lld %lld\n", (long long)shape[0],
         (long long)shape[1]);
  CALL("shape capacity 2", optimParamShape(o, 0, shape, 2, &error));
  printf("shape %lld %lld\n", (long long)shape[0], (long long)shape[1]);
  CALL("shape of parameter 2", optimParamShape(o, 2, shape, 2, &error));
  CALL("state shape capacity 0", optimStateShape(o, 1, 0, shape, 0, &error));
  double rates[1] = {-1.0};
  CALL("rates capacity 0", optimLearningRates(o, rates, 0, &error));
  CALL("rates capacity 1", optimLearningRates(o, rates, 1, &error));
  printf("rate %.2f\n", rates[0]);

  /* Groups are checked before they narrow: 2^32 is not group 0. */
  CALL("group 2^32", optimSetHyperParam(o, 1LL << 32, "beta1", 0.5, &error));
  CALL("group -1", optimSetHyperParam(o, -1, "beta1", 0.5, &error));
  CALL("null value", optimGetHyperParam(o, 0, "beta1", NULL, &error));
  CALL("null step", optimGetGlobalStep(o, NULL, &error));

  /* Values: the rule's ranges and float32 values. */
  CALL("beta1 1.0", optimSetHyperParam(o, 0, "beta1", 1.0, &error));
  CALL("eps -1", optimSetHyperParam(o, 0, "eps", -1.0, &error));
  CALL("loss_scale 1e-300",
       optimSetHyperParam(o, 0, "loss_scale", 1e-300, &error));
  CALL("learning_rate 1e300",
       optimSetHyperParam(o, 0, "learning_rate", 1e300, &error));
  CALL("weight_decay 1e-45",
       optimSetHyperParam(o, 0, "weight_decay", 1e-45, &error));
  CALL("weight_decay 0", optimSetHyperParam(o, 0, "weight_decay", 0.0, &error));
  double beta1 = 0.0;
  CALL("get beta1", optimGetHyperParam(o, 0, "beta1", &beta1, &error));
  printf("beta1 %.2f\n", beta1);
  CALL("beta1 0.5", optimSetHyperParam(o, 0, "beta1", 0.5, &error));

  /* Steps. */
  float w[4] = {1, 1, 1, 1}, v[3] = {1, 1, 1};
  float gw[4] = {1, 1, 1, 1}, gv[3] = {1, 1, 1};
  float s[2][4], t[2][3];
  void *states[4] = {s[0], s[1], t[0], t[1]};
  CALL("init", optimInitStates(o, states, &error));
  void *params[2] = {w, v};
  void *grads[2] = {gw, gv};
  /* The same buffer as both parameters, then a state inside a parameter. */
  void *aliased[2] = {w, w};
  CALL("aliased parameters", optimStep(o, aliased, grads, states, &error));
  void *aliasedStates[4] = {s[0], s[1], t[0], w + 1};
  CALL("state in a parameter",
       optimStep(o, params, grads, aliasedStates, &error));
  void *gradInState[2] = {gw, s[1]};
  CALL("gradient in a state",
       optimStep(o, params, gradInState, states, &error));
  printf("w %.4f %.4f v %.4f step %lld\n", w[0], w[3], v[0],
         (long long)optimGlobalStep(o));
  /* Gradients may share memory. */
  void *sharedGrads[2] = {gw, gw};
  CALL("shared gradients", optimStep(o, params, sharedGrads, states, &error));
  printf("w %.4f step %lld\n", w[0], (long long)optimGlobalStep(o));

  /* The global step: not negative, and a step must not overflow it. */
  CALL("global step -1", optimSetGlobalStep(o, -1, &error));
  CALL("global step max",
       optimSetGlobalStep(o, 9223372036854775807LL, &error));
  float before = w[0];
  CALL("step at max", optimStep(o, params, grads, states, &error));
  printf("unchanged %d step %lld\n", w[0] == before,
         (long long)optimGlobalStep(o));
  CALL("global step max - 1",
       optimSetGlobalStep(o, 9223372036854775806LL, &error));
  CALL("step at max - 1", optimStep(o, params, grads, states, &error));
  printf("step %lld\n", (long long)optimGlobalStep(o));

  /* Bound steps check their optimizer too. */
  OptimBoundStep *bound = optimBoundStepCreate(o, &error);
  printf("bound %s\n", bound ? "created" : "failed");
  printf("bound destroy %d again %d null %d\n", optimBoundStepDestroy(bound),
         optimBoundStepDestroy(bound), optimBoundStepDestroy(NULL));
  CALL("destroyed bound step run", optimBoundStepRun(bound, &error));
  printf("destroyed bound tables %s\n",
         optimBoundStepParams(bound) ? "?" : "null");

  /* Handles: NULL, foreign, destroyed. */
  int foreign = 0;
  OptimOptimizer *fake = (OptimOptimizer *)&foreign;
  printf("null: params %lld target %d threads %d status %d origin %d\n",
         (long long)optimNumParams(NULL), (int)optimGetTarget(NULL),
         optimNumThreads(NULL), optimHasStepStatus(NULL),
         (int)optimCodeOrigin(NULL));
  CALL("null step", optimStep(NULL, params, grads, states, &error));
  CALL("foreign set", optimSetHyperParam(fake, 0, "beta1", 0.5, &error));
  printf("foreign params %lld\n", (long long)optimNumParams(fake));
  printf("destroy %d\n", optimDestroy(o));
  printf("destroyed: params %lld step %lld\n", (long long)optimNumParams(o),
         (long long)optimGlobalStep(o));
  CALL("destroyed step", optimStep(o, params, grads, states, &error));
  CALL("destroyed bound create",
       optimBoundStepCreate(o, &error) == NULL ? 1 : 0);
  printf("destroy again %d null %d\n", optimDestroy(o), optimDestroy(NULL));

  /* Constant hyper-parameters: only the compiled value can be "set". */
  OptimOptimizer *c =
      optimCompile(kAdam, strlen(kAdam), "constant-hyper-params=1", &error);
  if (!c) {
    printf("compile failed: %s\n", error);
    return 1;
  }
  CALL("constant beta1 0.5", optimSetHyperParam(c, 0, "beta1", 0.5, &error));
  CALL("constant beta1 0.9", optimSetHyperParam(c, 0, "beta1", 0.9, &error));
  optimDestroy(c);

  /* Duplicate sparse indices without `unique`. */
  OptimOptimizer *sp = optimCompile(kLazy, strlen(kLazy), NULL, &error);
  if (!sp) {
    printf("compile failed: %s\n", error);
    return 1;
  }
  float emb[8] = {1, 1, 1, 1, 1, 1, 1, 1}, m[8], vv[8];
  void *spStates[2] = {m, vv};
  CALL("sparse init", optimInitStates(sp, spStates, &error));
  int32_t idx[3] = {2, 0, 2};
  float rows[6] = {1, 1, 1, 1, 1, 1};
  OptimSparseGrad sg = {idx, rows, 3};
  void *spParams[1] = {emb};
  void *spGrads[1] = {&sg};
  CALL("duplicate indices", optimStep(sp, spParams, spGrads, spStates, &error));
  printf("emb[4] %.4f step %lld\n", emb[4], (long long)optimGlobalStep(sp));
  idx[2] = 3;
  CALL("distinct indices", optimStep(sp, spParams, spGrads, spStates, &error));
  printf("emb[4] %.4f emb[2] %.4f step %lld\n", emb[4], emb[2],
         (long long)optimGlobalStep(sp));
  optimDestroy(sp);
  return 0;
}
