// Parameter names that are not C: each must reach the header as a C string
// literal meaning exactly its bytes.
optim.optimizer @hostile rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 {
  optim.param "quote\"inside" : tensor<2xf32>
  optim.param "back\\slash\\" : tensor<2xf32>
  optim.param "new\nline\0D\0Aend" : tensor<2xf32>
  optim.param "end */ of /* comment" : tensor<2xf32>
  optim.param "\"); system(\"x\"); //" : tensor<2xf32>
  optim.param "trigraph ??/ ??= ??' ?" : tensor<2xf32>
  optim.param "caf\C3\A9 \E2\88\87" : tensor<2xf32>
  optim.param "tab\09bell\07del\7Fone\01digit\012" : tensor<2xf32>
  optim.param "#define X 1\n#include <nonexistent.h>" : tensor<2xf32>
}
