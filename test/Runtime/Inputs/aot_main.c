/* Links an ahead-of-time compiled Momentum optimizer, runs 5 steps and
 * checks every element against the formula evaluated here in double. */
#include OPTIM_HEADER

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  enum { P = MOMENTUM_NUM_PARAMS, S = MOMENTUM_NUM_STATES };
  float *params[P], *grads[P], *states[P * S];
  double *refParam[P], *refMoment[P];
  momentum_hyper_t hyper = momentum_initial_hyper;
  unsigned seed = 1;
  for (int p = 0; p < P; ++p) {
    int64_t n = momentum_params[p].numel;
    params[p] = malloc(n * sizeof(float));
    grads[p] = malloc(n * sizeof(float));
    refParam[p] = malloc(n * sizeof(double));
    refMoment[p] = malloc(n * sizeof(double));
    for (int s = 0; s < S; ++s) {
      states[p * S + s] = malloc(momentum_params[p].state_numel[s] * sizeof(float));
      for (int64_t i = 0; i < momentum_params[p].state_numel[s]; ++i)
        states[p * S + s][i] = (float)momentum_state_init[p * S + s];
    }
    for (int64_t i = 0; i < n; ++i) {
      seed = seed * 1103515245u + 12345u;
      params[p][i] = (float)((seed >> 8) % 2000) / 1000.0f - 1.0f;
      refParam[p][i] = params[p][i];
      refMoment[p][i] = 0.0;
    }
  }
  double maxError = 0.0;
  for (int64_t step = 0; step < 5; ++step) {
    double lr[MOMENTUM_NUM_GROUPS];
    momentum_learning_rates(&hyper, step, lr);
    double expectedLr = 0.1 * (step < 4 ? step : 4) / 4.0;
    if (fabs(lr[0] - expectedLr) > 1e-7) {
      printf("wrong learning rate %g at step %lld\n", lr[0], (long long)step);
      return 1;
    }
    for (int p = 0; p < P; ++p)
      for (int64_t i = 0; i < momentum_params[p].numel; ++i) {
        seed = seed * 1103515245u + 12345u;
        grads[p][i] = (float)((seed >> 8) % 2000) / 250.0f - 4.0f;
      }
    /* Reference: decay (filtered: no "gamma") -> unscale -> nesterov. */
    for (int p = 0; p < P; ++p)
      for (int64_t i = 0; i < momentum_params[p].numel; ++i) {
        double g = grads[p][i];
        if (momentum_params[p].decay)
          g += 0.01 * 8.0 * refParam[p][i];
        g /= 8.0;
        refMoment[p][i] = 0.9 * refMoment[p][i] + g;
        refParam[p][i] -= expectedLr * (g + 0.9 * refMoment[p][i]);
      }
    momentum_step((void *const *)params, (void *const *)grads,
                  (void *const *)states, &hyper, step);
  }
  for (int p = 0; p < P; ++p)
    for (int64_t i = 0; i < momentum_params[p].numel; ++i) {
      double e = fabs(params[p][i] - refParam[p][i]) /
                 (1e-6 + fabs(refParam[p][i]));
      if (e > maxError)
        maxError = e;
    }
  printf("params %d states %d groups %d\n", P, S, MOMENTUM_NUM_GROUPS);
  printf("state %s\n", momentum_state_names[0]);
  printf("max relative error %s\n", maxError < 1e-5 ? "below 1e-5" : "TOO LARGE");
  for (int p = 0; p < P; ++p) {
    free(params[p]);
    free(grads[p]);
    free(refParam[p]);
    free(refMoment[p]);
    for (int s = 0; s < S; ++s)
      free(states[p * S + s]);
  }
  return maxError < 1e-5 ? 0 : 1;
}
