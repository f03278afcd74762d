// RUN: optim-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// Dynamic loss scaling and global-norm clipping are options of the
// optimizer; numbers are written as in Python and print back canonically.
optim.optimizer @amp rule #optim.rule<adam> learning_rate 1e-3 loss_scale 65536 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 2000, min_scale = 0.0> max_grad_norm 1 {
  optim.param "w" : tensor<4xf32>
}
// CHECK-LABEL: optim.optimizer @amp
// CHECK-SAME:  loss_scale 6.553600e+04 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 2000, min_scale = 0.0> max_grad_norm 1.000000e+00 {

// -----

// Clipping alone; a dynamic scale at the default loss scale 1.
optim.optimizer @clip rule #optim.rule<sgd> learning_rate 0.1 max_grad_norm 0.5 {
  optim.param "w" : tensor<4xf32>
}
// CHECK-LABEL: optim.optimizer @clip
// CHECK-SAME:  learning_rate 1.000000e-01 : f64 max_grad_norm 5.000000e-01 {
optim.optimizer @dyn rule #optim.rule<sgd> learning_rate 0.1 loss_scale 1 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 1, min_scale = 1.0> {
  optim.param "w" : tensor<4xf32>
}
// CHECK-LABEL: optim.optimizer @dyn
// CHECK-SAME:  loss_scale 1.000000e+00 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 1, min_scale = 1.0> {

// -----

// The step-level op.
func.func @control(%status: memref<5xf64>, %ls: f64, %max: f64, %g: f64, %b: f64, %i: f64, %m: f64) {
  optim.gradient_control(%status : memref<5xf64>) loss_scale %ls max_grad_norm %max dynamic(%g, %b, %i, %m)
  optim.gradient_control(%status : memref<5xf64>) loss_scale %ls max_grad_norm %max
  return
}
// CHECK-LABEL: func.func @control
// CHECK:       optim.gradient_control(%{{.*}} : memref<5xf64>) loss_scale %{{.*}} max_grad_norm %{{.*}} dynamic(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
// CHECK:       optim.gradient_control(%{{.*}} : memref<5xf64>) loss_scale %{{.*}} max_grad_norm %{{.*}}{{$}}

// -----

// expected-error @below {{'max_grad_norm' must be positive and finite, got 0}}
optim.optimizer @zero_norm rule #optim.rule<sgd> learning_rate 0.1 max_grad_norm 0 {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error @below {{'backoff_factor' must be in (0, 1]}}
optim.optimizer @bad_backoff rule #optim.rule<sgd> learning_rate 0.1 loss_scale 8 dynamic<growth_factor = 2.0, backoff_factor = 2.0, growth_interval = 10, min_scale = 1.0> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error @below {{'growth_interval' must be positive, got 0}}
optim.optimizer @bad_interval rule #optim.rule<sgd> learning_rate 0.1 loss_scale 8 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 0, min_scale = 1.0> {
  optim.param "w" : tensor<4xf32>
}

// -----

// expected-error @below {{'growth_factor' must be at least 1 and finite}}
optim.optimizer @bad_growth rule #optim.rule<sgd> learning_rate 0.1 loss_scale 8 dynamic<growth_factor = 0.5, backoff_factor = 0.5, growth_interval = 10, min_scale = 1.0> {
  optim.param "w" : tensor<4xf32>
}

// -----

func.func @nothing(%status: memref<5xf64>, %ls: f64) {
  // expected-error @below {{controls nothing: expected 'max_grad_norm', 'dynamic' or both}}
  optim.gradient_control(%status : memref<5xf64>) loss_scale %ls
  return
}

// -----

func.func @short_status(%status: memref<4xf64>, %ls: f64, %max: f64) {
  // expected-error @below {{status must be memref<5xf64>}}
  optim.gradient_control(%status : memref<4xf64>) loss_scale %ls max_grad_norm %max
  return
}

// -----

func.func @three(%status: memref<5xf64>, %ls: f64, %g: f64) {
  // expected-error @below {{'dynamic' takes four scalars}}
  optim.gradient_control(%status : memref<5xf64>) loss_scale %ls dynamic(%g, %g, %g)
  return
}

// -----

func.func @squared(%g: tensor<?xf16>) -> tensor<2xf64> {
  // expected-error @below {{result must be tensor<1xf64>}}
  %s = optim.squared_norm %g : tensor<?xf16> -> tensor<2xf64>
  return %s : tensor<2xf64>
}
