// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// A rule whose record holds its formula (Lion) lowers to the same
// elementwise generic as every rule, its body the formula: sign by two
// compares and selects, decoupled decay.
func.func @lion(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>,
                %lr: f32, %b1: f32, %b2: f32, %wd: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %m1 = optim.lion_update %p, %g, [%m] lr %lr beta1 %b1 beta2 %b2 weight_decay %wd : tensor<16xf32>
  return %p1, %m1 : tensor<16xf32>, tensor<16xf32>
}
// CHECK-LABEL: func.func @lion(
// CHECK:       linalg.generic
// CHECK-SAME:  ins(%{{.*}} : tensor<16xf32>) outs(%{{.*}}, %{{.*}} : tensor<16xf32>, tensor<16xf32>)
// CHECK:       ^bb0(%[[G:.*]]: f32, %[[P:.*]]: f32, %[[M:.*]]: f32):
// CHECK:         arith.cmpf ogt
// CHECK:         arith.cmpf olt
// CHECK:         arith.select
// CHECK:         linalg.yield %{{.*}}, %{{.*}} : f32, f32
// CHECK-NOT:   optim.lion_update

// -----

// float64 parameters with the f64 scalars the step's boundary passes: the
// formula, written on f32, runs in f64 (constants and results converted).
// Its ops that read only scalars (the bias corrections) run once, before
// the loop; the loop holds the element math.
func.func @adan_f64(%p: tensor<8xf64>, %g: tensor<8xf64>, %m: tensor<8xf64>,
                    %d: tensor<8xf64>, %n: tensor<8xf64>, %pg: tensor<8xf64>,
                    %lr: f64, %b1: f64, %b2: f64, %b3: f64, %e: f64, %wd: f64,
                    %t: i64) -> tensor<8xf64> {
  %p1, %m1, %d1, %n1, %g1 = optim.adan_update %p, %g, [%m, %d, %n, %pg] lr %lr beta1 %b1 beta2 %b2 beta3 %b3 eps %e weight_decay %wd step %t scalars(f64) : tensor<8xf64>
  return %p1 : tensor<8xf64>
}
// CHECK-LABEL: func.func @adan_f64(
// CHECK-NOT:   f32
// CHECK:       arith.sitofp %{{.*}} : i64 to f64
// CHECK:       math.powf %{{.*}}, %{{.*}} : f64
// CHECK:       linalg.generic
// CHECK:       ^bb0(%{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64):
// CHECK-NOT:     f32
// CHECK-NOT:     math.powf
// CHECK:         math.sqrt %{{.*}} : f64
// CHECK:         linalg.yield %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : f64, f64, f64, f64, f64

// -----

// float32 parameters with f64 scalars: RAdam's rectification terms (rho_t,
// beta2^t, the bias corrections) are computed in f64 before the loop and
// rounded once; the loop body is f32 element math.
func.func @radam_f32(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>,
                     %v: tensor<8xf32>, %lr: f64, %b1: f64, %b2: f64, %e: f64,
                     %t: i64) -> tensor<8xf32> {
  %p1, %m1, %v1 = optim.radam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t scalars(f64) : tensor<8xf32>
  return %p1 : tensor<8xf32>
}
// CHECK-LABEL: func.func @radam_f32(
// CHECK:       math.powf %{{.*}}, %{{.*}} : f64
// CHECK:       math.powf %{{.*}}, %{{.*}} : f64
// CHECK:       arith.cmpf ogt, %{{.*}}, %{{.*}} : f64
// CHECK:       arith.truncf %{{.*}} : f64 to f32
// CHECK:       linalg.generic
// CHECK:       ^bb0(%{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK-NOT:     f64
// CHECK-NOT:     math.powf
// CHECK:         math.sqrt %{{.*}} : f32
// CHECK:         linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32

// -----

// The update op checks its operands against the record.
func.func @lion_states(%p: tensor<16xf32>, %g: tensor<16xf32>, %lr: f32,
                       %b1: f32, %b2: f32, %wd: f32) {
  // expected-error @below {{expects 1 state operand (exp_avg), got 0}}
  %p1 = optim.lion_update %p, %g, [] lr %lr beta1 %b1 beta2 %b2 weight_decay %wd : tensor<16xf32>
  return
}

// -----

func.func @adan_range(%p: tensor<16xf32>, %g: tensor<16xf32>,
                      %m: tensor<16xf32>, %lr: f32, %b: f32, %wd: f32, %t: i64) {
  %e = arith.constant -1.0 : f32
  // expected-error @below {{'eps' must be in (0, inf), got -1}}
  %r:5 = optim.adan_update %p, %g, [%m, %m, %m, %m] lr %lr beta1 %b beta2 %b beta3 %b eps %e weight_decay %wd step %t : tensor<16xf32>
  return
}

// -----

// A formula with options (torch's RMSprop): each option is an i1 argument
// of the formula, the op's unit attribute as a constant; a state the
// options leave out reads 0 and its result is dropped, so the generic has
// exactly the op's states.
func.func @rmsprop_plain(%p: tensor<16xf32>, %g: tensor<16xf32>,
                         %s: tensor<16xf32>, %lr: f32, %a: f32, %e: f32,
                         %m: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %s1 = optim.torch_rmsprop_update %p, %g, [%s] lr %lr alpha %a eps %e momentum %m : tensor<16xf32>
  return %p1, %s1 : tensor<16xf32>, tensor<16xf32>
}
// CHECK-LABEL: func.func @rmsprop_plain(
// CHECK-DAG:   %[[CENTERED:.*]] = arith.constant false
// CHECK-DAG:   %[[MOMENTUM:.*]] = arith.constant false
// CHECK:       linalg.generic
// CHECK-SAME:  outs(%{{.*}}, %{{.*}} : tensor<16xf32>, tensor<16xf32>)
// CHECK:       ^bb0(%{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         arith.mulf %[[ZERO]]
// CHECK:         arith.select %[[CENTERED]]
// CHECK:         arith.select %[[MOMENTUM]]
// CHECK:         linalg.yield %{{.*}}, %{{.*}} : f32, f32

// -----

func.func @rmsprop_centered_momentum(%p: tensor<16xf32>, %g: tensor<16xf32>,
                                     %s: tensor<16xf32>, %b: tensor<16xf32>,
                                     %v: tensor<16xf32>, %lr: f32, %a: f32,
                                     %e: f32, %m: f32) -> tensor<16xf32> {
  %p1, %s1, %b1, %v1 = optim.torch_rmsprop_update %p, %g, [%s, %b, %v] lr %lr alpha %a eps %e momentum %m {centered, use_momentum} : tensor<16xf32>
  return %p1 : tensor<16xf32>
}
// CHECK-LABEL: func.func @rmsprop_centered_momentum(
// CHECK-DAG:   arith.constant true
// CHECK:       linalg.generic
// CHECK-SAME:  outs(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
// CHECK-NOT:     arith.constant 0.000000e+00
// CHECK:         linalg.yield %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32, f32

// -----

func.func @rmsprop_states(%p: tensor<16xf32>, %g: tensor<16xf32>,
                          %s: tensor<16xf32>, %lr: f32, %a: f32, %e: f32,
                          %m: f32) {
  // expected-error @below {{expects 2 state operands (square_avg, momentum_buffer), got 1}}
  %p1, %s1 = optim.torch_rmsprop_update %p, %g, [%s] lr %lr alpha %a eps %e momentum %m {use_momentum} : tensor<16xf32>
  return
}

// -----

// A rule without states (ProximalGradientDescent): the update takes and
// yields the parameter alone; the soft threshold is abs, maximum and the
// sign's compares.
func.func @proximal_gradient_descent(%p: tensor<16xf32>, %g: tensor<16xf32>,
                                     %lr: f32, %l1: f32, %l2: f32) -> tensor<16xf32> {
  %p1 = optim.proximal_gradient_descent_update %p, %g, [] lr %lr l1 %l1 l2 %l2 : tensor<16xf32>
  return %p1 : tensor<16xf32>
}
// CHECK-LABEL: func.func @proximal_gradient_descent(
// CHECK:       linalg.generic
// CHECK-SAME:  ins(%{{.*}} : tensor<16xf32>) outs(%{{.*}} : tensor<16xf32>)
// CHECK:       ^bb0(%{{.*}}: f32, %{{.*}}: f32):
// CHECK:         math.absf
// CHECK:         arith.maximumf
// CHECK:         linalg.yield %{{.*}} : f32
// CHECK-NOT:   optim.proximal_gradient_descent_update

// -----

// The global step reaches AdagradDA's formula as the 1-based count; the
// ops on scalars alone (the count as a float, l1 * t, l2 * t * lr) run once,
// before the loop.
func.func @adagrad_da(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>,
                      %s: tensor<16xf32>, %lr: f32, %l1: f32, %l2: f32,
                      %t: i64) -> tensor<16xf32> {
  %p1, %a1, %s1 = optim.adagrad_da_update %p, %g, [%a, %s] lr %lr l1 %l1 l2 %l2 step %t : tensor<16xf32>
  return %p1 : tensor<16xf32>
}
// CHECK-LABEL: func.func @adagrad_da(
// CHECK:       arith.sitofp %{{.*}} : i64 to f32
// CHECK:       arith.mulf
// CHECK:       linalg.generic
// CHECK-NOT:     arith.sitofp
// CHECK:         math.sqrt
// CHECK:         linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32
// CHECK-NOT:   optim.adagrad_da_update
