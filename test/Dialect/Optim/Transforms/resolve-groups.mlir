// RUN: optim-opt %s --optim-resolve-groups --split-input-file | FileCheck %s
// The resolved form is a fixed point.
// RUN: optim-opt %s --optim-resolve-groups --split-input-file | optim-opt --optim-resolve-groups --split-input-file | FileCheck %s

// Ungrouped: one group with the optimizer's learning rate and weight decay;
// MindSpore's filter takes decay off names holding "beta" or "gamma"; a
// decay written in the input is kept.
optim.optimizer @ungrouped rule #optim.rule<momentum, momentum = 0.9> learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 4> weight_decay 0.01 {
  optim.param "w" : tensor<8x16xf32>
  optim.param "norm.gamma" : tensor<16xf32>
  optim.param "norm.beta" : tensor<16xf32>
  optim.param "bias" : tensor<16xf32> decay false
}
// CHECK-LABEL: optim.optimizer @ungrouped
// CHECK-NEXT:  optim.group learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 4> weight_decay 1.000000e-02 {
// CHECK-NEXT:    optim.param "w" : tensor<8x16xf32> decay true
// CHECK-NEXT:    optim.param "norm.gamma" : tensor<16xf32> decay false
// CHECK-NEXT:    optim.param "norm.beta" : tensor<16xf32> decay false
// CHECK-NEXT:    optim.param "bias" : tensor<16xf32> decay false
// CHECK-NEXT:  }
// CHECK-NEXT: }

// -----

// Ungrouped without weight decay: nothing decays, whatever the names.
optim.optimizer @no_decay rule #optim.rule<sgd> learning_rate 0.1 {
  optim.param "w" : tensor<4xf32>
}
// CHECK-LABEL: optim.optimizer @no_decay
// CHECK:       optim.group learning_rate 1.000000e-01 : f64 weight_decay 0.000000e+00 {
// CHECK-NEXT:    optim.param "w" : tensor<4xf32> decay false

// -----

// Grouped: omitted values are inherited, every parameter of a group decays
// (no filter), a sparse one only where the group's decay is positive;
// centralization and order_params stay.
optim.optimizer @grouped rule #optim.rule<lazy_adam> learning_rate 0.001 weight_decay 0.1 {
  optim.group learning_rate dense<[0.1, 0.2]> : tensor<2xf64> grad_centralization {
    optim.param "conv" : tensor<4x16x3x3xf32>
    optim.param "gamma" : tensor<16xf32>
  }
  optim.group weight_decay 0.0 {
    optim.param "emb" : tensor<10x4xf32> sparse
    optim.param "w" : tensor<7xf32>
  }
  optim.order_params ["w", "conv", "gamma", "emb"]
}
// CHECK-LABEL: optim.optimizer @grouped
// CHECK-NEXT:  optim.group learning_rate dense<[1.000000e-01, 2.000000e-01]> : tensor<2xf64> weight_decay 1.000000e-01 grad_centralization {
// CHECK-NEXT:    optim.param "conv" : tensor<4x16x3x3xf32> decay true
// CHECK-NEXT:    optim.param "gamma" : tensor<16xf32> decay true
// CHECK:       optim.group learning_rate 1.000000e-03 : f64 weight_decay 0.000000e+00 {
// CHECK-NEXT:    optim.param "emb" : tensor<10x4xf32> sparse decay false
// CHECK-NEXT:    optim.param "w" : tensor<7xf32> decay true
// CHECK:       optim.order_params ["w", "conv", "gamma", "emb"]
