// float16 parameters: one with a float32 master, one with float32 moments
// and no master.
optim.optimizer @hm rule #optim.rule<adam_weight_decay, eps = 1.0e-6> learning_rate 1.0e-03 weight_decay 0.01 {
  optim.param "h" : tensor<17x9xf16> master f32
  optim.param "e" : tensor<40xf16> states f32
}
