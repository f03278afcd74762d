// Two groups of float32 parameters: in ZeRO mode on 2 or 3 ranks, "w" and
// "u" are split between ranks.
optim.optimizer @d rule #optim.rule<adam> learning_rate 0.01 weight_decay 0.01 sharding <broadcast_params> {
  optim.group {
    optim.param "w" : tensor<6x8xf32>
    optim.param "b" : tensor<40xf32>
    optim.param "v" : tensor<7xf32>
  }
  optim.group weight_decay 0.0 {
    optim.param "u" : tensor<33xf32>
  }
}
