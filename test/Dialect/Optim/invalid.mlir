// RUN: optim-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the optim dialect's parsers and verifiers, one per
// split. The declarative checks mirror the errors MindSpore's
// `nn.Optimizer` constructor raises.

//===----------------------------------------------------------------------===//
// optim.optimizer
//===----------------------------------------------------------------------===//

// expected-error@+1 {{'optim.optimizer' op expects at least one parameter}}
optim.optimizer @empty rule #optim.rule<sgd> learning_rate 0.1 : f64 {
}

// -----

// expected-error@+1 {{'optim.optimizer' op mixes parameters and groups: the body holds either parameters or groups}}
optim.optimizer @mixed rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.param "a" : tensor<4xf32>
  optim.group {
    optim.param "b" : tensor<4xf32>
  }
}

// -----

// expected-error@+1 {{'optim.optimizer' op 'weight_decay' must be non-negative, got -1.000000e-02}}
optim.optimizer @negative_weight_decay rule #optim.rule<sgd> learning_rate 0.1 : f64 weight_decay -0.01 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'optim.optimizer' op 'loss_scale' must be positive, got 0.000000e+00}}
optim.optimizer @zero_loss_scale rule #optim.rule<sgd> learning_rate 0.1 : f64 loss_scale 0.0 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'optim.optimizer' op 'loss_scale' must be positive, got -1.280000e+02}}
optim.optimizer @negative_loss_scale rule #optim.rule<sgd> learning_rate 0.1 : f64 loss_scale -128.0 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+2 {{expected ::mlir::optim::Target to be one of: CPU, GPU}}
// expected-error@+1 {{failed to parse Optim_TargetAttr parameter 'value'}}
optim.optimizer @unknown_target rule #optim.rule<sgd> learning_rate 0.1 : f64 target <Ascend> {
  optim.param "w" : tensor<4xf32>
}

// -----

optim.optimizer @foreign_op rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
  // expected-error@+1 {{'arith.constant' op is not allowed in an 'optim.optimizer' body}}
  %c = arith.constant 1.0 : f32
}

// -----

optim.optimizer @declared_twice rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-note@+1 {{first declared here}}
  optim.param "w" : tensor<4xf32>
  // expected-error@+1 {{'optim.param' op parameter "w" is declared twice}}
  optim.param "w" : tensor<8xf32>
}

// -----

optim.optimizer @in_two_groups rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    // expected-note@+1 {{first declared here}}
    optim.param "w" : tensor<4xf32>
  }
  optim.group {
    // expected-error@+1 {{'optim.param' op parameter "w" is in more than one group}}
    optim.param "w" : tensor<4xf32>
  }
}

// -----

optim.optimizer @declared_twice_in_group rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    // expected-note@+1 {{first declared here}}
    optim.param "w" : tensor<4xf32>
    // expected-error@+1 {{'optim.param' op parameter "w" is declared twice}}
    optim.param "w" : tensor<4xf32>
  }
}

// -----

optim.optimizer @sparse_unsupported rule #optim.rule<adam> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.param' op has a sparse gradient, which Adam does not support}}
  optim.param "embedding" : tensor<100x8xf32> sparse
}

// -----

//===----------------------------------------------------------------------===//
// Learning rates of optim.optimizer and optim.group
//===----------------------------------------------------------------------===//

// expected-error@+1 {{'optim.optimizer' op learning rate must be non-negative, got -1.000000e-01}}
optim.optimizer @negative_lr rule #optim.rule<sgd> learning_rate -0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'optim.optimizer' op learning-rate tensor must have rank 0 or 1, got rank 2}}
optim.optimizer @lr_rank2 rule #optim.rule<sgd> learning_rate dense<[[0.1, 0.2]]> : tensor<1x2xf32> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'optim.optimizer' op a per-step learning-rate list must not be empty}}
optim.optimizer @lr_empty_tensor rule #optim.rule<sgd> learning_rate dense<> : tensor<0xf32> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'optim.optimizer' op learning rate must be non-negative, got -2.000000e-01}}
optim.optimizer @lr_negative_tensor rule #optim.rule<sgd> learning_rate dense<[0.1, -0.2]> : tensor<2xf32> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{custom op 'optim.optimizer' a learning rate has a float type, got 'i32'}}
optim.optimizer @lr_integer rule #optim.rule<sgd> learning_rate 1 : i32 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{a per-step learning-rate list must not be empty}}
optim.optimizer @lr_empty_list rule #optim.rule<sgd> learning_rate #optim.per_step<[]> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{learning rate at step 1 must be non-negative, got -5.000000e-02}}
optim.optimizer @lr_negative_list rule #optim.rule<sgd> learning_rate #optim.per_step<[0.1, -0.05]> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'optim.optimizer' op per-step learning-rate lists have different lengths: 3 and 2}}
optim.optimizer @lr_lists_of_groups rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group learning_rate #optim.per_step<[0.1, 0.2, 0.3]> {
    optim.param "a" : tensor<4xf32>
  }
  optim.group learning_rate dense<[0.1, 0.2]> : tensor<2xf32> {
    optim.param "b" : tensor<4xf32>
  }
}

// -----

// The optimizer's own list counts even when every group has its own
// (MindSpore's `_parse_group_params`).
// expected-error@+1 {{'optim.optimizer' op per-step learning-rate lists have different lengths: 2 and 3}}
optim.optimizer @lr_list_of_optimizer rule #optim.rule<sgd> learning_rate dense<[0.1, 0.2]> : tensor<2xf32> {
  optim.group learning_rate #optim.per_step<[0.1, 0.2, 0.3]> {
    optim.param "a" : tensor<4xf32>
  }
}

// -----

//===----------------------------------------------------------------------===//
// optim.group
//===----------------------------------------------------------------------===//

optim.optimizer @group_negative_weight_decay rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.group' op 'weight_decay' must be non-negative, got -1.000000e+00}}
  optim.group weight_decay -1.0 {
    optim.param "w" : tensor<4xf32>
  }
}

// -----

optim.optimizer @group_negative_lr rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.group' op learning rate must be non-negative, got -1.000000e-02}}
  optim.group learning_rate -0.01 : f64 {
    optim.param "w" : tensor<4xf32>
  }
}

// -----

optim.optimizer @group_lr_rank2 rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.group' op learning-rate tensor must have rank 0 or 1, got rank 2}}
  optim.group learning_rate dense<0.1> : tensor<2x2xf32> {
    optim.param "w" : tensor<4xf32>
  }
}

// -----

optim.optimizer @group_unknown_key rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.group' op unknown group key 'lr'; expected 'learning_rate', 'weight_decay' or 'grad_centralization'}}
  optim.group attributes {lr = 0.1 : f64} {
    optim.param "w" : tensor<4xf32>
  }
}

// -----

optim.optimizer @group_without_params rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    optim.param "w" : tensor<4xf32>
  }
  // expected-error@+1 {{'optim.group' op expects at least one parameter}}
  optim.group weight_decay 0.0 {
  }
}

// -----

optim.optimizer @group_foreign_op rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    optim.param "w" : tensor<4xf32>
    // expected-error@+1 {{'optim.order_params' op is not allowed in an 'optim.group' body}}
    optim.order_params ["w"]
  }
}

// -----

func.func @group_outside_optimizer() {
  // expected-error@+1 {{'optim.group' op expects parent op 'optim.optimizer'}}
  optim.group {
    optim.param "w" : tensor<4xf32>
  }
  return
}

// -----

//===----------------------------------------------------------------------===//
// optim.param
//===----------------------------------------------------------------------===//

optim.optimizer @param_empty_name rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.param' op expects a non-empty name}}
  optim.param "" : tensor<4xf32>
}

// -----

optim.optimizer @param_sparse_scalar rule #optim.rule<lazy_adam> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.param' op with a sparse gradient must have rank >= 1}}
  optim.param "s" : tensor<f32> sparse
}

// -----

optim.optimizer @param_integer rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  // expected-error@+1 {{'optim.param' op attribute 'type' failed to satisfy constraint: type attribute of ranked tensor of floating-point values}}
  optim.param "i" : tensor<4xi32>
}

// -----

//===----------------------------------------------------------------------===//
// optim.order_params
//===----------------------------------------------------------------------===//

optim.optimizer @order_unknown rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    optim.param "a" : tensor<4xf32>
  }
  // expected-error@+1 {{'optim.order_params' op names unknown parameter "c"}}
  optim.order_params ["a", "c"]
}

// -----

optim.optimizer @order_missing rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    optim.param "a" : tensor<4xf32>
    optim.param "b" : tensor<4xf32>
  }
  optim.group {
    optim.param "c" : tensor<4xf32>
  }
  // expected-error@+1 {{'optim.order_params' op names 2 of 3 parameters; missing "b"}}
  optim.order_params ["c", "a"]
}

// -----

optim.optimizer @order_duplicate rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    optim.param "a" : tensor<4xf32>
    optim.param "b" : tensor<4xf32>
  }
  // expected-error@+1 {{'optim.order_params' op names parameter "a" twice}}
  optim.order_params ["a", "a"]
}

// -----

// expected-error@+1 {{'optim.optimizer' op 'optim.order_params' requires parameter groups}}
optim.optimizer @order_without_groups rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.param "a" : tensor<4xf32>
  optim.order_params ["a"]
}

// -----

// expected-error@+1 {{'optim.optimizer' op expects at most one 'optim.order_params'}}
optim.optimizer @order_twice rule #optim.rule<sgd> learning_rate 0.1 : f64 {
  optim.group {
    optim.param "a" : tensor<4xf32>
  }
  optim.order_params ["a"]
  optim.order_params ["a"]
}

// -----

//===----------------------------------------------------------------------===//
// #optim.rule
//===----------------------------------------------------------------------===//

// expected-error@+1 {{unknown update rule 'adamw'}}
optim.optimizer @rule_unknown rule #optim.rule<adamw> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{unknown hyper-parameter 'momentum' for Adam}}
optim.optimizer @rule_unknown_hyper rule #optim.rule<adam, momentum = 0.9> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{'beta1' is given twice}}
optim.optimizer @rule_key_twice rule #optim.rule<adam, beta1 = 0.8, beta1 = 0.7> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{hyper-parameter 'beta1' of Adam must be a float}}
optim.optimizer @rule_bool_hyper rule #optim.rule<adam, beta1 = true> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{option 'use_nesterov' of Adam must be true or false}}
optim.optimizer @rule_float_option rule #optim.rule<adam, use_nesterov = 1.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Open unit interval.
// expected-error@+1 {{hyper-parameter 'beta1' of Adam must be in (0, 1), got 1.000000e+00}}
optim.optimizer @rule_beta1_one rule #optim.rule<adam, beta1 = 1.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{hyper-parameter 'beta2' of AdamWeightDecay must be in (0, 1), got 0.000000e+00}}
optim.optimizer @rule_beta2_zero rule #optim.rule<adam_weight_decay, beta2 = 0.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Positive.
// expected-error@+1 {{hyper-parameter 'eps' of Adam must be in (0, inf), got 0.000000e+00}}
optim.optimizer @rule_eps_zero rule #optim.rule<adam, eps = 0.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Non-negative.
// expected-error@+1 {{hyper-parameter 'momentum' of Momentum must be in [0, inf), got -9.000000e-01}}
optim.optimizer @rule_momentum_negative rule #optim.rule<momentum, momentum = -0.9> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Closed unit interval.
// expected-error@+1 {{hyper-parameter 'rho' of Adadelta must be in [0, 1], got 1.500000e+00}}
optim.optimizer @rule_rho_above_one rule #optim.rule<adadelta, rho = 1.5> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Non-positive.
// expected-error@+1 {{hyper-parameter 'lr_power' of FTRL must be in (-inf, 0], got 5.000000e-01}}
optim.optimizer @rule_lr_power_positive rule #optim.rule<ftrl, lr_power = 0.5> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Greater than one.
// expected-error@+1 {{hyper-parameter 'etaplus' of Rprop must be in (1, inf), got 1.000000e+00}}
optim.optimizer @rule_etaplus_one rule #optim.rule<rprop, etaplus = 1.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// Init-only hyper-parameters are checked too.
// expected-error@+1 {{hyper-parameter 'accum' of Adagrad must be in [0, inf), got -1.000000e-01}}
optim.optimizer @rule_adagrad_accum rule #optim.rule<adagrad, accum = -0.1> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{SGD with nesterov requires momentum > 0 and dampening == 0}}
optim.optimizer @rule_sgd_nesterov_no_momentum rule #optim.rule<sgd, nesterov = true> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{SGD with nesterov requires momentum > 0 and dampening == 0}}
optim.optimizer @rule_sgd_nesterov_dampening rule #optim.rule<sgd, momentum = 0.9, dampening = 0.1, nesterov = true> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error@+1 {{Rprop's 'min_step' (1.000000e+02) must not exceed 'max_step' (5.000000e+01)}}
optim.optimizer @rule_rprop_steps rule #optim.rule<rprop, min_step = 100.0> learning_rate 0.1 : f64 {
  optim.param "w" : tensor<4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Learning-rate schedules
//===----------------------------------------------------------------------===//

func.func @exponential_decay_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'learning_rate' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.exponential_decay<learning_rate = 0.0, decay_rate = 0.9, decay_steps = 4, is_stair = false> at %step
  return %lr : f32
}

// -----

func.func @exponential_decay_rate(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_rate' must be positive, got -9.000000e-01}}
  %lr = optim.learning_rate #optim.exponential_decay<learning_rate = 0.1, decay_rate = -0.9, decay_steps = 4, is_stair = false> at %step
  return %lr : f32
}

// -----

func.func @exponential_decay_steps(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_steps' must be positive, got 0}}
  %lr = optim.learning_rate #optim.exponential_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 0, is_stair = false> at %step
  return %lr : f32
}

// -----

func.func @exponential_decay_is_stair(%step: i64) -> f32 {
  // expected-error@+2 {{expected 'true' or 'false'}}
  // expected-error@+1 {{failed to parse Optim_ExponentialDecayAttr parameter 'is_stair'}}
  %lr = optim.learning_rate #optim.exponential_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = 1> at %step
  return %lr : f32
}

// -----

func.func @natural_exp_decay_rate(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_rate' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.0, decay_steps = 4, is_stair = true> at %step
  return %lr : f32
}

// -----

func.func @natural_exp_decay_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'learning_rate' must be positive, got -1.000000e-01}}
  %lr = optim.learning_rate #optim.natural_exp_decay<learning_rate = -0.1, decay_rate = 0.5, decay_steps = 4, is_stair = true> at %step
  return %lr : f32
}

// -----

func.func @natural_exp_decay_steps(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_steps' must be positive, got -4}}
  %lr = optim.learning_rate #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.5, decay_steps = -4, is_stair = true> at %step
  return %lr : f32
}

// -----

func.func @inverse_decay_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'learning_rate' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.inverse_decay<learning_rate = 0.0, decay_rate = 0.5, decay_steps = 4, is_stair = false> at %step
  return %lr : f32
}

// -----

func.func @inverse_decay_rate(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_rate' must be positive, got -5.000000e-01}}
  %lr = optim.learning_rate #optim.inverse_decay<learning_rate = 0.1, decay_rate = -0.5, decay_steps = 4, is_stair = false> at %step
  return %lr : f32
}

// -----

func.func @inverse_decay_steps(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_steps' must be positive, got 0}}
  %lr = optim.learning_rate #optim.inverse_decay<learning_rate = 0.1, decay_rate = 0.5, decay_steps = 0, is_stair = false> at %step
  return %lr : f32
}

// -----

func.func @cosine_decay_min_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'min_lr' must be non-negative, got -1.000000e-05}}
  %lr = optim.learning_rate #optim.cosine_decay<min_lr = -1.0e-05, max_lr = 1.0e-03, decay_steps = 100> at %step
  return %lr : f32
}

// -----

func.func @cosine_decay_max_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'max_lr' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.cosine_decay<min_lr = 0.0, max_lr = 0.0, decay_steps = 100> at %step
  return %lr : f32
}

// -----

func.func @cosine_decay_min_not_below_max(%step: i64) -> f32 {
  // expected-error@+1 {{'min_lr' (1.000000e-03) must be smaller than 'max_lr' (1.000000e-03)}}
  %lr = optim.learning_rate #optim.cosine_decay<min_lr = 1.0e-03, max_lr = 1.0e-03, decay_steps = 100> at %step
  return %lr : f32
}

// -----

func.func @cosine_decay_steps(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_steps' must be positive, got 0}}
  %lr = optim.learning_rate #optim.cosine_decay<min_lr = 0.0, max_lr = 1.0e-03, decay_steps = 0> at %step
  return %lr : f32
}

// -----

func.func @polynomial_decay_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'learning_rate' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.polynomial_decay<learning_rate = 0.0, end_learning_rate = 0.0, decay_steps = 10, power = 1.0, update_decay_steps = false> at %step
  return %lr : f32
}

// -----

func.func @polynomial_decay_end_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'end_learning_rate' must be non-negative, got -1.000000e-02}}
  %lr = optim.learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = -0.01, decay_steps = 10, power = 1.0, update_decay_steps = false> at %step
  return %lr : f32
}

// -----

func.func @polynomial_decay_power(%step: i64) -> f32 {
  // expected-error@+1 {{'power' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = 0.01, decay_steps = 10, power = 0.0, update_decay_steps = false> at %step
  return %lr : f32
}

// -----

func.func @polynomial_decay_steps(%step: i64) -> f32 {
  // expected-error@+1 {{'decay_steps' must be positive, got 0}}
  %lr = optim.learning_rate #optim.polynomial_decay<learning_rate = 0.1, end_learning_rate = 0.01, decay_steps = 0, power = 1.0, update_decay_steps = true> at %step
  return %lr : f32
}

// -----

func.func @warmup_lr(%step: i64) -> f32 {
  // expected-error@+1 {{'learning_rate' must be positive, got 0.000000e+00}}
  %lr = optim.learning_rate #optim.warmup<learning_rate = 0.0, warmup_steps = 10> at %step
  return %lr : f32
}

// -----

func.func @warmup_steps(%step: i64) -> f32 {
  // expected-error@+1 {{'warmup_steps' must be positive, got 0}}
  %lr = optim.learning_rate #optim.warmup<learning_rate = 0.1, warmup_steps = 0> at %step
  return %lr : f32
}

// -----

func.func @per_step_empty(%step: i64) -> f32 {
  // expected-error@+1 {{a per-step learning-rate list must not be empty}}
  %lr = optim.learning_rate #optim.per_step<[]> at %step
  return %lr : f32
}

// -----

func.func @per_step_negative(%step: i64) -> f32 {
  // expected-error@+1 {{learning rate at step 0 must be non-negative, got -1.000000e-01}}
  %lr = optim.learning_rate #optim.per_step<[-0.1]> at %step
  return %lr : f32
}

// -----

func.func @piecewise_lengths(%step: i64) -> f32 {
  // expected-error@+1 {{'milestones' and 'values' must be non-empty and of the same length, got 2 and 3}}
  %lr = optim.learning_rate #optim.piecewise<milestones = [2, 5], values = [0.1, 0.05, 0.01]> at %step
  return %lr : f32
}

// -----

func.func @piecewise_empty(%step: i64) -> f32 {
  // expected-error@+1 {{'milestones' and 'values' must be non-empty and of the same length, got 0 and 0}}
  %lr = optim.learning_rate #optim.piecewise<milestones = [], values = []> at %step
  return %lr : f32
}

// -----

func.func @piecewise_not_increasing(%step: i64) -> f32 {
  // expected-error@+1 {{'milestones' must be positive and strictly increasing}}
  %lr = optim.learning_rate #optim.piecewise<milestones = [5, 5], values = [0.1, 0.05]> at %step
  return %lr : f32
}

// -----

func.func @piecewise_zero_milestone(%step: i64) -> f32 {
  // expected-error@+1 {{'milestones' must be positive and strictly increasing}}
  %lr = optim.learning_rate #optim.piecewise<milestones = [0, 5], values = [0.1, 0.05]> at %step
  return %lr : f32
}

// -----

func.func @piecewise_negative(%step: i64) -> f32 {
  // expected-error@+1 {{learning rates must be non-negative, got -5.000000e-02}}
  %lr = optim.learning_rate #optim.piecewise<milestones = [2, 5], values = [0.1, -0.05]> at %step
  return %lr : f32
}

// -----

func.func @learning_rate_constant(%step: i64) -> f32 {
  // expected-error@+1 {{'optim.learning_rate' op attribute 'schedule' failed to satisfy constraint: learning-rate schedule}}
  %lr = optim.learning_rate 1.0e-01 : f32 at %step
  return %lr : f32
}

// -----

//===----------------------------------------------------------------------===//
// Base-class compute ops
//===----------------------------------------------------------------------===//

func.func @scale_grad_zero(%g: tensor<16xf32>) -> tensor<16xf32> {
  %scale = arith.constant 0.0 : f32
  // expected-error@+1 {{'optim.scale_grad' op 'loss_scale' must be positive, got 0.000000e+00}}
  %0 = optim.scale_grad %g by %scale : tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

func.func @decay_weight_negative(%g: tensor<16xf32>, %p: tensor<16xf32>) -> tensor<16xf32> {
  %wd = arith.constant -1.0e-02 : f32
  // expected-error@+1 {{'optim.decay_weight' op 'weight_decay' must be non-negative, got -1.000000e-02}}
  %0 = optim.decay_weight %g, %p by %wd : tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

func.func @global_norm_empty() -> f32 {
  // expected-error@+1 {{'optim.global_norm' op expects at least one tensor}}
  %0 = "optim.global_norm"() : () -> f32
  return %0 : f32
}

// -----

func.func @all_finite_empty() -> i1 {
  // expected-error@+1 {{'optim.all_finite' op expects at least one tensor}}
  %0 = "optim.all_finite"() : () -> i1
  return %0 : i1
}

// -----

func.func @broadcast_params_empty() {
  // expected-error@+1 {{'optim.broadcast_params' op expects at least one parameter}}
  "optim.broadcast_params"() <{num_ranks = 2 : i64}> : () -> ()
  return
}

// -----

func.func @broadcast_params_types(%p: tensor<4xf32>) -> tensor<8xf32> {
  // expected-error@+1 {{'optim.broadcast_params' op result types must match the parameter types}}
  %0 = "optim.broadcast_params"(%p) <{num_ranks = 2 : i64}> : (tensor<4xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @broadcast_params_results(%p: tensor<4xf32>, %q: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'optim.broadcast_params' op result types must match the parameter types}}
  %0 = "optim.broadcast_params"(%p, %q) <{num_ranks = 2 : i64}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @broadcast_params_no_ranks(%p: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'optim.broadcast_params' op attribute 'num_ranks' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %0 = optim.broadcast_params %p num_ranks 0 : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @unique_indices_rank(%i: tensor<2x3xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op indices must have rank 1}}
  %a, %b = optim.unique %i, %v : tensor<2x3xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<?x8xf32>
  return
}

// -----

func.func @unique_result_indices_rank(%i: tensor<6xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op indices must have rank 1}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<6x8xf32> -> tensor<?x1xi32>, tensor<?x8xf32>
  return
}

// -----

func.func @unique_values_rank(%i: tensor<1xi32>, %v: tensor<f32>) {
  // expected-error@+1 {{'optim.unique' op values must have rank >= 1}}
  %a, %b = optim.unique %i, %v : tensor<1xi32>, tensor<f32> -> tensor<?xi32>, tensor<?xf32>
  return
}

// -----

func.func @unique_merged_rank(%i: tensor<6xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op merged values must have the values' rank 2, got 0}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<f32>
  return
}

// -----

func.func @unique_row_count(%i: tensor<6xi32>, %v: tensor<5x8xf32>) {
  // expected-error@+1 {{'optim.unique' op has 6 indices but 5 rows}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<5x8xf32> -> tensor<?xi32>, tensor<?x8xf32>
  return
}

// -----

func.func @unique_index_type(%i: tensor<6xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op unique indices must have the indices' element type}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi64>, tensor<?x8xf32>
  return
}

// -----

func.func @unique_row_shape(%i: tensor<6xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op merged values must have the values' element type and row shape}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<?x4xf32>
  return
}

// -----

func.func @unique_value_type(%i: tensor<6xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op merged values must have the values' element type and row shape}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<?x8xf16>
  return
}

// -----

func.func @unique_static_results(%i: tensor<6xi32>, %v: tensor<6x8xf32>) {
  // expected-error@+1 {{'optim.unique' op results must have a dynamic first dimension}}
  %a, %b = optim.unique %i, %v : tensor<6xi32>, tensor<6x8xf32> -> tensor<6xi32>, tensor<6x8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// Update ops
//===----------------------------------------------------------------------===//

func.func @sgd_no_state(%p: tensor<16xf32>, %g: tensor<16xf32>, %lr: f32, %mu: f32, %d: f32, %t: i64) {
  // expected-error@+1 {{'optim.sgd_update' op expects 1 state operand (accum), got 0}}
  %p1 = optim.sgd_update %p, %g, [] lr %lr momentum %mu dampening %d step %t : tensor<16xf32>
  return
}

// -----

func.func @adam_amsgrad_without_vhat(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.adam_update' op expects 3 state operands (moment1, moment2, vhat), got 2}}
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_amsgrad} : tensor<16xf32>
  return
}

// -----

func.func @adam_vhat_without_amsgrad(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.adam_update' op expects 2 state operands (moment1, moment2), got 3}}
  %p1, %m1, %v1, %h1 = optim.adam_update %p, %g, [%m, %v, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  return
}

// -----

func.func @rmsprop_centered_without_mean_grad(%p: tensor<16xf32>, %g: tensor<16xf32>, %ms: tensor<16xf32>, %mom: tensor<16xf32>, %lr: f32, %d: f32, %mu: f32, %e: f32) {
  // expected-error@+1 {{'optim.rmsprop_update' op expects 3 state operands (mean_grad, mean_square, moment), got 2}}
  %p1, %ms1, %mom1 = optim.rmsprop_update %p, %g, [%ms, %mom] lr %lr decay %d momentum %mu epsilon %e {centered} : tensor<16xf32>
  return
}

// -----

func.func @state_type(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<8xf32>, %lr: f32, %mu: f32) {
  // expected-error@+1 {{'optim.momentum_update' op state 'moments' has type 'tensor<8xf32>', expected the parameter type 'tensor<16xf32>'}}
  %0:2 = "optim.momentum_update"(%p, %g, %v, %lr, %mu) : (tensor<16xf32>, tensor<16xf32>, tensor<8xf32>, f32, f32) -> (tensor<16xf32>, tensor<8xf32>)
  return
}

// -----

// Mixed precision: states of another element type than the parameter's are
// allowed, but they share one.
func.func @mixed_state_types(%p: tensor<16xbf16>, %g: tensor<16xbf16>, %m: tensor<16xf32>, %v: tensor<16xbf16>, %lr: f64, %b1: f64, %b2: f64, %e: f64, %wd: f64) {
  // expected-error@+1 {{'optim.adam_weight_decay_update' op state 'moment2' has type 'tensor<16xbf16>', expected 'tensor<16xf32>' (the parameter's shape, the states' element type)}}
  %0:3 = "optim.adam_weight_decay_update"(%p, %g, %m, %v, %lr, %b1, %b2, %e, %wd) : (tensor<16xbf16>, tensor<16xbf16>, tensor<16xf32>, tensor<16xbf16>, f64, f64, f64, f64, f64) -> (tensor<16xbf16>, tensor<16xf32>, tensor<16xbf16>)
  return
}

// -----

func.func @result_type(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %mu: f32) {
  // expected-error@+1 {{'optim.momentum_update' op result type 'tensor<8xf32>' differs from its state's type 'tensor<16xf32>'}}
  %0:2 = "optim.momentum_update"(%p, %g, %v, %lr, %mu) : (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, f32, f32) -> (tensor<16xf32>, tensor<8xf32>)
  return
}

// -----

func.func @result_count(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %mu: f32) {
  // expected-error@+1 {{'optim.momentum_update' op expects 2 results (the new parameter and one per state), got 1}}
  %0 = "optim.momentum_update"(%p, %g, %v, %lr, %mu) : (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, f32, f32) -> tensor<16xf32>
  return
}

// -----

func.func @grad_type(%p: tensor<16xf32>, %g: tensor<8xbf16>, %a: tensor<16xf32>, %lr: f32) {
  // expected-error@+1 {{'optim.adagrad_update' op gradient type 'tensor<8xbf16>' differs from the parameter type 'tensor<16xf32>'}}
  %0:2 = "optim.adagrad_update"(%p, %g, %a, %lr) : (tensor<16xf32>, tensor<8xbf16>, tensor<16xf32>, f32) -> (tensor<16xf32>, tensor<16xf32>)
  return
}

// -----

func.func @lr_negative_constant(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>) {
  %lr = arith.constant -1.0 : f32
  // expected-error@+1 {{'optim.adagrad_update' op 'lr' must be non-negative, got -1.000000e+00}}
  %p1, %a1 = optim.adagrad_update %p, %g, [%a] lr %lr {update_slots} : tensor<16xf32>
  return
}

// -----

func.func @beta1_constant_one(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b2: f32, %e: f32, %t: i64) {
  %b1 = arith.constant 1.0 : f32
  // expected-error@+1 {{'optim.adam_update' op 'beta1' must be in (0, 1), got 1.000000e+00}}
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  return
}

// -----

func.func @eps_constant_zero(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %t: i64) {
  %e = arith.constant 0.0 : f32
  // expected-error@+1 {{'optim.adamax_update' op 'eps' must be in (0, inf), got 0.000000e+00}}
  %p1, %m1, %v1 = optim.adamax_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  return
}

// -----

func.func @etaplus_constant(%p: tensor<16xf32>, %g: tensor<16xf32>, %q: tensor<16xf32>, %s: tensor<16xf32>, %lr: f32, %em: f32, %min: f32, %max: f32, %t: i64) {
  %ep = arith.constant 0.5 : f32
  // expected-error@+1 {{'optim.rprop_update' op 'etaplus' must be in (1, inf), got 5.000000e-01}}
  %p1, %q1, %s1 = optim.rprop_update %p, %g, [%q, %s] lr %lr etaminus %em etaplus %ep min_step %min max_step %max step %t : tensor<16xf32>
  return
}

// -----

func.func @weight_decay_constant(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32) {
  %wd = arith.constant -1.0 : f32
  // expected-error@+1 {{'optim.adam_weight_decay_update' op 'weight_decay' must be non-negative, got -1.000000e+00}}
  %p1, %m1, %v1 = optim.adam_weight_decay_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd : tensor<16xf32>
  return
}

// -----

func.func @lamb_weight_decay_constant(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  %wd = arith.constant -0.5 : f32
  // expected-error@+1 {{'optim.lamb_update' op 'weight_decay' must be non-negative, got -5.000000e-01}}
  %p1, %m1, %v1 = optim.lamb_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t : tensor<16xf32>
  return
}

// -----

func.func @lars_coefficient_constant(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %mu: f32, %e: f32, %wd: f32) {
  %c = arith.constant 0.0 : f32
  // expected-error@+1 {{'optim.lars_update' op 'coefficient' must be in (0, inf), got 0.000000e+00}}
  %p1, %v1 = optim.lars_update %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd : tensor<16xf32>
  return
}

// -----

func.func @update_integer_scalar(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: i32) {
  // expected-error@+1 {{'optim.adagrad_update' op operand #3 must be f32 or f64 scalar, but got 'i32'}}
  %0:2 = "optim.adagrad_update"(%p, %g, %a, %lr) : (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, i32) -> (tensor<16xf32>, tensor<16xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// optim.lazy_adam_update
//===----------------------------------------------------------------------===//

func.func @lazy_adam_scalar_param(%p: tensor<f32>, %i: tensor<1xi32>, %r: tensor<1xf32>, %m: tensor<f32>, %v: tensor<f32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op parameter must have rank >= 1}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<f32>, tensor<1xi32>, tensor<1xf32>
  return
}

// -----

func.func @lazy_adam_indices_rank(%p: tensor<100x8xf32>, %i: tensor<2x2xi32>, %r: tensor<4x8xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op indices must have rank 1}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<2x2xi32>, tensor<4x8xf32>
  return
}

// -----

func.func @lazy_adam_row_shape(%p: tensor<100x8xf32>, %i: tensor<4xi32>, %r: tensor<4x7xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op rows 'tensor<4x7xf32>' do not match the parameter's row type 'tensor<100x8xf32>'}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<4xi32>, tensor<4x7xf32>
  return
}

// -----

func.func @lazy_adam_row_rank(%p: tensor<100x8xf32>, %i: tensor<4xi32>, %r: tensor<4xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op rows 'tensor<4xf32>' do not match the parameter's row type 'tensor<100x8xf32>'}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<4xi32>, tensor<4xf32>
  return
}

// -----

func.func @lazy_adam_row_type(%p: tensor<100x8xf32>, %i: tensor<4xi32>, %r: tensor<4x8xf16>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op rows 'tensor<4x8xf16>' do not match the parameter's row type 'tensor<100x8xf32>'}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<4xi32>, tensor<4x8xf16>
  return
}

// -----

func.func @lazy_adam_row_count(%p: tensor<100x8xf32>, %i: tensor<4xi32>, %r: tensor<3x8xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op has 4 indices but 3 rows}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<4xi32>, tensor<3x8xf32>
  return
}

// -----

func.func @lazy_adam_states(%p: tensor<100x8xf32>, %i: tensor<4xi32>, %r: tensor<4x8xf32>, %m: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) {
  // expected-error@+1 {{'optim.lazy_adam_update' op expects 2 state operands (moment1, moment2), got 1}}
  %p1, %m1 = optim.lazy_adam_update %p, %i, %r, [%m] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<4xi32>, tensor<4x8xf32>
  return
}

// -----

func.func @lazy_adam_beta2_constant(%p: tensor<100x8xf32>, %i: tensor<4xi32>, %r: tensor<4x8xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %e: f32, %t: i64) {
  %b2 = arith.constant 1.5 : f32
  // expected-error@+1 {{'optim.lazy_adam_update' op 'beta2' must be in (0, 1), got 1.500000e+00}}
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %i, %r, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<4xi32>, tensor<4x8xf32>
  return
}

// -----

func.func @row_sum_rank(%g: tensor<8xf32>) {
  // expected-error @below {{row sums need a tensor of rank >= 2, got 'tensor<8xf32>'}}
  %s = optim.row_sum %g : tensor<8xf32> -> tensor<8xf32>
  return
}

// -----

func.func @row_sum_count(%g: tensor<8x16xf32>) {
  // expected-error @below {{expects 8 row sums (the first dimension), got 4}}
  %s = optim.row_sum %g : tensor<8x16xf32> -> tensor<4xf32>
  return
}

// -----

func.func @row_sum_type(%g: tensor<8x16xbf16>) {
  // expected-error @below {{row sums must be 'f32' for 'tensor<8x16xbf16>'}}
  %s = optim.row_sum %g : tensor<8x16xbf16> -> tensor<8xf64>
  return
}

// -----

func.func @centralize_row_sums(%g: tensor<8x16xf64>, %s: tensor<8xf32>) {
  // expected-error @below {{row sums must be 'f64' for 'tensor<8x16xf64>'}}
  %c = optim.centralize %g row_sums %s : tensor<8x16xf64>, tensor<8xf32>
  return
}

// -----

func.func @lamb_norms_count(%p: tensor<?xf32>, %m: tensor<?xf32>, %x: f32, %t: i64) {
  // expected-error @below {{expects 3 sums of squares, got 'tensor<2xf32>'}}
  %n = optim.lamb_norms %p, %p, [%m, %m] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t : tensor<?xf32> -> tensor<2xf32>
  return
}

// -----

func.func @lamb_norms_states(%p: tensor<?xf32>, %m: tensor<?xf32>, %x: f32, %t: i64) {
  // expected-error @below {{expects 2 state operands (moment1, moment2), got 1}}
  %n = optim.lamb_norms %p, %p, [%m] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t : tensor<?xf32> -> tensor<3xf32>
  return
}

// -----

func.func @lamb_norms_range(%p: tensor<?xf32>, %m: tensor<?xf32>, %x: f32, %t: i64) {
  %b = arith.constant 1.5 : f32
  // expected-error @below {{'beta1' must be}}
  %n = optim.lamb_norms %p, %p, [%m, %m] lr %x beta1 %b beta2 %x eps %x weight_decay %x step %t : tensor<?xf32> -> tensor<3xf32>
  return
}

// -----

func.func @lars_norms_type(%p: tensor<?xf64>, %m: tensor<?xf64>, %x: f32) {
  // expected-error @below {{sums of squares must be 'f64' for a parameter of 'f64'}}
  %n = optim.lars_norms %p, %p, [%m] lr %x momentum %x epsilon %x coefficient %x weight_decay %x : tensor<?xf64> -> tensor<2xf32>
  return
}

// -----

func.func @lamb_update_norms(%p: tensor<?xf32>, %m: tensor<?xf32>, %x: f32, %t: i64, %n: tensor<2xf32>) {
  // expected-error @below {{expects 3 sums of squares, got 'tensor<2xf32>'}}
  %p1, %m1, %v1 = optim.lamb_update %p, %p, [%m, %m] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t norms %n : tensor<?xf32>, tensor<2xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// optim.multi_tensor_update
//===----------------------------------------------------------------------===//

func.func @mtu_hyper_count(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{expects 1 hyper-parameters for Momentum, got 2}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] loss_scale %x lr %x hyper_params(%x, %x)
  return
}

// -----

func.func @mtu_missing_count(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{expects the update 'count'}}
  optim.multi_tensor_update #optim.rule<adam>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] loss_scale %x lr %x hyper_params(%x, %x, %x)
  return
}

// -----

func.func @mtu_rule_decay(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{expects a 'weight_decay' operand: the rule decays in its update}}
  optim.multi_tensor_update #optim.rule<adam_weight_decay>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] loss_scale %x lr %x hyper_params(%x, %x, %x)
  return
}

// -----

func.func @mtu_positions(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{with a buffer table expects one position per parameter}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf32>, tensor<5xf32>] positions [0] loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_table_type(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{has a parameter of type 'tensor<4xf64>' in a buffer table of 'f32'}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf64>] positions [0] loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_buffer_count(%p: memref<4xf32>, %x: f64) {
  // expected-error @below {{expects 3 buffers (3 per parameter), got 2}}
  optim.multi_tensor_update #optim.rule<momentum>(%p, %p : memref<4xf32>, memref<4xf32>) params [tensor<4xf32>] loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_buffer_shape(%p: memref<4xf32>, %m: memref<5xf32>, %x: f64) {
  // expected-error @below {{buffer 2 of parameter 0 has type 'memref<5xf32>', expected the shape of state 'moments' of 'tensor<4xf32>'}}
  optim.multi_tensor_update #optim.rule<momentum>(%p, %p, %m : memref<4xf32>, memref<4xf32>, memref<5xf32>) params [tensor<4xf32>] loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_centralize(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{centralizes 'tensor<4xf32>', which gradient centralization does not apply to}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] loss_scale %x lr %x hyper_params(%x) centralize
  return
}

// -----

func.func @mtu_sparse_table(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{with sparse gradients takes each buffer, not a buffer table}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<4x2xf32>] positions [0] loss_scale %x lr %x hyper_params(%x) sparse
  return
}

// -----

func.func @adafactor_row_shape(%p: tensor<8x6xf32>, %r: tensor<6xf32>, %c: tensor<6xf32>, %x: f32, %t: i64) {
  // expected-error @below {{state 'exp_avg_sq_row' has type 'tensor<6xf32>', expected 'tensor<8xf32>' (factored_rows of 'tensor<8x6xf32>')}}
  %0:3 = optim.adafactor_update %p, %p, [%r, %c] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t : tensor<8x6xf32>, [tensor<6xf32>, tensor<6xf32>]
  return
}

// -----

func.func @adafactor_first_moment(%p: tensor<8x6xf32>, %r: tensor<8xf32>, %c: tensor<6xf32>, %x: f32, %t: i64) {
  // expected-error @below {{expects 3 state operands (exp_avg, exp_avg_sq_row, exp_avg_sq_col), got 2}}
  %0:3 = optim.adafactor_update %p, %p, [%r, %c] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t {first_moment} : tensor<8x6xf32>, [tensor<8xf32>, tensor<6xf32>]
  return
}

// -----

func.func @mixed_scalar_types(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %x: f64, %y: f32, %t: i64) {
  // expected-error@+1 {{'optim.adam_update' op float scalars must share one type, got 'f32' and 'f64'}}
  %0:3 = "optim.adam_update"(%p, %g, %m, %v, %y, %x, %x, %x, %t) : (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, f32, f64, f64, f64, i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
  return
}

// -----

func.func @f16_scalars(%g: tensor<16xf32>, %x: f16) {
  // expected-error@+1 {{'optim.scale_grad' op operand #1 must be f32 or f64 scalar, but got 'f16'}}
  %0 = optim.scale_grad %g by %x scalars(f16) : tensor<16xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// Mixed precision
//===----------------------------------------------------------------------===//

optim.optimizer @opt rule #optim.rule<sgd> learning_rate 0.1 {
  // expected-error @below {{'optim.param' op has a master copy, which only float16 and bfloat16 parameters take, not 'f32'}}
  optim.param "w" : tensor<4xf32> master f32
}

// -----

optim.optimizer @opt rule #optim.rule<sgd> learning_rate 0.1 {
  // expected-error @below {{'optim.param' op master copy must be f32, got 'f16'}}
  optim.param "w" : tensor<4xbf16> master f16
}

// -----

optim.optimizer @opt rule #optim.rule<sgd> learning_rate 0.1 {
  // expected-error @below {{'optim.param' op states must be f32, f16 or bf16, got 'f64'}}
  optim.param "w" : tensor<4xbf16> states f64
}

// -----

optim.optimizer @opt rule #optim.rule<sgd> learning_rate 0.1 {
  // expected-error @below {{'optim.param' op states of 'f16' on a parameter of 'bf16': states are f32 or the parameter's type}}
  optim.param "w" : tensor<4xbf16> master f32 states f16
}

// -----

optim.optimizer @opt rule #optim.rule<lazy_adam> learning_rate 0.1 {
  // expected-error @below {{'optim.param' op with a sparse gradient does not support mixed precision ('master', 'states')}}
  optim.param "w" : tensor<4x2xbf16> sparse master f32
}

// -----

func.func @mtu_master_on_f32(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{has a master copy, which only float16 and bfloat16 parameters take, not 'f32'}}
  optim.multi_tensor_update #optim.rule<momentum>(%t, %t : memref<?xmemref<?xf32>>, memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] aux_positions [0] master f32 loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_mixed_classes(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{has parameters of 'f32' and 'bf16': a class has one element type}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<4xf32>, tensor<4xbf16>] positions [0, 3] loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_missing_aux(%t: memref<?xmemref<?xbf16>>, %x: f64) {
  // expected-error @below {{expects an auxiliary f32 buffer table for the master and the f32 states}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xbf16>>) params [tensor<4xbf16>] positions [0] master f32 loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_aux_without_mixed(%t: memref<?xmemref<?xbf16>>, %a: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{takes an auxiliary buffer table only with a master or f32 states of 16-bit parameters}}
  optim.multi_tensor_update #optim.rule<momentum>(%t, %a : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<4xbf16>] positions [0] aux_positions [0] loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_aux_type(%t: memref<?xmemref<?xbf16>>, %a: memref<?xmemref<?xf16>>, %x: f64) {
  // expected-error @below {{auxiliary buffer table must hold f32 buffers, got 'f16'}}
  optim.multi_tensor_update #optim.rule<momentum>(%t, %a : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf16>>) params [tensor<4xbf16>] positions [0] aux_positions [0] master f32 loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_aux_positions(%t: memref<?xmemref<?xbf16>>, %a: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{with an auxiliary buffer table expects one 'aux_positions' entry per parameter}}
  optim.multi_tensor_update #optim.rule<momentum>(%t, %a : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<4xbf16>, tensor<4xbf16>] positions [0, 3] aux_positions [0] master f32 loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_states_type(%t: memref<?xmemref<?xbf16>>, %a: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{states of 'f16' on parameters of 'bf16': states are f32 or the parameters' type}}
  optim.multi_tensor_update #optim.rule<momentum>(%t, %a : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<4xbf16>] positions [0] aux_positions [0] master f32 states f16 loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @mtu_mixed_per_buffer(%p: memref<4xbf16>, %x: f64) {
  // expected-error @below {{with mixed precision takes buffer tables (dense gradients)}}
  optim.multi_tensor_update #optim.rule<momentum>(%p, %p, %p : memref<4xbf16>, memref<4xbf16>, memref<4xbf16>) params [tensor<4xbf16>] master f32 loss_scale %x lr %x hyper_params(%x)
  return
}

// -----

func.func @round_to_shape(%m: tensor<16xf32>, %p: tensor<8xbf16>) {
  // expected-error @below {{'optim.round_to' op input 'tensor<16xf32>' and destination 'tensor<8xbf16>' differ in shape}}
  %0 = optim.round_to %m into %p : tensor<16xf32> into tensor<8xbf16>
  return
}

// -----

// expected-error @+2 {{expected ::mlir::optim::Sharding to be one of: broadcast_params, zero}}
// expected-error @+1 {{failed to parse Optim_ShardingAttr parameter 'value'}}
optim.optimizer @bad_sharding rule #optim.rule<sgd> learning_rate 0.1 sharding <ring> {
  optim.param "w" : tensor<4xf32>
}
