/* Includes one generated header and uses nothing from it: it must compile
 * without a warning, as C and C++. */
#include OPTIM_HEADER

int main(void) { return 0; }
