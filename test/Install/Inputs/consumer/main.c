/* Uses only the plain C API of the installed runtime: compile an SGD
 * optimizer, run one step, check the result, and report a bad input. */
#include "optim/Runtime/optim-c.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *kSource =
    "optim.optimizer @sgd rule #optim.rule<sgd> learning_rate 0.5 {\n"
    "  optim.param \"w\" : tensor<3xf32>\n"
    "}\n";

int main(void) {
  char *error = NULL;
  OptimOptimizer *opt = optimCompile(kSource, strlen(kSource), NULL, &error);
  if (!opt) {
    printf("compile failed: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  float w[3] = {1.0f, 2.0f, 3.0f}, g[3] = {0.5f, -1.0f, 2.0f}, accum[3];
  void *params[] = {w}, *grads[] = {g}, *states[] = {accum};
  if (optimInitStates(opt, states, &error) ||
      optimStep(opt, params, grads, states, &error)) {
    printf("step failed: %s\n", error);
    return 1;
  }
  printf("params %lld states %lld step %lld\n", (long long)optimNumParams(opt),
         (long long)optimNumStates(opt), (long long)optimGlobalStep(opt));
  printf("w = %.3f %.3f %.3f\n", w[0], w[1], w[2]);
  if (optimSetHyperParam(opt, 0, "no_such_name", 1.0, &error)) {
    printf("error: %s\n", error);
    optimFreeError(error);
  }
  optimDestroy(opt);
  return fabsf(w[0] - 0.75f) < 1e-6f ? 0 : 1;
}
