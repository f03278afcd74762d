// bfloat16 parameters with float32 masters (one with bfloat16 moments)
// next to a float32 one, with clipping and dynamic loss scaling.
optim.optimizer @bfm rule #optim.rule<adam_weight_decay, eps = 1.0e-6> learning_rate 1.0e-03 weight_decay 0.01 loss_scale 1024 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 3, min_scale = 1.0> max_grad_norm 1 {
  optim.param "w" : tensor<64x33xbf16> master f32
  optim.param "b" : tensor<33xbf16> master f32 states bf16
  optim.param "ln.gamma" : tensor<64xf32>
}
