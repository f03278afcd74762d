/* The C API with mixed precision: a bfloat16 parameter with a float32
 * master (the "master" state, f32), a float32 parameter without one (a
 * 0-element master, NULL), optimStateDType, optimInitStates refusing and
 * optimInitStatesFromParams filling the master from the parameter. */
#include "optim/Runtime/optim-c.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char kSource[] =
    "optim.optimizer @mp rule #optim.rule<momentum, momentum = 0.9> "
    "learning_rate 0.1 {\n"
    "  optim.param \"w\" : tensor<3xbf16> master f32\n"
    "  optim.param \"b\" : tensor<2xf32>\n"
    "}\n";

static float fromBF16(uint16_t bits) {
  uint32_t wide = (uint32_t)bits << 16;
  float value;
  memcpy(&value, &wide, sizeof value);
  return value;
}

int main(void) {
  char *error = NULL;
  OptimOptimizer *o = optimCompile(kSource, strlen(kSource), NULL, &error);
  if (!o) {
    printf("compile failed: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  printf("states %lld: %s %s\n", (long long)optimNumStates(o),
         optimStateName(o, 0), optimStateName(o, 1));
  printf("dtypes w: %d %d %d b: %d %d %d\n", (int)optimParamDType(o, 0),
         (int)optimStateDType(o, 0, 0), (int)optimStateDType(o, 0, 1),
         (int)optimParamDType(o, 1), (int)optimStateDType(o, 1, 0),
         (int)optimStateDType(o, 1, 1));
  printf("master sizes %lld %lld\n", (long long)optimStateNumElements(o, 0, 1),
         (long long)optimStateNumElements(o, 1, 1));

  /* 1.0, 0.5, -2.0 in bfloat16. */
  uint16_t w[3] = {0x3F80, 0x3F00, 0xC000};
  float b[2] = {1, 2};
  float wm[3], wmaster[3], bm[2];
  void *states[4] = {wm, wmaster, bm, NULL};
  void *params[2] = {w, b};
  if (optimInitStates(o, states, &error)) {
    printf("error: %s\n", error);
    optimFreeError(error);
  }
  if (optimInitStatesFromParams(o, params, states, &error)) {
    printf("init failed: %s\n", error);
    return 1;
  }
  printf("master %.4f %.4f %.4f\n", wmaster[0], wmaster[1], wmaster[2]);

  uint16_t gw[3] = {0x3F80, 0x3F80, 0x3F80};
  float gb[2] = {1, 1};
  void *grads[2] = {gw, gb};
  if (optimStep(o, params, grads, states, &error)) {
    printf("step failed: %s\n", error);
    return 1;
  }
  /* master -= 0.1 * 1; the parameter is the master rounded to bf16. */
  printf("master %.6f %.6f %.6f\n", wmaster[0], wmaster[1], wmaster[2]);
  printf("w 0x%04X %.6f 0x%04X b %.4f %.4f\n", w[0], fromBF16(w[0]), w[1],
         b[0], b[1]);
  optimDestroy(o);
  return 0;
}
