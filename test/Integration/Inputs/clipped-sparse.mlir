optim.optimizer @clip rule #optim.rule<lazy_adam> learning_rate 1e-3 max_grad_norm 1 {
  optim.param "emb" : tensor<50x8xf32> sparse
}
