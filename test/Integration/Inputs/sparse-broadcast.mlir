// MindSpore's parallel optimizer: LazyAdam with a sparse embedding, sharded
// with broadcast_params (parameter i updated by rank i mod N).
optim.optimizer @sp rule #optim.rule<lazy_adam> learning_rate 0.01 loss_scale 4.0 sharding <broadcast_params> {
  optim.param "emb" : tensor<50x8xf32> sparse
  optim.param "w" : tensor<7x5xf32>
  optim.param "b" : tensor<5xf32>
  optim.param "v" : tensor<64xf32>
}
