optim.optimizer @sp rule #optim.rule<lazy_adam> learning_rate 0.01 loss_scale 4.0 {
  optim.param "emb" : tensor<50x8xf32> sparse
  optim.param "w" : tensor<7x5xf32>
}
