// RUN: optim-opt %s --optim-schedule-step="chunk-size=64" --split-input-file --verify-diagnostics | FileCheck %s

// Buffer tables: the classes' functions are shared by code (here one flat
// f32 function for both classes, which differ only in their scalars), one
// chunk table lists every chunk (a 100-element parameter gives two chunks of
// at most 64), and one parallel loop runs them, dispatched on the class.
func.func @sgd_step(%table: memref<?xmemref<?xf32>>, %ls: f64, %lr0: f64, %lr1: f64, %mu: f64) {
  optim.multi_tensor_update #optim.rule<momentum>(%table : memref<?xmemref<?xf32>>) params [tensor<100xf32>, tensor<3x4xf32>] positions [0, 6] loss_scale %ls lr %lr0 hyper_params(%mu)
  optim.multi_tensor_update #optim.rule<momentum>(%table : memref<?xmemref<?xf32>>) params [tensor<5xf32>] positions [3] loss_scale %ls lr %lr1 hyper_params(%mu)
  return
}
// CHECK-LABEL: func.func @sgd_step(
// CHECK-SAME: %[[TABLE:[a-z0-9]+]]: memref<?xmemref<?xf32>>, %[[LS:[a-z0-9]+]]: f64, %[[LR0:[a-z0-9]+]]: f64, %[[LR1:[a-z0-9]+]]: f64, %[[MU:[a-z0-9]+]]: f64)
// CHECK:      %[[CHUNKS:.*]] = memref.get_global @sgd_chunks : memref<4x12xindex>
// CHECK:      scf.parallel
// CHECK:        scf.index_switch
// CHECK:        case 0 {
// CHECK:          func.call @[[FN:sgd_update_0]](%{{.*}}, %{{.*}}, %{{.*}}, %[[LS]], %[[LR0]], %[[MU]])
// CHECK:        case 1 {
// CHECK:          func.call @[[FN]](%{{.*}}, %{{.*}}, %{{.*}}, %[[LS]], %[[LR1]], %[[MU]])
// CHECK-NOT:  optim.multi_tensor_update
// CHECK:      return
// CHECK:      func.func private @[[FN]](%{{.*}}: memref<?xf32, strided<[1], offset: ?>>, {{.*}}) attributes {optim.sequential, passthrough = ["noinline"]}
// CHECK:        optim.momentum_update
// CHECK-NOT:  func.func private @sgd_update_1
// Class, position (the parameter's first entry: 3 per parameter here),
// auxiliary position, offset, size, cols, row slot, partial slot, first
// partial, partials, slice rows, slice cols.
// CHECK:      memref.global "private" constant @sgd_chunks : memref<4x12xindex> = dense<{{\[}}[0, 0, 0, 0, 64, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 64, 36, 1, 0, 0, 0, 0, 0, 0], [0, 6, 0, 0, 12, 1, 0, 0, 0, 0, 0, 0], [1, 3, 0, 0, 5, 1, 0, 0, 0, 0, 0, 0]]>

// -----

// The per-buffer form: each parameter's whole update in place, on its
// static types, in MindSpore's order.
func.func @per_buffer_step(%p: memref<8xf32>, %g: memref<8xf32>, %m: memref<8xf32>, %ls: f64, %wd: f64, %lr: f64, %mu: f64) {
  optim.multi_tensor_update #optim.rule<momentum>(%p, %g, %m : memref<8xf32>, memref<8xf32>, memref<8xf32>) params [tensor<8xf32>] loss_scale %ls decay_weight %wd lr %lr hyper_params(%mu)
  return
}
// CHECK-LABEL: func.func @per_buffer_step(
// CHECK:      %[[P:.*]] = bufferization.to_tensor %{{.*}} restrict writable : memref<8xf32>
// CHECK:      %[[G:.*]] = bufferization.to_tensor %{{.*}} restrict : memref<8xf32>
// CHECK:      %[[D:.*]] = optim.decay_weight %[[G]], %[[P]]
// CHECK:      %[[S:.*]] = optim.scale_grad %[[D]]
// CHECK:      optim.momentum_update %[[P]], %[[S]]
// CHECK-COUNT-2: bufferization.materialize_in_destination
// CHECK-NOT:  scf.parallel
// CHECK:      return

// -----

// A step has one rule.
func.func @two_rules(%table: memref<?xmemref<?xf32>>, %ls: f64, %lr: f64, %mu: f64) {
  optim.multi_tensor_update #optim.rule<momentum>(%table : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] loss_scale %ls lr %lr hyper_params(%mu)
  // expected-error@+1 {{'optim.multi_tensor_update' op has another rule than the first update of its step function: a step has one rule}}
  optim.multi_tensor_update #optim.rule<momentum, momentum = 0.5>(%table : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [1] loss_scale %ls lr %lr hyper_params(%mu)
  return
}

// -----

// The updates of a step run at its top level, not inside its control flow.
func.func @nested(%table: memref<?xmemref<?xf32>>, %ls: f64, %lr: f64, %mu: f64, %c: i1) {
  scf.if %c {
    // expected-error@+1 {{'optim.multi_tensor_update' op must be at the top level of its step function}}
    optim.multi_tensor_update #optim.rule<momentum>(%table : memref<?xmemref<?xf32>>) params [tensor<4xf32>] positions [0] loss_scale %ls lr %lr hyper_params(%mu)
  }
  return
}

// -----

// A whole-tensor rule (Adafactor): one chunk per parameter whatever the
// chunk size, its (B, R, C) view in the chunk table's last two columns
// (a 4x3x5x6 tensor is 12 slices of 5x6; a vector is 1x1x7), the function
// taking the parameter as (B, R, C), the factored states as (B, R) and
// (B, C), and its sums in the scratch table from the row slot: 12 * (5 + 6
// + 1) = 144 for the first, 1 * (1 + 7 + 1) = 9 for the second.
func.func @af_step(%table: memref<?xmemref<?xf32>>, %ls: f64, %lr: f64, %e1: f64, %e2: f64, %d: f64, %k: f64, %b1: f64, %wd: f64, %n: i64) {
  optim.multi_tensor_update #optim.rule<adafactor, first_moment = false>(%table : memref<?xmemref<?xf32>>) params [tensor<4x3x5x6xf32>, tensor<7xf32>] positions [0, 4] loss_scale %ls lr %lr hyper_params(%e1, %e2, %d, %k, %b1) weight_decay %wd count %n
  return
}
// CHECK-LABEL: func.func @af_step(
// CHECK:      memref.get_global @af_chunks : memref<2x12xindex>
// CHECK:      %[[SCRATCH:.*]] = memref.get_global @af_scratch_f32 : memref<153xf32>
// CHECK:      scf.parallel
// CHECK:        memref.reinterpret_cast {{.*}} : memref<?xf32> to memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>
// CHECK:        memref.reinterpret_cast {{.*}} : memref<?xf32> to memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>
// CHECK:        memref.reinterpret_cast {{.*}} : memref<?xf32> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK:        memref.reinterpret_cast {{.*}} : memref<?xf32> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK:        memref.reinterpret_cast %[[SCRATCH]] {{.*}} to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK:        memref.reinterpret_cast %[[SCRATCH]] {{.*}} to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK:        memref.reinterpret_cast %[[SCRATCH]] {{.*}} to memref<?xf32, strided<[1], offset: ?>>
// CHECK:        func.call @af_update_0(
// CHECK:      func.func private @af_update_0(
// CHECK:        optim.adafactor_update {{.*}} workspace({{.*}}) {relative_step, scale_parameter} : tensor<?x?x?xf32>, [tensor<?x?xf32>, tensor<?x?xf32>]
// CHECK:      memref.global "private" constant @af_chunks : memref<2x12xindex> = dense<{{\[}}[0, 0, 0, 0, 360, 1, 0, 0, 0, 0, 5, 6], [0, 4, 0, 0, 7, 1, 144, 0, 0, 0, 1, 7]]>
