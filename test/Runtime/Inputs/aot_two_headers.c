/* Includes the headers of two optimizers in one translation unit and uses
 * nothing from them: they must compile without a warning, as C and C++. */
#include GROUPED_HEADER
#include FACTORED_HEADER

int main(void) {
  return GROUPED_SGD_NUM_PARAMS + FACTORED_NUM_PARAMS == 5 ? 0 : 1;
}
