// RUN: optim-opt %s --optim-map-step-to-gpu="block-size=128" --split-input-file --verify-diagnostics | FileCheck %s

// Each phase (a parallel loop over chunks) becomes one launch with one
// block per chunk; the scalars it uses (a hyper-parameter load, a product)
// and the chunk table are recomputed inside from the step's arguments; the
// chunk function is inlined and removed.
memref.global "private" constant @opt_chunks : memref<3x1xindex> = dense<[[0], [1], [2]]>
func.func private @opt_update_0(%x: f32, %i: index, %out: memref<3xf32>) attributes {optim.sequential} {
  memref.store %x, %out[%i] : memref<3xf32>
  return
}
func.func @opt_step(%hyper: memref<2xf32>, %out: memref<3xf32>, %t: i64) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %lr = memref.load %hyper[%c1] : memref<2xf32>
  %scale = arith.mulf %lr, %lr : f32
  %chunks = memref.get_global @opt_chunks : memref<3x1xindex>
  scf.parallel (%i) = (%c0) to (%c3) step (%c1) {
    %k = memref.load %chunks[%i, %c0] : memref<3x1xindex>
    func.call @opt_update_0(%scale, %k, %out) : (f32, index, memref<3xf32>) -> ()
    scf.reduce
  }
  return
}
// CHECK:       module attributes {gpu.container_module}
// CHECK-NOT:   func.func private @opt_update_0
// CHECK-LABEL: func.func @opt_step(
// CHECK-SAME:  %[[HYPER:.*]]: memref<2xf32>, %[[OUT:.*]]: memref<3xf32>
// CHECK:       gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK:         %[[LR:.*]] = memref.load %[[HYPER]][%{{.*}}] : memref<2xf32>
// CHECK:         %[[SCALE:.*]] = arith.mulf %[[LR]], %[[LR]] : f32
// CHECK:         %[[CHUNKS:.*]] = memref.get_global @opt_chunks
// CHECK:         %[[I:.*]] = arith.addi %{{.*}}, %[[BX]] : index
// CHECK:         %[[K:.*]] = memref.load %[[CHUNKS]][%[[I]], %{{.*}}]
// CHECK:         memref.store %[[SCALE]], %[[OUT]][%[[K]]]
// CHECK-NOT:     func.call
// CHECK:         gpu.terminator
// CHECK-NOT:   scf.parallel

// -----

// A phase of one chunk, which canonicalization turned into a plain call:
// one launch of one block.
func.func private @one_update_0(%x: f32, %out: memref<3xf32>) attributes {optim.sequential} {
  %c0 = arith.constant 0 : index
  memref.store %x, %out[%c0] : memref<3xf32>
  return
}
func.func @one_step(%hyper: memref<2xf32>, %out: memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %lr = memref.load %hyper[%c0] : memref<2xf32>
  func.call @one_update_0(%lr, %out) : (f32, memref<3xf32>) -> ()
  return
}
// CHECK-LABEL: func.func @one_step(
// CHECK:       %[[ONE:.*]] = arith.constant 1 : index
// CHECK:       gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]])
// CHECK:         %[[LR:.*]] = memref.load
// CHECK:         memref.store %[[LR]]
// CHECK-NOT:     func.call
// CHECK:         gpu.terminator

// -----

func.func @bad_step(%out: memref<3x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  // expected-error @below {{a phase of the step must be a 1-D parallel loop over chunks}}
  scf.parallel (%i, %j) = (%c0, %c0) to (%c3, %c3) step (%c1, %c1) {
    scf.reduce
  }
  return
}

// -----

// The per-parameter form of a step (sparse gradients) writes buffers in
// loops of the step function itself: on a GPU that would run on the host.
func.func @sparse_step(%p: memref<4xf32>, %x: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    // expected-error @below {{would run on the host in a GPU step: only the multi-tensor step (dense gradients, shared update functions) maps to GPU kernels}}
    memref.store %x, %p[%i] : memref<4xf32>
  }
  return
}

// -----

// A scalar store after the phases (the step counter's increment) runs on
// one thread of a launch of its own, after the phase's launch; the loads
// it depends on are made inside it.
func.func private @cnt_update_0(%t: i64, %out: memref<3xi64>) attributes {optim.sequential} {
  %c0 = arith.constant 0 : index
  memref.store %t, %out[%c0] : memref<3xi64>
  return
}
func.func @cnt_step(%out: memref<3xi64>, %counter: memref<1xi64>) {
  %c0 = arith.constant 0 : index
  %one = arith.constant 1 : i64
  %t = memref.load %counter[%c0] : memref<1xi64>
  func.call @cnt_update_0(%t, %out) : (i64, memref<3xi64>) -> ()
  %next = arith.addi %t, %one : i64
  memref.store %next, %counter[%c0] : memref<1xi64>
  return
}
// CHECK-LABEL: func.func @cnt_step(
// CHECK-SAME:  %[[OUT:.*]]: memref<3xi64>, %[[COUNTER:.*]]: memref<1xi64>
// CHECK:       gpu.launch
// CHECK:         %[[T:.*]] = memref.load %[[COUNTER]]
// CHECK:         memref.store %[[T]], %[[OUT]]
// CHECK:         gpu.terminator
// CHECK:       %[[ONE:.*]] = arith.constant 1 : index
// CHECK:       gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]]) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]])
// CHECK:         %[[T2:.*]] = memref.load %[[COUNTER]]
// CHECK:         %[[NEXT:.*]] = arith.addi %[[T2]]
// CHECK:         memref.store %[[NEXT]], %[[COUNTER]]
// CHECK:         gpu.terminator
// CHECK-NOT:   memref.store

// -----

// A call of a single-thread function between phases (a step's combine)
// is a launch of one block of one thread.
func.func private @opt_combine(%status: memref<5xf64>, %x: f64) attributes {optim.sequential, optim.single_thread} {
  %c2 = arith.constant 2 : index
  memref.store %x, %status[%c2] : memref<5xf64>
  return
}
func.func @opt_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) {
  %c0 = arith.constant 0 : index
  %ls = memref.load %hyper[%c0] : memref<2xf64>
  func.call @opt_combine(%status, %ls) : (memref<5xf64>, f64) -> ()
  return
}
// CHECK-LABEL: func.func @opt_step(
// CHECK-SAME:  %[[HYPER:.*]]: memref<2xf64>, %[[STATUS:.*]]: memref<5xf64>
// CHECK:       %[[ONE:.*]] = arith.constant 1 : index
// CHECK:       gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]]) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]], %{{.*}} = %[[ONE]])
// CHECK:         %[[LS:.*]] = memref.load %[[HYPER]]
// CHECK:         memref.store %[[LS]], %[[STATUS]]
// CHECK:         gpu.terminator
