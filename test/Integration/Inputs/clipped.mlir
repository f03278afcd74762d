optim.optimizer @clip rule #optim.rule<adam> learning_rate 1e-3 max_grad_norm 1 {
  optim.param "w" : tensor<64x32xf32>
}
