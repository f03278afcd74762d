/* The C API of clipping and dynamic loss scaling: SGD (lr 0.5) on one
 * parameter of 4 elements, loss scale 4 growing by 2 after 2 clean steps,
 * gradients clipped to norm 1. A step with an inf changes nothing and does
 * not count; the status reports it; a restored scale is checked. */
#include "optim/Runtime/optim-c.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *kSource =
    "optim.optimizer @amp rule #optim.rule<sgd> learning_rate 0.5 "
    "loss_scale 4 dynamic<growth_factor = 2.0, backoff_factor = 0.5, "
    "growth_interval = 2, min_scale = 1.0> max_grad_norm 1 {\n"
    "  optim.param \"w\" : tensor<4xf32>\n}\n";

static void show(OptimOptimizer *o, const float *w, const char *when) {
  OptimStepStatus s;
  char *error = NULL;
  if (optimGetStepStatus(o, &s, &error)) {
    printf("%s: error: %s\n", when, error);
    optimFreeError(error);
    return;
  }
  printf("%s: w %.4f %.4f %.4f %.4f scale %g good %lld inf %d norm %.4f "
         "clip %.4f step %lld\n",
         when, w[0], w[1], w[2], w[3], s.loss_scale,
         (long long)s.good_steps, s.found_inf, s.grad_norm, s.clip_factor,
         (long long)optimGlobalStep(o));
}

int main(void) {
  char *error = NULL;
  OptimOptimizer *o = optimCompile(kSource, strlen(kSource), NULL, &error);
  if (!o) {
    printf("compile: %s\n", error);
    return 1;
  }
  printf("has status %d\n", optimHasStepStatus(o));
  float w[4] = {1, 1, 1, 1}, accum[4] = {0, 0, 0, 0};
  /* Scaled by 4: the unscaled gradient (0.3, 0.4, 0, 0) has norm 0.5. */
  float g[4] = {1.2f, 1.6f, 0, 0};
  void *params[1] = {w}, *grads[1] = {g}, *states[1] = {accum};
  if (optimStep(o, params, grads, states, &error))
    return 1;
  show(o, w, "clean");
  g[2] = INFINITY;
  if (optimStep(o, params, grads, states, &error))
    return 1;
  show(o, w, "inf");
  /* Scale 2 now: (3.0, 4.0) / 2 has norm 2.5, clipped to 1. */
  g[0] = 3.0f;
  g[1] = 4.0f;
  g[2] = 0;
  if (optimStep(o, params, grads, states, &error))
    return 1;
  show(o, w, "clipped");
  if (optimSetLossScaleState(o, 0.0, 0, &error)) {
    printf("restore: %s\n", error);
    optimFreeError(error);
    error = NULL;
  }
  if (optimSetLossScaleState(o, 512.0, 1, &error))
    return 1;
  show(o, w, "restored");
  optimDestroy(o);
  return 0;
}
