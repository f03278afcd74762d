// Each error points at the token and says what was expected.
optim.optimizer @a rule #optim.rule<sgd> learning_rate abc {
  optim.param "w" : tensor<4xf32>
}
// ERR: bad-numbers.mlir:2:56: error: custom op 'optim.optimizer' expected a learning rate: a number (such as 0.001, 1e-3 or 1), a per-step list or a schedule

// -----

optim.optimizer @b rule #optim.rule<sgd> learning_rate 0.1 weight_decay x {
  optim.param "w" : tensor<4xf32>
}
// ERR: bad-numbers.mlir:9:73: error: custom op 'optim.optimizer' expected a number (such as 0.001, 1e-3 or 1)

// -----

optim.optimizer @c rule #optim.rule<sgd> learning_rate 12abc {
  optim.param "w" : tensor<4xf32>
}
// ERR: bad-numbers.mlir:16:56: error: custom op 'optim.optimizer' expected a number (such as 0.001, 1e-3 or 1)

// -----

optim.optimizer @d rule #optim.rule<sgd, momentum = fast> learning_rate 0.1 {
  optim.param "w" : tensor<4xf32>
}
// ERR: bad-numbers.mlir:23:53: error: expected true, false or a number (such as 0.001, 1e-3 or 1)
