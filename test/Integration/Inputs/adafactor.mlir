optim.optimizer @adafactor rule #optim.rule<adafactor, eps1 = 1.0e-30, eps2 = 1.0e-03, clip_threshold = 1.0, decay_rate = 0.8, beta1 = 0.9, first_moment = true, scale_parameter = true, relative_step = false, warmup_init = false> learning_rate 1.0e-2 weight_decay 0.1 {
  optim.group {
    optim.param "conv.weight" : tensor<16x16x3x3xf32>
    optim.param "fc.weight" : tensor<10x16xf32>
  }
  optim.group learning_rate 3.0e-3 weight_decay 0.0 {
    optim.param "bn.gamma" : tensor<16xf32>
    optim.param "fc.bias" : tensor<10xf32>
  }
}
