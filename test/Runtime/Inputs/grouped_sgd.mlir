optim.optimizer @grouped_sgd rule #optim.rule<sgd, momentum = 0> learning_rate 0.1 weight_decay 0.01 {
  optim.group {
    optim.param "encoder.weight" : tensor<3x4xf32>
    optim.param "encoder.scale" : tensor<5xf64>
  }
  optim.group learning_rate 0.05 weight_decay 0 {
    optim.param "head.bias" : tensor<7xf32>
  }
}
