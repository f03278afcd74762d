optim.optimizer @amp rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 weight_decay 0.01 loss_scale 1024 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 3, min_scale = 1.0> max_grad_norm 1 {
  optim.param "w" : tensor<64x32xf32>
  optim.param "norm.gamma" : tensor<32xf32>
}
