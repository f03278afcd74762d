// RUN: optim-opt %s --optim-resolve-optimizer="chunk-size=16" --canonicalize | FileCheck %s
// RUN: optim-opt %s --optim-resolve-optimizer="chunk-size=16" --canonicalize --split-input-file | FileCheck %s --check-prefix=LAMB

// The default step takes its buffers through one table per element type
// (StepABI.h) and calls one shared update function per class of parameters
// (update code, group, decay). Parameters that need no per-tensor reduction
// are processed by ONE parallel loop over chunks of at most 16 elements of
// all of them (a constant table of class, position, offset, size rows),
// whatever their number and shapes; the centralized parameter keeps its
// shape and is called on its own.
optim.optimizer @opt rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 weight_decay 0.01 {
  optim.group grad_centralization {
    optim.param "w1" : tensor<8x16xf32>
    optim.param "w2" : tensor<3x5xf32>
    optim.param "b1" : tensor<37xf32>
    optim.param "s" : tensor<f32>
  }
  optim.group weight_decay 0.0 {
    optim.param "w3" : tensor<4x7xf64>
  }
}

// CHECK-LABEL: func.func @opt_step(
// CHECK-SAME: %[[F32:[a-z0-9]+]]: memref<?xmemref<?xf32>>, %[[F64:[a-z0-9]+]]: memref<?xmemref<?xf64>>, %[[TABLE:[a-z0-9]+]]: memref<7xf32>, %{{.*}}: i64)
// w1: entries 0, 1, 2 of the f32 table, viewed with its shape again.
// CHECK:      %[[P:.*]] = memref.load %[[F32]][%c0]
// CHECK:      memref.reinterpret_cast %[[P]] to offset: [0], sizes: [8, 16], strides: [16, 1]
// CHECK:      call @[[CENTRAL:opt_update_[0-9]+]](
// Everything else: one parallel loop over 7 chunks (15 | 16+16+5 | 1 of f32,
// 16+12 of f64), dispatched on the class.
// CHECK:      %[[CHUNKS:.*]] = memref.get_global @opt_chunks : memref<7x4xindex>
// CHECK:      scf.parallel (%[[I:.*]]) = (%c0) to (%c7) step (%c1) {
// CHECK:        %[[CLS:.*]] = memref.load %[[CHUNKS]][%[[I]], %c0]
// CHECK:        %[[POS:.*]] = memref.load %[[CHUNKS]][%[[I]], %c1]
// CHECK:        %[[OFF:.*]] = memref.load %[[CHUNKS]][%[[I]], %c2]
// CHECK:        %[[LEN:.*]] = memref.load %[[CHUNKS]][%[[I]], %c3]
// CHECK:        scf.index_switch %[[CLS]]
// CHECK:        case 1 {
// CHECK:          %[[BASE:.*]] = arith.muli %[[POS]], %c3
// CHECK:          %[[B:.*]] = memref.load %[[F32]][%[[BASE]]]
// CHECK:          memref.reinterpret_cast %[[B]] to offset: [%[[OFF]]], sizes: [%[[LEN]]], strides: [1] : memref<?xf32> to memref<?xf32, strided<[1], offset: ?>>
// CHECK:          func.call @[[FLAT:opt_update_[0-9]+]](
// CHECK:        case 2 {
// CHECK:          memref.load %[[F64]]
// CHECK:          func.call @[[F64FN:opt_update_[0-9]+]](
// CHECK-NOT:  scf.parallel
// CHECK:      return

// CHECK:      func.func private @[[CENTRAL]](%{{.*}}: memref<8x16xf32>, {{.*}} attributes {passthrough = ["noinline"]}
// CHECK:        optim.decay_weight
// CHECK:        optim.centralize
// CHECK:        optim.momentum_update
// CHECK:      func.func private @[[FLAT]](%{{.*}}: memref<?xf32, strided<[1], offset: ?>>,
// CHECK-SAME: attributes {optim.sequential, passthrough = ["noinline"]}
// CHECK-NOT:    optim.centralize
// CHECK:        optim.decay_weight
// CHECK:        optim.momentum_update {{.*}} : tensor<?xf32>
// CHECK:      func.func private @[[F64FN]](%{{.*}}: memref<?xf64, strided<[1], offset: ?>>
// CHECK-NOT:  func.func private
// CHECK:      memref.global "private" constant @opt_chunks : memref<7x4xindex> = dense<{{\[}}[1, 1, 0, 15], [1, 2, 0, 16], [1, 2, 16, 16], [1, 2, 32, 5], [1, 3, 0, 1], [2, 0, 0, 16], [2, 0, 16, 12]]>
// CHECK:      func.func @opt_lr(

// -----

// Lamb needs norms of whole tensors: no chunks, one call per parameter over
// its whole flat buffer.
optim.optimizer @lamb rule #optim.rule<lamb> learning_rate 0.1 {
  optim.param "w" : tensor<40xf32>
  optim.param "b" : tensor<3xf32>
}
// LAMB-LABEL: func.func @lamb_step(
// LAMB-NOT:   scf.parallel
// LAMB:       memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [40], strides: [1]
// LAMB:       call @[[F:lamb_update_0]](
// LAMB:       memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [3], strides: [1]
// LAMB:       call @[[F]](
// LAMB-NOT:   scf.parallel
// LAMB:       return
