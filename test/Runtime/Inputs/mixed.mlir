optim.optimizer @mp rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 {
  optim.param "w" : tensor<3xbf16> master f32
}
