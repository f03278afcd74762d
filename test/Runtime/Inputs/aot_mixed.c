/* Ten AdamW steps through an ahead-of-time header with bfloat16 and
 * float16 parameters keeping float32 masters, against a float64 reference
 * of the same update computed here:
 *   - a master (and a float32 parameter) within rtol 1e-5 + atol 1e-7 of
 *     the reference;
 *   - a 16-bit parameter exactly its compiled master rounded to nearest
 *     even, and within one ulp of the reference rounded;
 *   - "b" keeps bfloat16 moments: its master within 1e-2 of a reference
 *     whose moments are rounded to bfloat16 every step.
 * Compiled as C99 with -Wall -Wextra -pedantic -Werror. */
#include OPTIM_HEADER

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P = AMP_ADAMW_NUM_PARAMS, S = AMP_ADAMW_NUM_STATES, STEPS = 10 };

static float bitsToFloat(uint32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint32_t floatToBits(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  return bits;
}

/* Round to nearest even (finite values). */
static uint16_t toBF16(float f) {
  uint32_t bits = floatToBits(f);
  return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

static double fromBF16(uint16_t h) { return bitsToFloat((uint32_t)h << 16); }

static uint16_t toF16(float f) {
  _Float16 h = (_Float16)f;
  uint16_t bits;
  memcpy(&bits, &h, 2);
  return bits;
}

static double fromF16(uint16_t bits) {
  _Float16 h;
  memcpy(&h, &bits, 2);
  return (double)h;
}

/* Element i of a parameter buffer as a double, and storing a value. */
static double load(const amp_adamw_param_t *info, const void *data,
                   int64_t i) {
  if (info->element_size == 4)
    return ((const float *)data)[i];
  if (!strcmp(info->dtype, "bfloat16"))
    return fromBF16(((const uint16_t *)data)[i]);
  return fromF16(((const uint16_t *)data)[i]);
}

static void store(const amp_adamw_param_t *info, void *data, int64_t i,
                  double value) {
  if (info->element_size == 4)
    ((float *)data)[i] = (float)value;
  else if (!strcmp(info->dtype, "bfloat16"))
    ((uint16_t *)data)[i] = toBF16((float)value);
  else
    ((uint16_t *)data)[i] = toF16((float)value);
}

/* One ulp of a 16-bit dtype at |x|. */
static double ulp(const amp_adamw_param_t *info, double x) {
  int exponent;
  frexp(x == 0.0 ? 1e-30 : x, &exponent);
  return ldexp(1.0, exponent - (!strcmp(info->dtype, "bfloat16") ? 8 : 11));
}

int main(void) {
  void *params[P], *grads[P], *states[P * S];
  double *ref[P], *m[P], *v[P];
  amp_adamw_hyper_t hyper = amp_adamw_initial_hyper;
  int p, s, step, failures = 0;
  int64_t i;
  double maxMasterError = 0.0, maxBError = 0.0;

  printf("states %d:", S);
  for (s = 0; s < S; ++s)
    printf(" %s", amp_adamw_state_names[s]);
  printf(" master state %d\n", AMP_ADAMW_MASTER_STATE);
  for (p = 0; p < P; ++p) {
    const amp_adamw_param_t *info = &amp_adamw_params[p];
    printf("%s %s master %d:", info->name, info->dtype, info->has_master);
    for (s = 0; s < S; ++s)
      printf(" %s/%d/%lld", info->state_dtype[s],
             (int)info->state_element_size[s],
             (long long)info->state_numel[s]);
    printf("\n");
    params[p] = malloc(info->numel * info->element_size);
    grads[p] = malloc(info->numel * info->element_size);
    ref[p] = malloc(info->numel * sizeof(double));
    m[p] = calloc(info->numel, sizeof(double));
    v[p] = calloc(info->numel, sizeof(double));
    for (i = 0; i < info->numel; ++i) {
      store(info, params[p], i, 0.5 * sin(0.37 * i + p));
      ref[p][i] = load(info, params[p], i);
    }
    /* A state of no elements (the master of a float32 parameter) needs
     * no buffer. */
    for (s = 0; s < S; ++s)
      states[p * S + s] =
          info->state_numel[s]
              ? malloc(info->state_numel[s] * info->state_element_size[s])
              : NULL;
  }

  /* The moments start at 0, each master as its parameter's value. */
  amp_adamw_init_states(params, states);
  for (p = 0; p < P; ++p) {
    const amp_adamw_param_t *info = &amp_adamw_params[p];
    if (!info->has_master)
      continue;
    for (i = 0; i < info->numel; ++i) {
      float master = ((float *)states[p * S + AMP_ADAMW_MASTER_STATE])[i];
      if ((double)master != load(info, params[p], i))
        ++failures;
    }
    for (s = 0; s < AMP_ADAMW_MASTER_STATE; ++s)
      for (i = 0; i < info->state_numel[s] * info->state_element_size[s];
           ++i)
        if (((unsigned char *)states[p * S + s])[i] != 0)
          ++failures;
  }
  printf("initial states: %d wrong\n", failures);

  for (step = 0; step < STEPS; ++step) {
    for (p = 0; p < P; ++p) {
      const amp_adamw_param_t *info = &amp_adamw_params[p];
      const amp_adamw_group_hyper_t *g = &hyper.groups[info->group];
      int bf16Moments = !strcmp(info->state_dtype[0], "bfloat16");
      for (i = 0; i < info->numel; ++i) {
        double grad, update;
        store(info, grads[p], i, 1e-2 * cos(0.11 * i + 0.7 * step + p));
        grad = load(info, grads[p], i);
        m[p][i] = g->beta1 * m[p][i] + (1.0 - g->beta1) * grad;
        v[p][i] = g->beta2 * v[p][i] + (1.0 - g->beta2) * grad * grad;
        if (bf16Moments) {
          m[p][i] = fromBF16(toBF16((float)m[p][i]));
          v[p][i] = fromBF16(toBF16((float)v[p][i]));
        }
        update = m[p][i] / (g->eps + sqrt(v[p][i]));
        if (info->decay)
          update += g->weight_decay * ref[p][i];
        ref[p][i] -= g->learning_rate * update;
      }
    }
    amp_adamw_step(params, grads, states, &hyper, step);
  }

  for (p = 0; p < P; ++p) {
    const amp_adamw_param_t *info = &amp_adamw_params[p];
    int bf16Moments = !strcmp(info->state_dtype[0], "bfloat16");
    const float *master =
        info->has_master ? (const float *)states[p * S + AMP_ADAMW_MASTER_STATE]
                         : NULL;
    for (i = 0; i < info->numel; ++i) {
      double value = master ? master[i] : load(info, params[p], i);
      double error = fabs(value - ref[p][i]);
      if (bf16Moments) {
        if (error > maxBError)
          maxBError = error;
        if (error > 1e-2)
          ++failures;
      } else {
        if (error > maxMasterError)
          maxMasterError = error;
        if (error > 1e-5 * fabs(ref[p][i]) + 1e-7)
          ++failures;
      }
      if (master) {
        /* The parameter is its master rounded... */
        uint16_t bits = ((const uint16_t *)params[p])[i];
        uint16_t rounded = !strcmp(info->dtype, "bfloat16")
                               ? toBF16(master[i])
                               : toF16(master[i]);
        if (bits != rounded)
          ++failures;
        /* ... within one ulp of the reference rounded. */
        if (!bf16Moments &&
            fabs(load(info, params[p], i) - ref[p][i]) > ulp(info, ref[p][i]))
          ++failures;
      }
    }
  }
  printf("masters and float32 parameters within rtol 1e-5: %s\n",
         maxMasterError < 1e-4 ? "yes" : "no");
  printf("failures %d\n", failures);
  if (failures)
    printf("max errors %g %g\n", maxMasterError, maxBError);
  for (p = 0; p < P; ++p) {
    free(params[p]);
    free(grads[p]);
    free(ref[p]);
    free(m[p]);
    free(v[p]);
    for (s = 0; s < S; ++s)
      free(states[p * S + s]);
  }
  return failures != 0;
}
