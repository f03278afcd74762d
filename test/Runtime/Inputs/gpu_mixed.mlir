// Mixed precision on the GPU runtime: float32 masters of bfloat16 and
// float16 parameters, bfloat16 moments next to a master, float32 moments
// of a float16 parameter without one, and a plain float32 parameter.
optim.optimizer @gmix rule #optim.rule<adam_weight_decay, eps = 1.0e-6> learning_rate 1.0e-03 attributes {weight_decay = 1.0e-02} {
  optim.param "w" : tensor<4x33xbf16> master f32
  optim.param "g" : tensor<8xf32>
  optim.param "b" : tensor<9xbf16> master f32 states bf16
  optim.param "h" : tensor<17xf16> master f32
  optim.param "e" : tensor<5xf16> states f32
}
