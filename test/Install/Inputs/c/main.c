/* A C99 program that uses only the C API of the installed runtime: compile
 * a Momentum optimizer from optim-dialect text, run one step on small
 * arrays, and compare with the values worked out by hand. */
#include "optim/Runtime/optim-c.h"

#include <stdio.h>
#include <string.h>

static const char kSource[] =
    "optim.optimizer @momentum rule #optim.rule<momentum, momentum = 0.9>\n"
    "    learning_rate 0.1 {\n"
    "  optim.param \"w\" : tensor<4xf32>\n"
    "}\n";

/* |a - b| <= 1e-6 without libm: the program links the runtime alone. */
static int close_to(float a, float b) {
  return a - b <= 1e-6f && b - a <= 1e-6f;
}

static int fail(const char *what, char *error) {
  fprintf(stderr, "%s failed: %s\n", what, error ? error : "(no message)");
  optimFreeError(error);
  return 1;
}

int main(void) {
  char *error = NULL;
  OptimOptimizer *opt = optimCompile(kSource, strlen(kSource), NULL, &error);
  if (!opt)
    return fail("optimCompile", error);
  if (optimNumParams(opt) != 1 || optimNumStates(opt) != 1 ||
      optimParamDType(opt, 0) != OPTIM_F32 ||
      optimParamNumElements(opt, 0) != 4) {
    fprintf(stderr, "unexpected ABI\n");
    return 1;
  }

  float w[4] = {1.0f, 2.0f, -3.0f, 0.5f};
  float g[4] = {0.5f, -1.0f, 2.0f, 0.0f};
  float moments[4] = {7.0f, 7.0f, 7.0f, 7.0f};
  void *params[1] = {w}, *grads[1] = {g}, *states[1] = {moments};
  if (optimInitStates(opt, states, &error))
    return fail("optimInitStates", error);
  for (int i = 0; i < 4; ++i)
    if (moments[i] != 0.0f) {
      fprintf(stderr, "moments[%d] = %g after optimInitStates\n", i,
              moments[i]);
      return 1;
    }
  /* The caller owns the state buffers: start from moments that are not 0
   * so that the momentum term shows in the result. */
  const float m0[4] = {1.0f, 0.0f, -1.0f, 2.0f};
  memcpy(moments, m0, sizeof moments);
  if (optimStep(opt, params, grads, states, &error))
    return fail("optimStep", error);

  /* MindSpore's Momentum: moments = 0.9 * moments + grad;
   * w -= 0.1 * moments. By hand:
   *   moments = {0.9 + 0.5, -1, -0.9 + 2, 1.8} = {1.4, -1, 1.1, 1.8}
   *   w = {1 - 0.14, 2 + 0.1, -3 - 0.11, 0.5 - 0.18}. */
  const float wantMoments[4] = {1.4f, -1.0f, 1.1f, 1.8f};
  const float wantW[4] = {0.86f, 2.1f, -3.11f, 0.32f};
  int bad = 0;
  for (int i = 0; i < 4; ++i)
    if (!close_to(w[i], wantW[i]) || !close_to(moments[i], wantMoments[i]))
      bad = 1;
  printf("step %lld w = %.4f %.4f %.4f %.4f moments = %.4f %.4f %.4f %.4f\n",
         (long long)optimGlobalStep(opt), w[0], w[1], w[2], w[3], moments[0],
         moments[1], moments[2], moments[3]);

  /* Bad input is an error value with a message, never an abort. */
  if (optimSetHyperParam(opt, 0, "no_such_name", 1.0, &error) == 0) {
    fprintf(stderr, "an unknown hyper-parameter was accepted\n");
    bad = 1;
  } else {
    printf("error: %s\n", error);
    optimFreeError(error);
  }
  optimDestroy(opt);
  return bad;
}
