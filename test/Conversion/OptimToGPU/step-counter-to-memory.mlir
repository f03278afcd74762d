// RUN: optim-opt %s --optim-step-counter-to-memory --split-input-file --verify-diagnostics | FileCheck %s

// The step's i64 argument becomes a one-element buffer: read at the start,
// incremented before every return. Other functions are left alone.
func.func @opt_step(%hyper: memref<2xf32>, %out: memref<3xi64>, %t: i64) {
  %c0 = arith.constant 0 : index
  memref.store %t, %out[%c0] : memref<3xi64>
  return
}
func.func @opt_lr(%hyper: memref<2xf32>, %t: i64) {
  return
}
// CHECK-LABEL: func.func @opt_step(
// CHECK-SAME:  %{{.*}}: memref<2xf32>, %[[OUT:.*]]: memref<3xi64>, %[[COUNTER:.*]]: memref<1xi64>)
// CHECK:       %[[C0:.*]] = arith.constant 0 : index
// CHECK:       %[[T:.*]] = memref.load %[[COUNTER]][%[[C0]]] : memref<1xi64>
// CHECK:       memref.store %[[T]], %[[OUT]]
// CHECK:       %[[ONE:.*]] = arith.constant 1 : i64
// CHECK:       %[[NEXT:.*]] = arith.addi %[[T]], %[[ONE]] : i64
// CHECK:       memref.store %[[NEXT]], %[[COUNTER]][%[[C0]]] : memref<1xi64>
// CHECK-NEXT:  return
// CHECK-LABEL: func.func @opt_lr(
// CHECK-SAME:  %{{.*}}: memref<2xf32>, %{{.*}}: i64)

// -----

// expected-error @below {{a step function must take the global step (i64) as its last argument}}
func.func @bad_step(%hyper: memref<2xf32>) {
  return
}

// -----

// Dynamic loss scaling: a step that found an inf (status[2] != 0) does not
// count.
func.func @amp_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) attributes {optim.skips_nonfinite = 1 : i64} {
  return
}
// CHECK-LABEL: func.func @amp_step(
// CHECK-SAME:  %{{.*}}: memref<2xf64>, %[[STATUS:.*]]: memref<5xf64>, %[[COUNTER:.*]]: memref<1xi64>)
// CHECK:       %[[T:.*]] = memref.load %[[COUNTER]]
// CHECK:       %[[FLAG:.*]] = memref.load %[[STATUS]][%{{.*}}] : memref<5xf64>
// CHECK:       %[[CLEAN:.*]] = arith.cmpf oeq, %[[FLAG]], %{{.*}} : f64
// CHECK:       %[[ONE:.*]] = arith.extui %[[CLEAN]] : i1 to i64
// CHECK:       %[[NEXT:.*]] = arith.addi %[[T]], %[[ONE]] : i64
// CHECK:       memref.store %[[NEXT]], %[[COUNTER]]

// -----

// The status index must name the status buffer, before the global step.
// expected-error @below {{'optim.skips_nonfinite' must be the index of the step's status argument (memref<5xf64>, before the global step), got 2 : i64}}
func.func @past_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) attributes {optim.skips_nonfinite = 2 : i64} {
  return
}

// -----

// expected-error @below {{'optim.skips_nonfinite' must be the index of the step's status argument (memref<5xf64>, before the global step), got 0 : i64}}
func.func @hyper_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) attributes {optim.skips_nonfinite = 0 : i64} {
  return
}

// -----

// expected-error @below {{'optim.skips_nonfinite' must be the index of the step's status argument (memref<5xf64>, before the global step), got -1 : i64}}
func.func @negative_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) attributes {optim.skips_nonfinite = -1 : i64} {
  return
}

// -----

// expected-error @below {{'optim.skips_nonfinite' must be the index of the step's status argument (memref<5xf64>, before the global step), got unit}}
func.func @unit_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) attributes {optim.skips_nonfinite} {
  return
}
