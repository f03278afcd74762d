/* The C API with a sparse parameter: optimParamIsSparse, OptimSparseGrad
 * with duplicate indices, an out-of-range index (an error, nothing
 * changes) and zero rows (NULL buffers). */
#include "optim/Runtime/optim-c.h"

#include <stdio.h>
#include <string.h>

static const char kSource[] =
    "optim.optimizer @sp rule #optim.rule<lazy_adam> learning_rate 0.1 {\n"
    "  optim.param \"emb\" : tensor<4x2xf32> sparse\n"
    "  optim.param \"w\" : tensor<3xf32>\n"
    "}\n";

int main(void) {
  char *error = NULL;
  OptimOptimizer *o = optimCompile(kSource, strlen(kSource), NULL, &error);
  if (!o) {
    printf("compile failed: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  printf("sparse %d %d\n", optimParamIsSparse(o, 0), optimParamIsSparse(o, 1));

  float emb[8] = {1, 1, 1, 1, 1, 1, 1, 1}, w[3] = {1, 1, 1};
  float m[2][8], v[2][8], wm[2][3];
  void *states[4] = {m[0], m[1], wm[0], wm[1]};
  (void)v;
  if (optimInitStates(o, states, &error)) {
    printf("init failed: %s\n", error);
    return 1;
  }
  int32_t idx[3] = {2, 0, 2};
  float rows[6] = {1, -1, 1, 1, 1, -1};
  float gw[3] = {1, -1, 0};
  OptimSparseGrad sg = {idx, rows, 3};
  void *params[2] = {emb, w};
  void *grads[2] = {&sg, gw};
  if (optimStep(o, params, grads, states, &error)) {
    printf("step failed: %s\n", error);
    return 1;
  }
  /* Row 2: gradient (2, -2) after merging; rows 1 and 3 untouched. */
  printf("emb %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f\n", emb[0], emb[1],
         emb[2], emb[3], emb[4], emb[5], emb[6], emb[7]);
  printf("w %.4f %.4f %.4f step %lld\n", w[0], w[1], w[2],
         (long long)optimGlobalStep(o));

  idx[1] = 4;
  if (optimStep(o, params, grads, states, &error)) {
    printf("error: %s\n", error);
    optimFreeError(error);
  }
  printf("after error: emb[0] %.4f w[0] %.4f step %lld\n", emb[0], w[0],
         (long long)optimGlobalStep(o));

  OptimSparseGrad none = {NULL, NULL, 0};
  grads[0] = &none;
  if (optimStep(o, params, grads, states, &error)) {
    printf("zero rows failed: %s\n", error);
    return 1;
  }
  printf("zero rows: emb[0] %.4f step %lld\n", emb[0],
         (long long)optimGlobalStep(o));
  optimDestroy(o);
  return 0;
}
