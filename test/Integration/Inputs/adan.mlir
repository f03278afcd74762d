optim.optimizer @adan rule #optim.rule<adan> learning_rate 1.0e-3 weight_decay 0.1 {
  optim.group grad_centralization {
    optim.param "conv.weight" : tensor<16x16x3x3xf32>
  }
  optim.group weight_decay 0.0 {
    optim.param "bn.gamma" : tensor<16xf32>
    optim.param "fc.bias" : tensor<10xf32>
  }
}
