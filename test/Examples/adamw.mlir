// RUN: optim-opt %optim_src_root/examples/adamw.mlir | FileCheck %s
// RUN: optim-opt %optim_src_root/examples/adamw.mlir | optim-opt | FileCheck %s

// CHECK: optim.optimizer @adamw rule <adam_weight_decay, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-06, use_amsgrad = false>
// CHECK-SAME: learning_rate #optim.cosine_decay<min_lr = 1.0e-05, max_lr = 0.001, decay_steps = 100>
// CHECK: optim.group weight_decay 1.000000e-02 grad_centralization {
// CHECK: optim.param "encoder.norm.beta" : tensor<64xf32>
