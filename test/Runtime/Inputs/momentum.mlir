optim.optimizer @momentum rule #optim.rule<momentum, momentum = 0.9, use_nesterov = true> learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 4> weight_decay 0.01 loss_scale 8.0 {
  optim.param "dense.weight" : tensor<33x7xf32>
  optim.param "norm.gamma" : tensor<5xf32>
}
