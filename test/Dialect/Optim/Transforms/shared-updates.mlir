// RUN: optim-opt %s --optim-build-step="chunk-size=16" --canonicalize --mlir-print-elementsattrs-with-hex-if-larger=-1 | FileCheck %s
// RUN: optim-opt %s --optim-build-step="chunk-size=16" --canonicalize --split-input-file | FileCheck %s --check-prefix=LAMB

// The default step takes its buffers through one table per element type
// (StepABI.h) and runs as multi-tensor phases over ONE constant chunk table
// (class, position: the parameter's first entry in its table, auxiliary
// position, offset, size, cols, row slot, partial slot, first partial,
// partials, slice rows, slice cols), whatever the number and shapes of the
// parameters:
// 1. the reduction phase, one parallel loop over the chunks of classes that
//    need a reduction (here the centralized w1, cut into chunks of whole
//    rows: 1 row of 16), writing row sums into the scratch table;
// 2. the update phase, one parallel loop over every chunk, dispatched on the
//    class; the centralized chunks read their rows' sums back.
// Every shared function takes dynamic sizes: w1 is viewed as (rows, cols).
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
// CHECK-SAME: %[[F32:[a-z0-9]+]]: memref<?xmemref<?xf32>>, %[[F64:[a-z0-9]+]]: memref<?xmemref<?xf64>>, %[[TABLE:[a-z0-9]+]]: memref<7xf64>, %{{.*}}: i64)
// CHECK:      %[[CHUNKS:.*]] = memref.get_global @opt_chunks : memref<15x12xindex>
// CHECK:      %[[SCRATCH:.*]] = memref.get_global @opt_scratch_f32 : memref<8xf32>
// Phase 1: the 8 row chunks of w1.
// CHECK:      scf.parallel (%[[I:.*]]) = (%c0) to (%c8) step (%c1) {
// CHECK:        %[[POS:.*]] = memref.load %[[CHUNKS]][%[[I]], %c1]
// CHECK:        %[[OFF:.*]] = memref.load %[[CHUNKS]][%[[I]], %c3]
// CHECK:        %[[LEN:.*]] = memref.load %[[CHUNKS]][%[[I]], %c4]
// CHECK:        %[[COLS:.*]] = memref.load %[[CHUNKS]][%[[I]], %c5]
// CHECK:        %[[ROWS:.*]] = arith.divui %[[LEN]], %[[COLS]]
// CHECK:        %[[P:.*]] = memref.load %[[F32]][%[[POS]]]
// CHECK:        memref.reinterpret_cast %[[P]] to offset: [%[[OFF]]], sizes: [%[[ROWS]], %[[COLS]]], strides: [%[[COLS]], 1]
// CHECK:        %[[GI:.*]] = arith.addi %[[POS]], %c1
// CHECK:        memref.load %[[F32]][%[[GI]]]
// CHECK:        %[[SLOT:.*]] = memref.load %[[CHUNKS]][%[[I]], %c6]
// CHECK:        memref.reinterpret_cast %[[SCRATCH]] to offset: [%[[SLOT]]]
// CHECK:        func.call @[[REDUCE:opt_reduce_0]](
// CHECK:      scf.parallel (%[[J:.*]]) = (%c0) to (%c15) step (%c1) {
// CHECK:        %[[CLS:.*]] = memref.load %[[CHUNKS]][%[[J]], %c0]
// CHECK:        scf.index_switch %[[CLS]]
// CHECK:        case 0 {
// CHECK:          func.call @[[CENTRAL:opt_update_0]](
// CHECK:        case 1 {
// CHECK:          memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [%{{.*}}], strides: [1] : memref<?xf32> to memref<?xf32, strided<[1], offset: ?>>
// CHECK:          func.call @[[FLAT:opt_update_1]](
// CHECK:        case 2 {
// CHECK:          memref.load %[[F64]]
// CHECK:          func.call @[[F64FN:opt_update_2]](
// CHECK-NOT:  scf.parallel
// CHECK:      return

// No static size in any shared function: the update and the reduction of
// the centralized class take (rows, cols) chunks of any size.
// CHECK:      func.func private @[[CENTRAL]](%{{.*}}: memref<?x?xf32, strided<[?, 1], offset: ?>>, {{.*}}, %[[SUMS:.*]]: memref<?xf32, strided<[1], offset: ?>>) attributes {optim.sequential, passthrough = ["noinline"]}
// CHECK:        optim.decay_weight
// CHECK:        %[[S:.*]] = bufferization.to_tensor %[[SUMS]]
// CHECK:        optim.centralize %{{.*}} row_sums %[[S]] : tensor<?x?xf32>, tensor<?xf32>
// CHECK:        optim.momentum_update {{.*}} : tensor<?x?xf32>
// CHECK:      func.func private @[[REDUCE]](%{{.*}}: memref<?x?xf32, strided<[?, 1], offset: ?>>,
// CHECK:        optim.decay_weight
// CHECK:        %[[RS:.*]] = optim.row_sum %{{.*}} : tensor<?x?xf32> -> tensor<?xf32>
// CHECK:        bufferization.materialize_in_destination %[[RS]]
// CHECK-NOT:    optim.momentum_update
// CHECK:      func.func private @[[FLAT]](%{{.*}}: memref<?xf32, strided<[1], offset: ?>>,
// CHECK-SAME: attributes {optim.sequential, passthrough = ["noinline"]}
// CHECK-NOT:    optim.centralize
// CHECK:        optim.decay_weight
// CHECK:        optim.momentum_update {{.*}} : tensor<?xf32>
// CHECK:      func.func private @[[F64FN]](%{{.*}}: memref<?xf64, strided<[1], offset: ?>>
// CHECK-NOT:  func.func private
// Rows of w1 first (8 chunks of 16 elements, row sums at slots 0..7), then
// w2 | b1 (16+16+5) | s | w3 (16+12 of f64); first entries 0, 3, 6, 9 in
// the f32 table (param, grad, moments), 0 in the f64 table.
// CHECK:      memref.global "private" constant @opt_chunks : memref<15x12xindex> = dense<{{\[}}[0, 0, 0, 0, 16, 16, 0, 0, 0, 0, 0, 0], [0, 0, 0, 16, 16, 16, 1, 0, 0, 0, 0, 0],
// CHECK-SAME: [0, 0, 0, 112, 16, 16, 7, 0, 0, 0, 0, 0], [1, 3, 0, 0, 15, 1, 0, 0, 0, 0, 0, 0], [1, 6, 0, 0, 16, 1, 0, 0, 0, 0, 0, 0], [1, 6, 0, 16, 16, 1, 0, 0, 0, 0, 0, 0], [1, 6, 0, 32, 5, 1, 0, 0, 0, 0, 0, 0], [1, 9, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 16, 1, 0, 0, 0, 0, 0, 0], [2, 0, 0, 16, 12, 1, 0, 0, 0, 0, 0, 0]]>
// CHECK:      memref.global "private" @opt_scratch_f32 : memref<8xf32> = uninitialized
// CHECK:      func.func @opt_lr(

// -----

// Lamb needs norms of whole tensors: the reduction phase writes three
// partial sums of squares per chunk into the scratch table; in the update
// phase each chunk adds up the partial sums of its tensor's chunks and
// passes them to the (elementwise) update.
optim.optimizer @lamb rule #optim.rule<lamb> learning_rate 0.1 {
  optim.param "w" : tensor<40xf32>
  optim.param "b" : tensor<3xf32>
}
// LAMB-LABEL: func.func @lamb_step(
// LAMB:       %[[CHUNKS:.*]] = memref.get_global @lamb_chunks : memref<4x12xindex>
// LAMB:       %[[SCRATCH:.*]] = memref.get_global @lamb_scratch_f32 : memref<12xf32>
// LAMB:       scf.parallel
// LAMB:         %[[SLOT:.*]] = memref.load %[[CHUNKS]][%{{.*}}, %c7]
// LAMB:         %[[PART:.*]] = memref.reinterpret_cast %[[SCRATCH]] to offset: [%[[SLOT]]], sizes: [3], strides: [1]
// LAMB:         func.call @lamb_reduce_0({{.*}}, %[[PART]])
// LAMB:       scf.parallel
// LAMB:         %[[FIRST:.*]] = memref.load %[[CHUNKS]][%{{.*}}, %c8]
// LAMB:         %[[COUNT:.*]] = memref.load %[[CHUNKS]][%{{.*}}, %c9]
// LAMB:         %[[SUMS:.*]]:3 = scf.for %{{.*}} = %c0 to %[[COUNT]] step %c1 iter_args({{.*}}) -> (f32, f32, f32)
// LAMB:         func.call @lamb_update_0({{.*}}, %[[SUMS]]#0, %[[SUMS]]#1, %[[SUMS]]#2)
// LAMB-NOT:   scf.parallel
// LAMB:       return
// LAMB:       func.func private @lamb_update_0(
// LAMB:         %[[N:.*]] = tensor.from_elements
// LAMB:         optim.lamb_update {{.*}} norms %[[N]] : tensor<?xf32>, tensor<3xf32>
// LAMB:       func.func private @lamb_reduce_0(
// LAMB:         %[[R:.*]] = optim.lamb_norms {{.*}} : tensor<?xf32> -> tensor<3xf32>
// LAMB:         bufferization.materialize_in_destination %[[R]]
// w: 3 chunks, partial sums at 0, 3, 6; b (first entry 4): 1 chunk, at 9.
// LAMB:       memref.global "private" constant @lamb_chunks : memref<4x12xindex> = dense<{{\[}}[0, 0, 0, 0, 16, 1, 0, 0, 0, 3, 0, 0], [0, 0, 0, 16, 16, 1, 0, 3, 0, 3, 0, 0], [0, 0, 0, 32, 8, 1, 0, 6, 0, 3, 0, 0], [0, 4, 0, 0, 3, 1, 0, 9, 9, 1, 0, 0]]>
