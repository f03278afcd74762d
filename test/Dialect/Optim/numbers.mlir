// RUN: optim-opt %s --split-input-file | FileCheck %s
// RUN: optim-opt %s --split-input-file | optim-opt --split-input-file | FileCheck %s
// RUN: not optim-opt %S/Inputs/bad-numbers.mlir --split-input-file 2>&1 | FileCheck %S/Inputs/bad-numbers.mlir --check-prefix=ERR

// Numbers are written as users of the frameworks write them: `1e-3`,
// `0.001`, `1`, `2.5E+4`; `1.0e-03 : f64` (MLIR's float syntax with a type)
// still reads.

// CHECK-LABEL: optim.optimizer @exponent
// CHECK-SAME: learning_rate 1.000000e-03 : f64 weight_decay 1.000000e-02 loss_scale 1.024000e+03 {
// CHECK:      optim.group learning_rate 5.000000e-04 : f64 weight_decay 0.000000e+00 {
optim.optimizer @exponent rule #optim.rule<adam, beta1 = 9e-1, beta2 = 0.999, eps = 1E-8> learning_rate 1e-3 weight_decay 1e-2 loss_scale 1024 {
  optim.group learning_rate 5e-4 weight_decay 0 {
    optim.param "w" : tensor<4xf32>
  }
}

// -----

// CHECK-LABEL: optim.optimizer @integers
// CHECK-SAME: learning_rate 1.000000e+00 : f64 weight_decay 2.500000e-01
optim.optimizer @integers rule #optim.rule<sgd> learning_rate 1 weight_decay 0.25 {
  optim.param "w" : tensor<4xf32>
}

// -----

// CHECK-LABEL: optim.optimizer @typed
// CHECK-SAME: learning_rate 1.000000e-03 : f32
optim.optimizer @typed rule #optim.rule<sgd> learning_rate 1.0e-03 : f32 {
  optim.param "w" : tensor<4xf32>
}

// -----

// CHECK-LABEL: optim.optimizer @lists
// CHECK-SAME: learning_rate #optim.per_step<[0.001, 0.0005, 0.00025]>
// CHECK:      optim.group learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 4>
optim.optimizer @lists rule #optim.rule<sgd> learning_rate #optim.per_step<[1e-3, 5e-4, 2.5E-4]> {
  optim.group learning_rate #optim.warmup<learning_rate = 1e-1, warmup_steps = 4> {
    optim.param "w" : tensor<4xf32>
  }
}
