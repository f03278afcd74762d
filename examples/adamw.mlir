// AdamWeightDecay over a small transformer-shaped parameter set: two groups,
// a cosine learning-rate schedule, no decay on biases and norms.
optim.optimizer @adamw rule #optim.rule<adam_weight_decay, eps = 1.0e-6> learning_rate #optim.cosine_decay<min_lr = 1.0e-05, max_lr = 1.0e-03, decay_steps = 100> attributes {weight_decay = 1.0e-02} {
  optim.group weight_decay 1.0e-02 grad_centralization {
    optim.param "encoder.attn.qkv.weight" : tensor<192x64xf32>
    optim.param "encoder.attn.out.weight" : tensor<64x64xf32>
    optim.param "encoder.ffn.fc1.weight" : tensor<256x64xf32>
    optim.param "encoder.ffn.fc2.weight" : tensor<64x256xf32>
  }
  optim.group weight_decay 0.0 {
    optim.param "encoder.attn.qkv.bias" : tensor<192xf32>
    optim.param "encoder.ffn.fc1.bias" : tensor<256xf32>
    optim.param "encoder.norm.gamma" : tensor<64xf32>
    optim.param "encoder.norm.beta" : tensor<64xf32>
  }
}
