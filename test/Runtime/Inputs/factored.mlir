optim.optimizer @factored rule #optim.rule<adafactor, beta1 = 0.9> learning_rate 1e-3 {
  optim.param "proj.weight" : tensor<8x6xbf16>
  optim.param "proj.bias" : tensor<6xbf16>
}
