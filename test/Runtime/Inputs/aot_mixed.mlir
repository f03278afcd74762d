// AdamW with float32 master weights next to a float32 parameter: each
// buffer goes to the table of its own dtype (docs/Mixed-precision.md).
optim.optimizer @amp_adamw rule #optim.rule<adam_weight_decay, eps = 1.0e-6> learning_rate 1.0e-02 attributes {weight_decay = 1.0e-02} {
  optim.param "w" : tensor<4x33xbf16> master f32
  optim.param "h" : tensor<17xf16> master f32
  optim.param "ln.gamma" : tensor<8xf32>
  optim.param "b" : tensor<9xbf16> master f32 states bf16
}
