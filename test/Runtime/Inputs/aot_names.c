/* The parameter names of a header generated from hostile names (quotes,
 * backslashes, newlines, comment ends, trigraphs, control and non-ASCII
 * bytes) round-trip exactly: each equals the bytes expected
 * here (written with C escapes; "??" written "?\?") and is printed as hex.
 * Compiled as C99 and C++17 with -Wall -Wextra -pedantic -Werror. */
#include OPTIM_HEADER

#include <stdio.h>
#include <string.h>

static const char *const expected[] = {
    "quote\"inside",
    "back\\slash\\",
    "new\nline\r\nend",
    "end */ of /* comment",
    "\"); system(\"x\"); //",
    "trigraph ?\?/ ?\?= ?\?' ?",
    "caf\303\251 \342\210\207",
    "tab\tbell\adel\177one\001digit\0012",
    "#define X 1\n#include <nonexistent.h>",
};

int main(void) {
  int p, same = 0;
  size_t i;
  if (HOSTILE_NUM_PARAMS != sizeof(expected) / sizeof(expected[0]))
    return 1;
  for (p = 0; p < HOSTILE_NUM_PARAMS; ++p) {
    const char *name = hostile_params[p].name;
    same += strcmp(name, expected[p]) == 0;
    printf("%d:", p);
    for (i = 0; name[i]; ++i)
      printf(" %02x", (unsigned)(unsigned char)name[i]);
    printf("\n");
  }
  printf("names equal to the expected bytes: %d of %d\n", same,
         HOSTILE_NUM_PARAMS);
  return same == HOSTILE_NUM_PARAMS ? 0 : 1;
}
