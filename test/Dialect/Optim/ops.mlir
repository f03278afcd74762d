// RUN: optim-opt %s | FileCheck %s
// RUN: optim-opt %s | optim-opt | FileCheck %s
// RUN: optim-opt %s --mlir-print-op-generic | optim-opt | FileCheck %s

// Round trips of every op and attribute of the optim dialect: the custom
// form, the printed form read back, and the generic form read back.

//===----------------------------------------------------------------------===//
// Declarative level: optim.optimizer, optim.group, optim.param,
// optim.order_params
//===----------------------------------------------------------------------===//

// Defaults are elided from the op and filled into the rule.
// CHECK-LABEL: optim.optimizer @sgd_defaults
// CHECK-SAME: rule <sgd, momentum = 0.0, dampening = 0.0, nesterov = false>
// CHECK-SAME: learning_rate 1.000000e-01 : f64 {{{$}}
// CHECK-NEXT: optim.param "w" : tensor<4x3xf32>{{$}}
// CHECK-NEXT: }
optim.optimizer @sgd_defaults rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4x3xf32>
}

// Every optional optimizer setting, spelled in the custom form.
// CHECK-LABEL: optim.optimizer @all_settings
// CHECK-SAME: rule <sgd, momentum = 0.9, dampening = 0.0, nesterov = true>
// CHECK-SAME: learning_rate 5.000000e-01 : f32 weight_decay 1.000000e-04
// CHECK-SAME: loss_scale 1.024000e+03 target <GPU> unique false {{{$}}
// CHECK-NEXT: optim.param "conv.weight" : tensor<8x16x3x3xf32>
// CHECK-NEXT: optim.param "conv.bias" : tensor<8xbf16>
// CHECK-NEXT: optim.param "scale" : tensor<f16>
optim.optimizer @all_settings rule #optim.rule<sgd, momentum = 0.9, nesterov = true>
    learning_rate 0.5 : f32 weight_decay 1.0e-04 loss_scale 1024.0
    target <GPU> unique false {
  optim.param "conv.weight" : tensor<8x16x3x3xf32>
  optim.param "conv.bias" : tensor<8xbf16>
  optim.param "scale" : tensor<f16>
}

// How a distributed runtime divides the update among ranks.
// CHECK-LABEL: optim.optimizer @sharded_broadcast
// CHECK-SAME: sharding <broadcast_params> {{{$}}
optim.optimizer @sharded_broadcast rule #optim.rule<sgd> learning_rate 0.1
    sharding <broadcast_params> {
  optim.param "w" : tensor<4x3xf32>
}
// CHECK-LABEL: optim.optimizer @sharded_zero
// CHECK-SAME: unique false sharding <zero> {{{$}}
optim.optimizer @sharded_zero rule #optim.rule<adam> learning_rate 0.1
    unique false sharding <zero> {
  optim.param "w" : tensor<4x3xf32>
}

// Settings given as an attribute dictionary print in the custom form;
// settings equal to their defaults are elided.
// CHECK-LABEL: optim.optimizer @settings_as_attributes
// CHECK-SAME: learning_rate 1.000000e-03 : f64 weight_decay 1.000000e-02 {{{$}}
optim.optimizer @settings_as_attributes rule #optim.rule<adam_weight_decay>
    learning_rate 1.0e-03 : f64
    attributes {weight_decay = 1.0e-02, loss_scale = 1.0, target = #optim.target<CPU>, unique = true} {
  optim.param "w" : tensor<4xf32>
}

// Discardable attributes survive.
// CHECK-LABEL: optim.optimizer @discardable
// CHECK-SAME: attributes {note = "kept"} {
optim.optimizer @discardable rule #optim.rule<sgd> learning_rate 0.1 : f64
    attributes {note = "kept"} {
  optim.param "w" : tensor<4xf32>
}

//===----------------------------------------------------------------------===//
// #optim.rule: every rule kind, its hyper-parameters and options
//===----------------------------------------------------------------------===//

// CHECK-LABEL: optim.optimizer @rule_sgd
// CHECK-SAME: rule <sgd, momentum = 0.5, dampening = 0.1, nesterov = false>
optim.optimizer @rule_sgd rule #optim.rule<sgd, momentum = 0.5, dampening = 0.1> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_momentum_nesterov
// CHECK-SAME: rule <momentum, momentum = 0.99, use_nesterov = true>
optim.optimizer @rule_momentum_nesterov rule #optim.rule<momentum, use_nesterov = true, momentum = 0.99> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_momentum_defaults
// CHECK-SAME: rule <momentum, momentum = 0.9, use_nesterov = false>
optim.optimizer @rule_momentum_defaults rule #optim.rule<momentum> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_adam_all_options
// CHECK-SAME: rule <adam, beta1 = 0.8, beta2 = 0.99, eps = 1.0e-06, use_nesterov = true, use_amsgrad = true>
optim.optimizer @rule_adam_all_options rule #optim.rule<adam, beta1 = 0.8, beta2 = 0.99, eps = 1.0e-06, use_nesterov = true, use_amsgrad = true> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_adam_defaults
// CHECK-SAME: rule <adam, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, use_nesterov = false, use_amsgrad = false>
optim.optimizer @rule_adam_defaults rule #optim.rule<adam> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_adam_weight_decay
// CHECK-SAME: rule <adam_weight_decay, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-06, use_amsgrad = false>
optim.optimizer @rule_adam_weight_decay rule #optim.rule<adam_weight_decay> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_lamb
// CHECK-SAME: rule <lamb, beta1 = 0.85, beta2 = 0.999, eps = 1.0e-06>
optim.optimizer @rule_lamb rule #optim.rule<lamb, beta1 = 0.85> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_lars
// CHECK-SAME: rule <lars, momentum = 0.9, epsilon = 0.0, coefficient = 0.002, use_nesterov = false>
optim.optimizer @rule_lars rule #optim.rule<lars, epsilon = 0.0, coefficient = 0.002> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_adagrad
// CHECK-SAME: rule <adagrad, accum = 0.0, update_slots = false>
optim.optimizer @rule_adagrad rule #optim.rule<adagrad, accum = 0.0, update_slots = false> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_rmsprop
// CHECK-SAME: rule <rmsprop, decay = 0.99, momentum = 0.5, epsilon = 1.0e-10, centered = true>
optim.optimizer @rule_rmsprop rule #optim.rule<rmsprop, decay = 0.99, momentum = 0.5, centered = true> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_ftrl
// CHECK-SAME: rule <ftrl, initial_accum = 0.1, lr_power = -0.5, l1 = 0.001, l2 = 0.0>
optim.optimizer @rule_ftrl rule #optim.rule<ftrl, l1 = 1.0e-03> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_proximal_adagrad
// CHECK-SAME: rule <proximal_adagrad, accum = 0.1, l1 = 0.0, l2 = 0.01>
optim.optimizer @rule_proximal_adagrad rule #optim.rule<proximal_adagrad, l2 = 0.01> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_adamax
// CHECK-SAME: rule <adamax, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08>
optim.optimizer @rule_adamax rule #optim.rule<adamax> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_adadelta
// CHECK-SAME: rule <adadelta, rho = 1.0, epsilon = 1.0e-06>
optim.optimizer @rule_adadelta rule #optim.rule<adadelta, rho = 1.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_asgd_alpha
// CHECK-SAME: rule <asgd, lambd = 0.0001, alpha = -0.5, t0 = 1.0e+06>
optim.optimizer @rule_asgd_alpha rule #optim.rule<asgd, alpha = -0.5> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// A value without a short decimal form prints as hex and reads back.
// CHECK-LABEL: optim.optimizer @rule_asgd_infinite_t0
// CHECK-SAME: rule <asgd, lambd = 0.0001, alpha = 0.75, t0 = 0x7FF0000000000000>
optim.optimizer @rule_asgd_infinite_t0 rule #optim.rule<asgd, t0 = 0x7FF0000000000000> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_rprop
// CHECK-SAME: rule <rprop, etaminus = 0.5, etaplus = 1.2, min_step = 1.0e-06, max_step = 5.0e+01>
optim.optimizer @rule_rprop rule #optim.rule<rprop> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @rule_lazy_adam
// CHECK-SAME: rule <lazy_adam, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, use_nesterov = true>
// CHECK-NEXT: optim.param "embedding" : tensor<1000x64xf32> sparse{{$}}
// CHECK-NEXT: optim.param "dense" : tensor<64x8xf32>{{$}}
optim.optimizer @rule_lazy_adam rule #optim.rule<lazy_adam, use_nesterov = true> learning_rate 0.1 : f64 {
  optim.param "embedding" : tensor<1000x64xf32> sparse
  optim.param "dense" : tensor<64x8xf32>
}

//===----------------------------------------------------------------------===//
// Learning rates: constants, dense tensors, lists and schedules
//===----------------------------------------------------------------------===//

// CHECK-LABEL: optim.optimizer @lr_zero
// CHECK-SAME: learning_rate 0.000000e+00 : f32 {
optim.optimizer @lr_zero rule #optim.rule<sgd> learning_rate 0.0 : f32 {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_rank0_tensor
// CHECK-SAME: learning_rate dense<1.000000e-01> : tensor<f32> {
optim.optimizer @lr_rank0_tensor rule #optim.rule<sgd> learning_rate dense<0.1> : tensor<f32> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_rank1_tensor
// CHECK-SAME: learning_rate dense<[1.000000e-01, 5.000000e-02, 0.000000e+00]> : tensor<3xf64> {
optim.optimizer @lr_rank1_tensor rule #optim.rule<sgd> learning_rate dense<[0.1, 0.05, 0.0]> : tensor<3xf64> {
  optim.param "w" : tensor<4xf32>
}

// Negative zero is a valid learning rate, as a float and in a tensor.
// CHECK-LABEL: optim.optimizer @lr_negative_zero
// CHECK-SAME: learning_rate -0.000000e+00 : f64 {
// CHECK: optim.group learning_rate dense<[-0.000000e+00, 1.000000e-01]> : tensor<2xf32> {
optim.optimizer @lr_negative_zero rule #optim.rule<sgd> learning_rate -0.0 : f64 {
  optim.group learning_rate dense<[-0.0, 0.1]> : tensor<2xf32> {
    optim.param "w" : tensor<4xf32>
  }
}

// CHECK-LABEL: optim.optimizer @lr_per_step
// CHECK-SAME: learning_rate #optim.per_step<[0.1, 0.05, 0.025]> {
optim.optimizer @lr_per_step rule #optim.rule<sgd> learning_rate #optim.per_step<[1.0e-01, 5.0e-02, 2.5e-02]> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_exponential_decay
// CHECK-SAME: learning_rate #optim.exponential_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = false> {
optim.optimizer @lr_exponential_decay rule #optim.rule<sgd> learning_rate #optim.exponential_decay<learning_rate = 1.0e-01, decay_rate = 9.0e-01, decay_steps = 4, is_stair = false> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_natural_exp_decay
// CHECK-SAME: learning_rate #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.5, decay_steps = 2, is_stair = true> {
optim.optimizer @lr_natural_exp_decay rule #optim.rule<sgd> learning_rate #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.5, decay_steps = 2, is_stair = true> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_inverse_decay
// CHECK-SAME: learning_rate #optim.inverse_decay<learning_rate = 0.1, decay_rate = 2.0, decay_steps = 10, is_stair = false> {
optim.optimizer @lr_inverse_decay rule #optim.rule<sgd> learning_rate #optim.inverse_decay<learning_rate = 0.1, decay_rate = 2.0, decay_steps = 10, is_stair = false> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_cosine_decay
// CHECK-SAME: learning_rate #optim.cosine_decay<min_lr = 0.0, max_lr = 0.001, decay_steps = 100> {
optim.optimizer @lr_cosine_decay rule #optim.rule<sgd> learning_rate #optim.cosine_decay<min_lr = 0.0, max_lr = 1.0e-03, decay_steps = 100> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_polynomial_decay
// CHECK-SAME: learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = 0.01, decay_steps = 10, power = 2.0, update_decay_steps = true> {
optim.optimizer @lr_polynomial_decay rule #optim.rule<sgd> learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = 0.01, decay_steps = 10, power = 2.0, update_decay_steps = true> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_warmup
// CHECK-SAME: learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 10> {
optim.optimizer @lr_warmup rule #optim.rule<sgd> learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 10> {
  optim.param "w" : tensor<4xf32>
}

// CHECK-LABEL: optim.optimizer @lr_piecewise
// CHECK-SAME: learning_rate #optim.piecewise<milestones = [2, 5, 10], values = [0.1, 0.05, 0.01]> {
optim.optimizer @lr_piecewise rule #optim.rule<sgd> learning_rate #optim.piecewise<milestones = [2, 5, 10], values = [1.0e-01, 5.0e-02, 1.0e-02]> {
  optim.param "w" : tensor<4xf32>
}

//===----------------------------------------------------------------------===//
// Groups and order_params
//===----------------------------------------------------------------------===//

// CHECK-LABEL: optim.optimizer @groups
// CHECK-SAME: rule <momentum, momentum = 0.9, use_nesterov = false> learning_rate 1.000000e-01 : f64 weight_decay 1.000000e-04 {
// CHECK-NEXT:   optim.group learning_rate 1.000000e-02 : f64 weight_decay 0.000000e+00 grad_centralization {
// CHECK-NEXT:     optim.param "conv.weight" : tensor<32x16x3x3xf32>
// CHECK-NEXT:     optim.param "conv.bias" : tensor<32xf32>
// CHECK-NEXT:   }
// CHECK-NEXT:   optim.group weight_decay 5.000000e-04 {
// CHECK-NEXT:     optim.param "fc.weight" : tensor<10x32xf32>
// CHECK-NEXT:   }
// CHECK-NEXT:   optim.group {
// CHECK-NEXT:     optim.param "bn.gamma" : tensor<32xf32>
// CHECK-NEXT:   }
// CHECK-NEXT:   optim.order_params ["fc.weight", "bn.gamma", "conv.bias", "conv.weight"]
// CHECK-NEXT: }
optim.optimizer @groups rule #optim.rule<momentum> learning_rate 0.1 : f64 weight_decay 1.0e-04 {
  optim.group learning_rate 1.0e-02 : f64 weight_decay 0.0 grad_centralization {
    optim.param "conv.weight" : tensor<32x16x3x3xf32>
    optim.param "conv.bias" : tensor<32xf32>
  }
  optim.group weight_decay 5.0e-04 {
    optim.param "fc.weight" : tensor<10x32xf32>
  }
  optim.group {
    optim.param "bn.gamma" : tensor<32xf32>
  }
  optim.order_params ["fc.weight", "bn.gamma", "conv.bias", "conv.weight"]
}

// Group learning rates of every kind; per-step lists of the same length
// (the optimizer's own list is used by the group that has no lr).
// CHECK-LABEL: optim.optimizer @group_learning_rates
// CHECK-SAME: learning_rate dense<[1.000000e-01, 2.000000e-01]> : tensor<2xf32> loss_scale 6.400000e+01 {
// CHECK-NEXT:   optim.group learning_rate #optim.per_step<[0.3, 0.4]> {
// CHECK:        optim.group learning_rate dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf64> {
// CHECK:        optim.group learning_rate dense<5.000000e-01> : tensor<f32> {
// CHECK:        optim.group learning_rate #optim.cosine_decay<min_lr = 0.0, max_lr = 0.1, decay_steps = 5> {
// CHECK:        optim.group learning_rate 0.000000e+00 : f64 {
// CHECK:        optim.group {
// CHECK-NEXT:     optim.param "e" : tensor<4xf32>
optim.optimizer @group_learning_rates rule #optim.rule<adam> learning_rate dense<[0.1, 0.2]> : tensor<2xf32> loss_scale 64.0 {
  optim.group learning_rate #optim.per_step<[0.3, 0.4]> {
    optim.param "a" : tensor<4xf32>
  }
  optim.group learning_rate dense<[0.5, 0.25]> : tensor<2xf64> {
    optim.param "b2" : tensor<4xf32>
  }
  optim.group learning_rate dense<0.5> : tensor<f32> {
    optim.param "b" : tensor<4xf32>
  }
  optim.group learning_rate #optim.cosine_decay<min_lr = 0.0, max_lr = 0.1, decay_steps = 5> {
    optim.param "c" : tensor<4xf32>
  }
  optim.group learning_rate 0.0 : f64 {
    optim.param "d" : tensor<4xf32>
  }
  optim.group {
    optim.param "e" : tensor<4xf32>
  }
}

// Sparse parameters in groups, with the sparse settings (`target <CPU>` is
// the default and is elided).
// CHECK-LABEL: optim.optimizer @sparse_groups
// CHECK-SAME: rule <lazy_adam, {{.*}}> learning_rate 1.000000e-03 : f64 unique false {
// CHECK-NEXT:   optim.group learning_rate 1.000000e-02 : f64 {
// CHECK-NEXT:     optim.param "embedding.user" : tensor<100x16xf32> sparse
// CHECK-NEXT:     optim.param "embedding.item" : tensor<50x16xf32> sparse
// CHECK-NEXT:   }
// CHECK-NEXT:   optim.group {
// CHECK-NEXT:     optim.param "head" : tensor<16xf32>
// CHECK-NEXT:   }
// CHECK-NEXT:   optim.order_params ["head", "embedding.item", "embedding.user"]
optim.optimizer @sparse_groups rule #optim.rule<lazy_adam> learning_rate 1.0e-03 : f64 unique false {
  optim.group learning_rate 1.0e-02 : f64 {
    optim.param "embedding.user" : tensor<100x16xf32> sparse
    optim.param "embedding.item" : tensor<50x16xf32> sparse
  }
  optim.group {
    optim.param "head" : tensor<16xf32>
  }
  optim.order_params ["head", "embedding.item", "embedding.user"]
}

//===----------------------------------------------------------------------===//
// Compute level: base-class features
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @learning_rate
// CHECK-SAME: (%[[STEP:.*]]: i64)
func.func @learning_rate(%step: i64) -> (f32, f32, f32, f32, f32, f32, f32, f32) {
  // CHECK: %[[L0:.*]] = optim.learning_rate #optim.exponential_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = true> at %[[STEP]]
  %0 = optim.learning_rate #optim.exponential_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = true> at %step
  // CHECK: %[[L1:.*]] = optim.learning_rate #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = false> at %[[STEP]]
  %1 = optim.learning_rate #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = false> at %step
  // CHECK: %[[L2:.*]] = optim.learning_rate #optim.inverse_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = true> at %[[STEP]]
  %2 = optim.learning_rate #optim.inverse_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = true> at %step
  // CHECK: %[[L3:.*]] = optim.learning_rate #optim.cosine_decay<min_lr = 1.0e-05, max_lr = 0.001, decay_steps = 100> at %[[STEP]]
  %3 = optim.learning_rate #optim.cosine_decay<min_lr = 1.0e-05, max_lr = 1.0e-03, decay_steps = 100> at %step
  // CHECK: %[[L4:.*]] = optim.learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = 0.01, decay_steps = 10, power = 0.5, update_decay_steps = false> at %[[STEP]]
  %4 = optim.learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = 0.01, decay_steps = 10, power = 0.5, update_decay_steps = false> at %step
  // CHECK: %[[L5:.*]] = optim.learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 10> at %[[STEP]]
  %5 = optim.learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 10> at %step
  // CHECK: %[[L6:.*]] = optim.learning_rate #optim.per_step<[0.1, 0.05, 0.025]> at %[[STEP]]
  %6 = optim.learning_rate #optim.per_step<[0.1, 0.05, 0.025]> at %step
  // CHECK: %[[L7:.*]] = optim.learning_rate #optim.piecewise<milestones = [2, 5], values = [0.1, 0.01]> at %[[STEP]]
  %7 = optim.learning_rate #optim.piecewise<milestones = [2, 5], values = [0.1, 0.01]> at %step
  // CHECK: return %[[L0]], %[[L1]], %[[L2]], %[[L3]], %[[L4]], %[[L5]], %[[L6]], %[[L7]] : f32, f32, f32, f32, f32, f32, f32, f32
  return %0, %1, %2, %3, %4, %5, %6, %7 : f32, f32, f32, f32, f32, f32, f32, f32
}

// CHECK-LABEL: func.func @scale_decay_centralize_static
// CHECK-SAME: (%[[G:[^:]*]]: tensor<8x16x3x3xf32>, %[[P:[^:]*]]: tensor<8x16x3x3xf32>, %[[S:[^:]*]]: f32, %[[WD:[^:]*]]: f32)
func.func @scale_decay_centralize_static(%g: tensor<8x16x3x3xf32>, %p: tensor<8x16x3x3xf32>, %scale: f32, %wd: f32) -> tensor<8x16x3x3xf32> {
  // CHECK: %[[D:.*]] = optim.decay_weight %[[G]], %[[P]] by %[[WD]] : tensor<8x16x3x3xf32>
  %0 = optim.decay_weight %g, %p by %wd : tensor<8x16x3x3xf32>
  // CHECK: %[[C:.*]] = optim.centralize %[[D]] : tensor<8x16x3x3xf32>
  %1 = optim.centralize %0 : tensor<8x16x3x3xf32>
  // CHECK: %[[R:.*]] = optim.scale_grad %[[C]] by %[[S]] : tensor<8x16x3x3xf32>
  %2 = optim.scale_grad %1 by %scale : tensor<8x16x3x3xf32>
  // CHECK: return %[[R]]
  return %2 : tensor<8x16x3x3xf32>
}

// Other element types and dynamic shapes.
// CHECK-LABEL: func.func @scale_decay_centralize_dynamic
func.func @scale_decay_centralize_dynamic(%g: tensor<?x?xbf16>, %p: tensor<?x?xbf16>, %h: tensor<4xf16>, %x: f32) -> (tensor<?x?xbf16>, tensor<4xf16>) {
  // CHECK: optim.decay_weight %{{.*}}, %{{.*}} by %{{.*}} : tensor<?x?xbf16>
  %0 = optim.decay_weight %g, %p by %x : tensor<?x?xbf16>
  // CHECK: optim.centralize %{{.*}} : tensor<?x?xbf16>
  %1 = optim.centralize %0 : tensor<?x?xbf16>
  // CHECK: optim.scale_grad %{{.*}} by %{{.*}} : tensor<4xf16>
  %2 = optim.scale_grad %h by %x : tensor<4xf16>
  return %1, %2 : tensor<?x?xbf16>, tensor<4xf16>
}

// CHECK-LABEL: func.func @norm_finite_broadcast
// CHECK-SAME: (%[[A:[^:]*]]: tensor<4x4xf32>, %[[B:[^:]*]]: tensor<4xbf16>)
func.func @norm_finite_broadcast(%a: tensor<4x4xf32>, %b: tensor<4xbf16>) -> (f32, f32, i1, tensor<4x4xf32>, tensor<4xbf16>, tensor<4xbf16>) {
  // CHECK: %[[N:.*]] = optim.global_norm %[[A]], %[[B]] : tensor<4x4xf32>, tensor<4xbf16>
  %n = optim.global_norm %a, %b : tensor<4x4xf32>, tensor<4xbf16>
  // CHECK: %[[N1:.*]] = optim.global_norm %[[B]] : tensor<4xbf16>
  %n1 = optim.global_norm %b : tensor<4xbf16>
  // CHECK: %[[OK:.*]] = optim.all_finite %[[A]], %[[B]] : tensor<4x4xf32>, tensor<4xbf16>
  %ok = optim.all_finite %a, %b : tensor<4x4xf32>, tensor<4xbf16>
  // CHECK: %[[BC:.*]]:2 = optim.broadcast_params %[[A]], %[[B]] num_ranks 2 : tensor<4x4xf32>, tensor<4xbf16>
  %p:2 = optim.broadcast_params %a, %b num_ranks 2 : tensor<4x4xf32>, tensor<4xbf16>
  // CHECK: %[[BC1:.*]] = optim.broadcast_params %[[B]] num_ranks 8 : tensor<4xbf16>
  %q = optim.broadcast_params %b num_ranks 8 : tensor<4xbf16>
  // CHECK: return %[[N]], %[[N1]], %[[OK]], %[[BC]]#0, %[[BC]]#1, %[[BC1]]
  return %n, %n1, %ok, %p#0, %p#1, %q : f32, f32, i1, tensor<4x4xf32>, tensor<4xbf16>, tensor<4xbf16>
}

// CHECK-LABEL: func.func @unique
// CHECK-SAME: (%[[I32:[^:]*]]: tensor<6xi32>, %[[ROWS:[^:]*]]: tensor<6x8xf32>, %[[I64:[^:]*]]: tensor<?xi64>, %[[ROWS3:[^:]*]]: tensor<?x2x3xf16>)
func.func @unique(%i32: tensor<6xi32>, %rows: tensor<6x8xf32>, %i64: tensor<?xi64>, %rows3: tensor<?x2x3xf16>) -> (tensor<?xi32>, tensor<?x8xf32>, tensor<?xi64>, tensor<?x2x3xf16>) {
  // CHECK: %[[UI:[a-z_0-9]+]], %[[UV:[a-z_0-9]+]] = optim.unique %[[I32]], %[[ROWS]] : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<?x8xf32>
  %i, %v = optim.unique %i32, %rows : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<?x8xf32>
  // CHECK: %[[WI:[a-z_0-9]+]], %[[WV:[a-z_0-9]+]] = optim.unique %[[I64]], %[[ROWS3]] : tensor<?xi64>, tensor<?x2x3xf16> -> tensor<?xi64>, tensor<?x2x3xf16>
  %j, %w = optim.unique %i64, %rows3 : tensor<?xi64>, tensor<?x2x3xf16> -> tensor<?xi64>, tensor<?x2x3xf16>
  // CHECK: return %[[UI]], %[[UV]], %[[WI]], %[[WV]]
  return %i, %v, %j, %w : tensor<?xi32>, tensor<?x8xf32>, tensor<?xi64>, tensor<?x2x3xf16>
}

//===----------------------------------------------------------------------===//
// Compute level: update rules
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @sgd_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[A:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[MU:[^:]*]]: f32, %[[D:[^:]*]]: f32, %[[T:[^:]*]]: i64)
func.func @sgd_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32, %mu: f32, %d: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R0:[a-z_0-9]+]], %[[R0S:[a-z_0-9]+]] = optim.sgd_update %[[P]], %[[G]], [%[[A]]] lr %[[LR]] momentum %[[MU]] dampening %[[D]] step %[[T]] : tensor<16xf32>
  %p1, %a1 = optim.sgd_update %p, %g, [%a] lr %lr momentum %mu dampening %d step %t : tensor<16xf32>
  // CHECK: %[[R1:[a-z_0-9]+]], %[[R1S:[a-z_0-9]+]] = optim.sgd_update %[[P]], %[[G]], [%[[A]]] lr %[[LR]] momentum %[[MU]] dampening %[[D]] step %[[T]] {nesterov} : tensor<16xf32>
  %p2, %a2 = optim.sgd_update %p, %g, [%a] lr %lr momentum %mu dampening %d step %t {nesterov} : tensor<16xf32>
  // CHECK: return %[[R0]], %[[R0S]], %[[R1]], %[[R1S]]
  return %p1, %a1, %p2, %a2 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @momentum_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<4x8xbf16>, %[[G:[^:]*]]: tensor<4x8xbf16>, %[[V:[^:]*]]: tensor<4x8xbf16>, %[[LR:[^:]*]]: f32, %[[MU:[^:]*]]: f32)
func.func @momentum_update(%p: tensor<4x8xbf16>, %g: tensor<4x8xbf16>, %v: tensor<4x8xbf16>, %lr: f32, %mu: f32) -> (tensor<4x8xbf16>, tensor<4x8xbf16>) {
  // CHECK: %{{.*}}, %{{.*}} = optim.momentum_update %[[P]], %[[G]], [%[[V]]] lr %[[LR]] momentum %[[MU]] : tensor<4x8xbf16>
  %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu : tensor<4x8xbf16>
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]] = optim.momentum_update %[[P]], %[[G]], [%[[V]]] lr %[[LR]] momentum %[[MU]] {use_nesterov} : tensor<4x8xbf16>
  %p2, %v2 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu {use_nesterov} : tensor<4x8xbf16>
  // CHECK: return %[[R]], %[[RS]]
  return %p2, %v2 : tensor<4x8xbf16>, tensor<4x8xbf16>
}

// CHECK-LABEL: func.func @adam_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[M:[^:]*]]: tensor<16xf32>, %[[V:[^:]*]]: tensor<16xf32>, %[[H:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[B1:[^:]*]]: f32, %[[B2:[^:]*]]: f32, %[[E:[^:]*]]: f32, %[[T:[^:]*]]: i64)
func.func @adam_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %h: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %{{.*}}, %{{.*}}:2 = optim.adam_update %[[P]], %[[G]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] step %[[T]] : tensor<16xf32>
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  // CHECK: %{{.*}}, %{{.*}}:2 = optim.adam_update %[[P]], %[[G]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] step %[[T]] {use_nesterov} : tensor<16xf32>
  %p2, %m2, %v2 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_nesterov} : tensor<16xf32>
  // AMSGrad carries vhat as a third state.
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:3 = optim.adam_update %[[P]], %[[G]], [%[[M]], %[[V]], %[[H]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] step %[[T]] {use_amsgrad, use_nesterov} : tensor<16xf32>
  %p3, %m3, %v3, %h3 = optim.adam_update %p, %g, [%m, %v, %h] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_amsgrad, use_nesterov} : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1, %[[RS]]#2
  return %p3, %m3, %v3, %h3 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adam_weight_decay_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<?x64xf32>, %[[G:[^:]*]]: tensor<?x64xf32>, %[[M:[^:]*]]: tensor<?x64xf32>, %[[V:[^:]*]]: tensor<?x64xf32>, %[[LR:[^:]*]]: f32, %[[B1:[^:]*]]: f32, %[[B2:[^:]*]]: f32, %[[E:[^:]*]]: f32, %[[WD:[^:]*]]: f32)
func.func @adam_weight_decay_update(%p: tensor<?x64xf32>, %g: tensor<?x64xf32>, %m: tensor<?x64xf32>, %v: tensor<?x64xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %wd: f32) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.adam_weight_decay_update %[[P]], %[[G]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] weight_decay %[[WD]] : tensor<?x64xf32>
  %p1, %m1, %v1 = optim.adam_weight_decay_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd : tensor<?x64xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p1, %m1, %v1 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// CHECK-LABEL: func.func @lamb_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[M:[^:]*]]: tensor<16xf32>, %[[V:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[B1:[^:]*]]: f32, %[[B2:[^:]*]]: f32, %[[E:[^:]*]]: f32, %[[WD:[^:]*]]: f32, %[[T:[^:]*]]: i64)
func.func @lamb_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %wd: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.lamb_update %[[P]], %[[G]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] weight_decay %[[WD]] step %[[T]] : tensor<16xf32>
  %p1, %m1, %v1 = optim.lamb_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p1, %m1, %v1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @lars_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[V:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[MU:[^:]*]]: f32, %[[E:[^:]*]]: f32, %[[C:[^:]*]]: f32, %[[WD:[^:]*]]: f32)
func.func @lars_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %mu: f32, %e: f32, %c: f32, %wd: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R0:[a-z_0-9]+]], %[[R0S:[a-z_0-9]+]] = optim.lars_update %[[P]], %[[G]], [%[[V]]] lr %[[LR]] momentum %[[MU]] epsilon %[[E]] coefficient %[[C]] weight_decay %[[WD]] : tensor<16xf32>
  %p1, %v1 = optim.lars_update %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd : tensor<16xf32>
  // CHECK: %[[R1:[a-z_0-9]+]], %[[R1S:[a-z_0-9]+]] = optim.lars_update %[[P]], %[[G]], [%[[V]]] lr %[[LR]] momentum %[[MU]] epsilon %[[E]] coefficient %[[C]] weight_decay %[[WD]] {use_nesterov} : tensor<16xf32>
  %p2, %v2 = optim.lars_update %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd {use_nesterov} : tensor<16xf32>
  // CHECK: return %[[R0]], %[[R0S]], %[[R1]], %[[R1S]]
  return %p1, %v1, %p2, %v2 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adagrad_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[A:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32)
func.func @adagrad_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R0:[a-z_0-9]+]], %[[R0S:[a-z_0-9]+]] = optim.adagrad_update %[[P]], %[[G]], [%[[A]]] lr %[[LR]] {update_slots} : tensor<16xf32>
  %p1, %a1 = optim.adagrad_update %p, %g, [%a] lr %lr {update_slots} : tensor<16xf32>
  // CHECK: %[[R1:[a-z_0-9]+]], %[[R1S:[a-z_0-9]+]] = optim.adagrad_update %[[P]], %[[G]], [%[[A]]] lr %[[LR]] : tensor<16xf32>
  %p2, %a2 = optim.adagrad_update %p, %g, [%a] lr %lr : tensor<16xf32>
  // CHECK: return %[[R0]], %[[R0S]], %[[R1]], %[[R1S]]
  return %p1, %a1, %p2, %a2 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @rmsprop_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[MG:[^:]*]]: tensor<16xf32>, %[[MS:[^:]*]]: tensor<16xf32>, %[[MOM:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[D:[^:]*]]: f32, %[[MU:[^:]*]]: f32, %[[E:[^:]*]]: f32)
func.func @rmsprop_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %mg: tensor<16xf32>, %ms: tensor<16xf32>, %mom: tensor<16xf32>, %lr: f32, %d: f32, %mu: f32, %e: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %{{.*}}, %{{.*}}:2 = optim.rmsprop_update %[[P]], %[[G]], [%[[MS]], %[[MOM]]] lr %[[LR]] decay %[[D]] momentum %[[MU]] epsilon %[[E]] : tensor<16xf32>
  %p1, %ms1, %mom1 = optim.rmsprop_update %p, %g, [%ms, %mom] lr %lr decay %d momentum %mu epsilon %e : tensor<16xf32>
  // Centered RMSProp carries mean_grad as its first state.
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:3 = optim.rmsprop_update %[[P]], %[[G]], [%[[MG]], %[[MS]], %[[MOM]]] lr %[[LR]] decay %[[D]] momentum %[[MU]] epsilon %[[E]] {centered} : tensor<16xf32>
  %p2, %mg2, %ms2, %mom2 = optim.rmsprop_update %p, %g, [%mg, %ms, %mom] lr %lr decay %d momentum %mu epsilon %e {centered} : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1, %[[RS]]#2
  return %p2, %mg2, %ms2, %mom2 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @ftrl_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[A:[^:]*]]: tensor<16xf32>, %[[L:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[PW:[^:]*]]: f32, %[[L1:[^:]*]]: f32, %[[L2:[^:]*]]: f32)
func.func @ftrl_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %l: tensor<16xf32>, %lr: f32, %pw: f32, %l1: f32, %l2: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.ftrl_update %[[P]], %[[G]], [%[[A]], %[[L]]] lr %[[LR]] lr_power %[[PW]] l1 %[[L1]] l2 %[[L2]] : tensor<16xf32>
  %p1, %a1, %lin1 = optim.ftrl_update %p, %g, [%a, %l] lr %lr lr_power %pw l1 %l1 l2 %l2 : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p1, %a1, %lin1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @proximal_adagrad_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[A:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[L1:[^:]*]]: f32, %[[L2:[^:]*]]: f32)
func.func @proximal_adagrad_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32, %l1: f32, %l2: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]] = optim.proximal_adagrad_update %[[P]], %[[G]], [%[[A]]] lr %[[LR]] l1 %[[L1]] l2 %[[L2]] : tensor<16xf32>
  %p1, %a1 = optim.proximal_adagrad_update %p, %g, [%a] lr %lr l1 %l1 l2 %l2 : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]
  return %p1, %a1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adamax_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf64>, %[[G:[^:]*]]: tensor<16xf64>, %[[M:[^:]*]]: tensor<16xf64>, %[[V:[^:]*]]: tensor<16xf64>, %[[LR:[^:]*]]: f32, %[[B1:[^:]*]]: f32, %[[B2:[^:]*]]: f32, %[[E:[^:]*]]: f32, %[[T:[^:]*]]: i64)
func.func @adamax_update(%p: tensor<16xf64>, %g: tensor<16xf64>, %m: tensor<16xf64>, %v: tensor<16xf64>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<16xf64>, tensor<16xf64>, tensor<16xf64>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.adamax_update %[[P]], %[[G]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] step %[[T]] : tensor<16xf64>
  %p1, %m1, %v1 = optim.adamax_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf64>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p1, %m1, %v1 : tensor<16xf64>, tensor<16xf64>, tensor<16xf64>
}

// CHECK-LABEL: func.func @adadelta_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[A:[^:]*]]: tensor<16xf32>, %[[U:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[RHO:[^:]*]]: f32, %[[E:[^:]*]]: f32)
func.func @adadelta_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %u: tensor<16xf32>, %lr: f32, %rho: f32, %e: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.adadelta_update %[[P]], %[[G]], [%[[A]], %[[U]]] lr %[[LR]] rho %[[RHO]] epsilon %[[E]] : tensor<16xf32>
  %p1, %a1, %u1 = optim.adadelta_update %p, %g, [%a, %u] lr %lr rho %rho epsilon %e : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p1, %a1, %u1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @asgd_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[X:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[LAMBD:[^:]*]]: f32, %[[ALPHA:[^:]*]]: f32, %[[T0:[^:]*]]: f32, %[[T:[^:]*]]: i64)
func.func @asgd_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %x: tensor<16xf32>, %lr: f32, %lambd: f32, %alpha: f32, %t0: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]] = optim.asgd_update %[[P]], %[[G]], [%[[X]]] lr %[[LR]] lambd %[[LAMBD]] alpha %[[ALPHA]] t0 %[[T0]] step %[[T]] : tensor<16xf32>
  %p1, %x1 = optim.asgd_update %p, %g, [%x] lr %lr lambd %lambd alpha %alpha t0 %t0 step %t : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]
  return %p1, %x1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @rprop_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[Q:[^:]*]]: tensor<16xf32>, %[[S:[^:]*]]: tensor<16xf32>, %[[LR:[^:]*]]: f32, %[[EM:[^:]*]]: f32, %[[EP:[^:]*]]: f32, %[[MIN:[^:]*]]: f32, %[[MAX:[^:]*]]: f32, %[[T:[^:]*]]: i64)
func.func @rprop_update(%p: tensor<16xf32>, %g: tensor<16xf32>, %q: tensor<16xf32>, %s: tensor<16xf32>, %lr: f32, %em: f32, %ep: f32, %min: f32, %max: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.rprop_update %[[P]], %[[G]], [%[[Q]], %[[S]]] lr %[[LR]] etaminus %[[EM]] etaplus %[[EP]] min_step %[[MIN]] max_step %[[MAX]] step %[[T]] : tensor<16xf32>
  %p1, %q1, %s1 = optim.rprop_update %p, %g, [%q, %s] lr %lr etaminus %em etaplus %ep min_step %min max_step %max step %t : tensor<16xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p1, %q1, %s1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @lazy_adam_update
// CHECK-SAME: (%[[P:[^:]*]]: tensor<100x8xf32>, %[[I:[^:]*]]: tensor<?xi32>, %[[ROWS:[^:]*]]: tensor<?x8xf32>, %[[M:[^:]*]]: tensor<100x8xf32>, %[[V:[^:]*]]: tensor<100x8xf32>, %[[LR:[^:]*]]: f32, %[[B1:[^:]*]]: f32, %[[B2:[^:]*]]: f32, %[[E:[^:]*]]: f32, %[[T:[^:]*]]: i64, %[[I64:[^:]*]]: tensor<3xi64>, %[[ROWS3:[^:]*]]: tensor<3x8xf32>)
func.func @lazy_adam_update(%p: tensor<100x8xf32>, %idx: tensor<?xi32>, %rows: tensor<?x8xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64, %idx64: tensor<3xi64>, %rows3: tensor<3x8xf32>) -> (tensor<100x8xf32>, tensor<100x8xf32>, tensor<100x8xf32>) {
  // CHECK: %{{.*}}, %{{.*}}:2 = optim.lazy_adam_update %[[P]], %[[I]], %[[ROWS]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] step %[[T]] : tensor<100x8xf32>, tensor<?xi32>, tensor<?x8xf32>
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %idx, %rows, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<?xi32>, tensor<?x8xf32>
  // CHECK: %[[R:[a-z_0-9]+]], %[[RS:[a-z_0-9]+]]:2 = optim.lazy_adam_update %[[P]], %[[I64]], %[[ROWS3]], [%[[M]], %[[V]]] lr %[[LR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[E]] step %[[T]] {use_nesterov} : tensor<100x8xf32>, tensor<3xi64>, tensor<3x8xf32>
  %p2, %m2, %v2 = optim.lazy_adam_update %p, %idx64, %rows3, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_nesterov} : tensor<100x8xf32>, tensor<3xi64>, tensor<3x8xf32>
  // CHECK: return %[[R]], %[[RS]]#0, %[[RS]]#1
  return %p2, %m2, %v2 : tensor<100x8xf32>, tensor<100x8xf32>, tensor<100x8xf32>
}

// Constant hyper-parameters inside their ranges verify.
// CHECK-LABEL: func.func @update_constant_hyper_parameters
func.func @update_constant_hyper_parameters(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %lr = arith.constant 0.0 : f32
  %b1 = arith.constant 0.9 : f32
  %b2 = arith.constant 0.999 : f32
  %e = arith.constant 1.0e-08 : f32
  // CHECK: optim.adam_update %{{.*}}, %{{.*}}, [%{{.*}}, %{{.*}}] lr %{{.*}} beta1 %{{.*}} beta2 %{{.*}} eps %{{.*}} step %{{.*}} : tensor<16xf32>
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  return %p1, %m1, %v1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

//===----------------------------------------------------------------------===//
// Phases of the multi-tensor step: row sums and norm sums computed in the
// reduction phase, read back by the update phase.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @phases
func.func @phases(%g: tensor<?x?xf32>, %h: tensor<?x?xbf16>, %p: tensor<?xf32>, %q: tensor<?xf32>, %m: tensor<?xf32>, %v: tensor<?xf32>, %x: f32, %t: i64) -> (tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  // CHECK: %[[S:.*]] = optim.row_sum %{{.*}} : tensor<?x?xf32> -> tensor<?xf32>
  %s = optim.row_sum %g : tensor<?x?xf32> -> tensor<?xf32>
  // CHECK: optim.row_sum %{{.*}} : tensor<?x?xbf16> -> tensor<?xf32>
  %sh = optim.row_sum %h : tensor<?x?xbf16> -> tensor<?xf32>
  // CHECK: optim.centralize %{{.*}} row_sums %[[S]] : tensor<?x?xf32>, tensor<?xf32>
  %c = optim.centralize %g row_sums %s : tensor<?x?xf32>, tensor<?xf32>
  // CHECK: %[[N:.*]] = optim.lamb_norms %{{.*}}, %{{.*}}, [%{{.*}}, %{{.*}}] lr %{{.*}} beta1 %{{.*}} beta2 %{{.*}} eps %{{.*}} weight_decay %{{.*}} step %{{.*}} : tensor<?xf32> -> tensor<3xf32>
  %n = optim.lamb_norms %p, %q, [%m, %v] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t : tensor<?xf32> -> tensor<3xf32>
  // CHECK: optim.lamb_update {{.*}} step %{{.*}} norms %[[N]] : tensor<?xf32>, tensor<3xf32>
  %p1, %m1, %v1 = optim.lamb_update %p, %q, [%m, %v] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t norms %n : tensor<?xf32>, tensor<3xf32>
  // CHECK: %[[L:.*]] = optim.lars_norms {{.*}} {use_nesterov} : tensor<?xf32> -> tensor<2xf32>
  %l = optim.lars_norms %p, %q, [%m] lr %x momentum %x epsilon %x coefficient %x weight_decay %x {use_nesterov} : tensor<?xf32> -> tensor<2xf32>
  // CHECK: optim.lars_update {{.*}} norms %[[L]] {use_nesterov} : tensor<?xf32>, tensor<2xf32>
  %p2, %m2 = optim.lars_update %p, %q, [%m] lr %x momentum %x epsilon %x coefficient %x weight_decay %x norms %l {use_nesterov} : tensor<?xf32>, tensor<2xf32>
  return %c, %sh, %p1, %v1, %p2, %m2 : tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}

// A resolved optimizer: each parameter's decay written out.
// CHECK-LABEL: optim.optimizer @resolved
// CHECK:        optim.param "w" : tensor<4xf32> decay true
// CHECK-NEXT:   optim.param "emb" : tensor<4x2xf32> sparse decay false
optim.optimizer @resolved rule #optim.rule<lazy_adam> learning_rate 0.1 {
  optim.group learning_rate 0.1 weight_decay 0.0 {
    optim.param "w" : tensor<4xf32> decay true
    optim.param "emb" : tensor<4x2xf32> sparse decay false
  }
}

// Step level: optim.multi_tensor_update, with a buffer table and per buffer.
// CHECK-LABEL: func.func @multi_tensor_update
// CHECK:        optim.multi_tensor_update <lamb, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-06>(%{{.*}} : memref<?xmemref<?xf32>>) params [tensor<32x16xf32>, tensor<7xf32>] positions [0, 3] loss_scale %{{.*}} lr %{{.*}} hyper_params(%{{.*}}, %{{.*}}, %{{.*}}) weight_decay %{{.*}} count %{{.*}}{{ *$}}
// CHECK:        optim.multi_tensor_update <momentum, momentum = 0.9, use_nesterov = false>(%{{.*}}, %{{.*}}, %{{.*}} : memref<32x16xf32>, memref<32x16xf32>, memref<32x16xf32>) params [tensor<32x16xf32>] loss_scale %{{.*}} decay_weight %{{.*}} lr %{{.*}} hyper_params(%{{.*}}) centralize
// CHECK:        optim.multi_tensor_update <lazy_adam, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, use_nesterov = false>({{.*}}) params [tensor<10x4xf32>] loss_scale %{{.*}} lr %{{.*}} hyper_params(%{{.*}}, %{{.*}}, %{{.*}}) count %{{.*}} sparse unique
func.func @multi_tensor_update(%t: memref<?xmemref<?xf32>>, %p: memref<32x16xf32>, %e: memref<10x4xf32>, %i: memref<?xi32>, %r: memref<?x4xf32>, %x: f64, %n: i64) {
  optim.multi_tensor_update #optim.rule<lamb>(%t : memref<?xmemref<?xf32>>) params [tensor<32x16xf32>, tensor<7xf32>] positions [0, 3] loss_scale %x lr %x hyper_params(%x, %x, %x) weight_decay %x count %n
  optim.multi_tensor_update #optim.rule<momentum>(%p, %p, %p : memref<32x16xf32>, memref<32x16xf32>, memref<32x16xf32>) params [tensor<32x16xf32>] loss_scale %x decay_weight %x lr %x hyper_params(%x) centralize
  optim.multi_tensor_update #optim.rule<lazy_adam>(%e, %i, %r, %e, %e : memref<10x4xf32>, memref<?xi32>, memref<?x4xf32>, memref<10x4xf32>, memref<10x4xf32>) params [tensor<10x4xf32>] loss_scale %x lr %x hyper_params(%x, %x, %x) count %n sparse unique
  return
}

// A rule whose states have other shapes than the parameter's (Adafactor's
// factored row and column states) prints every state's type; the step's
// workspace is optional.
// CHECK-LABEL: func.func @adafactor_update
// CHECK:        optim.adafactor_update %{{.*}}, %{{.*}}, [%{{.*}}, %{{.*}}, %{{.*}}] lr %{{.*}} eps1 %{{.*}} eps2 %{{.*}} clip_threshold %{{.*}} decay_rate %{{.*}} beta1 %{{.*}} weight_decay %{{.*}} step %{{.*}} {first_moment, scale_parameter} : tensor<4x8x6xf32>, [tensor<4x8x6xf32>, tensor<4x8xf32>, tensor<4x6xf32>]
// CHECK:        optim.adafactor_update %{{.*}}, %{{.*}}, [%{{.*}}, %{{.*}}] {{.*}} workspace(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) : tensor<?x?x?xf32>, [tensor<?x?xf32>, tensor<?x?xf32>]
// CHECK:        optim.adafactor_update {{.*}} : tensor<7xf32>, [tensor<1xf32>, tensor<7xf32>]
func.func @adafactor_update(%p: tensor<4x8x6xf32>, %r: tensor<4x8xf32>, %c: tensor<4x6xf32>, %pd: tensor<?x?x?xf32>, %rd: tensor<?x?xf32>, %cd: tensor<?x?xf32>, %w: tensor<?xf32>, %v: tensor<7xf32>, %one: tensor<1xf32>, %x: f32, %t: i64) {
  %0:4 = optim.adafactor_update %p, %p, [%p, %r, %c] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t {first_moment, scale_parameter} : tensor<4x8x6xf32>, [tensor<4x8x6xf32>, tensor<4x8xf32>, tensor<4x6xf32>]
  %1:3 = optim.adafactor_update %pd, %pd, [%rd, %cd] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t workspace(%rd, %cd, %w : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) : tensor<?x?x?xf32>, [tensor<?x?xf32>, tensor<?x?xf32>]
  %2:3 = optim.adafactor_update %v, %v, [%one, %v] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t : tensor<7xf32>, [tensor<1xf32>, tensor<7xf32>]
  return
}

// Scalars of another type than f32 (what the step's boundary passes: f64)
// print as `scalars(<type>)`; f32 prints nothing.
// CHECK-LABEL: func.func @f64_scalars
// CHECK:        optim.learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 4> at %{{.*}} scalars(f64){{ *$}}
// CHECK:        optim.scale_grad %{{.*}} by %{{.*}} scalars(f64) : tensor<16xf32>
// CHECK:        optim.decay_weight %{{.*}}, %{{.*}} by %{{.*}} scalars(f64) : tensor<16xf32>
// CHECK:        optim.adam_update %{{.*}}, %{{.*}}, [%{{.*}}, %{{.*}}] lr %{{.*}} beta1 %{{.*}} beta2 %{{.*}} eps %{{.*}} step %{{.*}} scalars(f64) : tensor<16xf32>
// CHECK:        optim.adam_update %{{.*}}, %{{.*}}, [%{{.*}}, %{{.*}}] lr %{{.*}} beta1 %{{.*}} beta2 %{{.*}} eps %{{.*}} step %{{.*}} : tensor<16xf32>
func.func @f64_scalars(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %x: f64, %y: f32, %t: i64) {
  %lr = optim.learning_rate #optim.warmup<learning_rate = 1.0e-01, warmup_steps = 4> at %t scalars(f64)
  %s = optim.scale_grad %g by %x scalars(f64) : tensor<16xf32>
  %d = optim.decay_weight %s, %p by %x scalars(f64) : tensor<16xf32>
  %0:3 = optim.adam_update %p, %d, [%m, %v] lr %lr beta1 %x beta2 %x eps %x step %t scalars(f64) : tensor<16xf32>
  %1:3 = optim.adam_update %p, %d, [%m, %v] lr %y beta1 %y beta2 %y eps %y step %t : tensor<16xf32>
  return
}

// Mixed precision (docs/Mixed-precision.md): a parameter's master copy and
// its states' type; a class's auxiliary f32 table and its first entries
// there; update ops whose gradient and states have another element type
// than the parameter print it after the parameter's type; optim.round_to.
// CHECK-LABEL: optim.optimizer @mixed
// CHECK-NEXT: optim.param "w" : tensor<64x32xbf16> master f32 states f32{{$}}
// CHECK-NEXT: optim.param "b" : tensor<32xbf16> master f32 states bf16 decay false{{$}}
// CHECK-NEXT: optim.param "h" : tensor<16xf16> states f32{{$}}
optim.optimizer @mixed rule #optim.rule<adam_weight_decay> learning_rate 1.0e-03 {
  optim.param "w" : tensor<64x32xbf16> master f32 states f32
  optim.param "b" : tensor<32xbf16> master f32 states bf16 decay false
  optim.param "h" : tensor<16xf16> states f32
}

// CHECK-LABEL: func.func @mixed_precision
// CHECK:        optim.multi_tensor_update <momentum, momentum = 0.9, use_nesterov = false>(%{{.*}}, %{{.*}} : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<64x32xbf16>, tensor<7xbf16>] positions [0, 2] aux_positions [0, 2] master f32 states f32 loss_scale %{{.*}} lr %{{.*}} hyper_params(%{{.*}}){{ *$}}
// CHECK:        optim.adam_weight_decay_update {{.*}} : tensor<16xf32> grad bf16 states bf16{{$}}
// CHECK:        optim.adam_weight_decay_update {{.*}} : tensor<16xf16> grad f32 states f32{{$}}
// CHECK:        optim.lamb_norms {{.*}} : tensor<16xf32> grad bf16 -> tensor<3xf32>
// CHECK:        optim.round_to %{{.*}} into %{{.*}} : tensor<16xf32> into tensor<16xbf16>
func.func @mixed_precision(%t: memref<?xmemref<?xbf16>>, %a: memref<?xmemref<?xf32>>, %x: f64, %m: tensor<16xf32>, %g: tensor<16xbf16>, %s: tensor<16xbf16>, %h: tensor<16xf16>, %g32: tensor<16xf32>, %y: f32, %n: i64) {
  optim.multi_tensor_update #optim.rule<momentum>(%t, %a : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<64x32xbf16>, tensor<7xbf16>] positions [0, 2] aux_positions [0, 2] master f32 states f32 loss_scale %x lr %x hyper_params(%x)
  %0:3 = optim.adam_weight_decay_update %m, %g, [%s, %s] lr %y beta1 %y beta2 %y eps %y weight_decay %y : tensor<16xf32> grad bf16 states bf16
  %1:3 = optim.adam_weight_decay_update %h, %g32, [%g32, %g32] lr %y beta1 %y beta2 %y eps %y weight_decay %y : tensor<16xf16> grad f32 states f32
  %2 = optim.lamb_norms %m, %g, [%m, %m] lr %y beta1 %y beta2 %y eps %y weight_decay %y step %n : tensor<16xf32> grad bf16 -> tensor<3xf32>
  %3 = optim.round_to %0#0 into %s : tensor<16xf32> into tensor<16xbf16>
  return
}
