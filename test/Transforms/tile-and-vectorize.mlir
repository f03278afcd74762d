// RUN: optim-opt %s --optim-tile-and-vectorize="chunk-size=1024" --split-input-file | FileCheck %s

#map = affine_map<(d0, d1) -> (d0, d1)>

// A contiguous elementwise op over 100x37 = 3700 elements: collapsed to one
// dimension, split into chunks of 1024 for threads (scf.forall), tiled by
// 16 lanes (32 bytes x 2 unrolled) with the remainder peeled into its own
// scalar loop; the main loop is unmasked vector code. The parameter is read
// through the output (no second read of the old tensor).
func.func @elementwise(%p: tensor<100x37xf32>, %g: tensor<100x37xf32>, %lr: f32) -> tensor<100x37xf32> {
  %0 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%g, %p : tensor<100x37xf32>, tensor<100x37xf32>) outs(%p : tensor<100x37xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %1 = arith.mulf %a, %lr : f32
    %2 = arith.subf %b, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<100x37xf32>
  return %0 : tensor<100x37xf32>
}

// CHECK-LABEL: func.func @elementwise(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<100x37xf32>, %[[G:[a-z0-9]+]]: tensor<100x37xf32>
// CHECK-DAG:  %[[GF:.*]] = tensor.collapse_shape %[[G]] {{\[\[}}0, 1]] : tensor<100x37xf32> into tensor<3700xf32>
// CHECK-DAG:  %[[PF:.*]] = tensor.collapse_shape %[[P]] {{\[\[}}0, 1]] : tensor<100x37xf32> into tensor<3700xf32>
// CHECK:      scf.forall (%[[C:.*]]) = (0) to (3700) step (1024) shared_outs(%[[OUT:.*]] = %[[PF]])
// CHECK:        scf.for
// CHECK-NOT:      vector.mask
// CHECK:          vector.transfer_read %[[GF]]{{.*}} {in_bounds = [true]} : tensor<3700xf32>, vector<16xf32>
// CHECK:          vector.transfer_read {{.*}} {in_bounds = [true]} : tensor<?xf32>, vector<16xf32>
// CHECK:          arith.subf {{.*}} : vector<16xf32>
// CHECK:          vector.transfer_write {{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<?xf32>
// The peeled remainder stays a scalar generic on a dynamic slice.
// CHECK:        scf.for
// CHECK:          linalg.generic {{.*}} ins(%{{.*}} : tensor<?xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:      tensor.expand_shape

// -----

#map = affine_map<(d0) -> (d0)>

// Small and evenly divisible: no threads, no remainder loop.
func.func @small(%p: tensor<64xf32>, %g: tensor<64xf32>) -> tensor<64xf32> {
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<64xf32>) outs(%p : tensor<64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %1 = arith.subf %b, %a : f32
    linalg.yield %1 : f32
  } -> tensor<64xf32>
  return %0 : tensor<64xf32>
}

// CHECK-LABEL: func.func @small(
// CHECK-NOT:  scf.forall
// CHECK:      scf.for
// CHECK:        vector.transfer_read {{.*}} vector<16xf32>
// CHECK-NOT:  linalg.generic

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>

// A chunk of rows (rows x cols of run-time size) with a value broadcast
// along each row (centralization's apply): one row at a time, vector tiles
// along the row, the remainder peeled; no threads, no masks.
func.func @rows(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>, %r: tensor<?xf32>) -> tensor<?x?xf32> {
  %0 = linalg.generic {indexing_maps = [#map, #row, #map], iterator_types = ["parallel", "parallel"]} ins(%a, %r : tensor<?x?xf32>, tensor<?xf32>) outs(%b : tensor<?x?xf32>) {
  ^bb0(%x: f32, %z: f32, %y: f32):
    %1 = arith.subf %x, %z : f32
    linalg.yield %1 : f32
  } -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @rows(
// CHECK-NOT:  scf.forall
// CHECK:      scf.for {{.*}} step %c1
// CHECK:        scf.for {{.*}} step %c16
// CHECK:          vector.transfer_read {{.*}} vector<16xf32>
// CHECK:          vector.broadcast {{.*}} to vector<16xf32>
// CHECK:          arith.subf {{.*}} : vector<16xf32>
// CHECK:        scf.for
// CHECK:          linalg.generic
// CHECK-NOT:  vector.mask

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>

// Row sums of run-time size: per row, 16 partial sums carried as a vector
// through the main loop (no memory), the peeled remainder, then one
// horizontal reduction.
func.func @row_sums(%a: tensor<?x?xf32>, %s: tensor<?xf32>) -> tensor<?xf32> attributes {optim.sequential} {
  %0 = linalg.generic {indexing_maps = [#map, #row], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<?x?xf32>) outs(%s : tensor<?xf32>) {
  ^bb0(%x: f32, %y: f32):
    %1 = arith.addf %x, %y : f32
    linalg.yield %1 : f32
  } -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// CHECK-LABEL: func.func @row_sums(
// CHECK:      scf.for {{.*}} step %c1
// CHECK:        %[[ACC:.*]] = scf.for {{.*}} step %c16 iter_args(%{{.*}} = %{{.*}}) -> (vector<16xf32>)
// CHECK:          vector.transfer_read {{.*}} vector<16xf32>
// CHECK:          arith.addf {{.*}} : vector<16xf32>
// CHECK:          scf.yield {{.*}} : vector<16xf32>
// CHECK:        scf.for
// CHECK:          linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK:        vector.reduction <add>

// -----

#map = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// Two sums of squares over a range of run-time size (the partial norms of
// Lamb/LARS over a chunk): vector accumulators, one per sum.
func.func @norms(%a: tensor<?xf32>, %b: tensor<?xf32>, %s: tensor<f32>, %t: tensor<f32>) -> (tensor<f32>, tensor<f32>) attributes {optim.sequential} {
  %0:2 = linalg.generic {indexing_maps = [#map, #map, #scalar, #scalar], iterator_types = ["reduction"]} ins(%a, %b : tensor<?xf32>, tensor<?xf32>) outs(%s, %t : tensor<f32>, tensor<f32>) {
  ^bb0(%x: f32, %y: f32, %u: f32, %v: f32):
    %1 = arith.mulf %x, %x : f32
    %2 = arith.addf %u, %1 : f32
    %3 = arith.mulf %y, %y : f32
    %4 = arith.addf %v, %3 : f32
    linalg.yield %2, %4 : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  return %0#0, %0#1 : tensor<f32>, tensor<f32>
}

// CHECK-LABEL: func.func @norms(
// CHECK:      scf.for {{.*}} step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-2: vector.reduction <add>

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
#col = affine_map<(d0, d1) -> (d1)>

// Not candidates, left alone: a transposed read of run-time size (no
// masked vectors), a reduction over the outer dimension.
func.func @not_candidates(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>, %s: tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?xf32>) {
  %0 = linalg.generic {indexing_maps = [#t, #map], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<?x?xf32>) outs(%b : tensor<?x?xf32>) {
  ^bb0(%x: f32, %y: f32):
    linalg.yield %x : f32
  } -> tensor<?x?xf32>
  %2 = linalg.generic {indexing_maps = [#map, #col], iterator_types = ["reduction", "parallel"]} ins(%a : tensor<?x?xf32>) outs(%s : tensor<?xf32>) {
  ^bb0(%x: f32, %y: f32):
    %3 = arith.addf %x, %y : f32
    linalg.yield %3 : f32
  } -> tensor<?xf32>
  return %0, %2 : tensor<?x?xf32>, tensor<?xf32>
}

// CHECK-LABEL: func.func @not_candidates(
// CHECK-NOT:  scf.for
// CHECK-NOT:  vector.
// CHECK:      linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK:      linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]

// -----

#map = affine_map<(d0) -> (d0)>

// A flat range of run-time length (a shared update function): threads only
// when it is longer than the chunk size, vector tiles in both versions.
func.func @dynamic(%p: tensor<?xf32>, %g: tensor<?xf32>) -> tensor<?xf32> {
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<?xf32>) outs(%p : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %1 = arith.subf %b, %a : f32
    linalg.yield %1 : f32
  } -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// CHECK-LABEL: func.func @dynamic(
// CHECK:      %[[N:.*]] = tensor.dim
// CHECK:      %[[LARGE:.*]] = arith.cmpi sgt, %[[N]], %c1024
// CHECK:      scf.if %[[LARGE]]
// CHECK:        scf.forall
// CHECK:          vector.transfer_read {{.*}} vector<16xf32>
// CHECK:      } else {
// CHECK-NOT:    scf.forall
// CHECK:        vector.transfer_read {{.*}} vector<16xf32>

// -----

#map = affine_map<(d0) -> (d0)>

// Called from a parallel loop over chunks already: vector tiles, no threads.
func.func @sequential(%p: tensor<?xf32>, %g: tensor<?xf32>) -> tensor<?xf32> attributes {optim.sequential} {
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<?xf32>) outs(%p : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %1 = arith.subf %b, %a : f32
    linalg.yield %1 : f32
  } -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// CHECK-LABEL: func.func @sequential(
// CHECK-NOT:  scf.if
// CHECK-NOT:  scf.forall
// CHECK:      scf.for
// CHECK:        vector.transfer_read {{.*}} vector<16xf32>

// -----

#map = affine_map<(d0) -> (d0)>

// A flat range written into a buffer: the vector loop starts on a vector
// boundary of the buffer (32 bytes: 8 f32 here), after a scalar loop over
// the elements before it; the remainder loop takes what is left.
func.func @aligned(%p: memref<?xf32, strided<[1], offset: ?>>, %g: tensor<?xf32>) attributes {optim.sequential} {
  %t = bufferization.to_tensor %p restrict writable : memref<?xf32, strided<[1], offset: ?>> to tensor<?xf32>
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<?xf32>) outs(%t : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %1 = arith.subf %b, %a : f32
    linalg.yield %1 : f32
  } -> tensor<?xf32>
  bufferization.materialize_in_destination %0 in restrict writable %p : (tensor<?xf32>, memref<?xf32, strided<[1], offset: ?>>) -> ()
  return
}
// CHECK-LABEL: func.func @aligned(
// CHECK:      %[[PTR:.*]] = memref.extract_aligned_pointer_as_index
// CHECK:      %[[BASE:.*]], %[[OFF:.*]], %{{.*}}, %{{.*}} = memref.extract_strided_metadata
// CHECK:      %[[MIS:.*]] = arith.remui %{{.*}}, %c8
// CHECK:      %[[HEAD:.*]] = arith.minui
// CHECK:      %[[END:.*]] = arith.addi %[[HEAD]],
// CHECK:      scf.for %{{.*}} = %c0{{.*}} to %[[HEAD]] step %c16
// CHECK:        linalg.generic
// CHECK:      } {optim.remainder_loop}
// CHECK:      scf.for %{{.*}} = %[[HEAD]] to %[[END]] step %c16
// CHECK:        vector.transfer_read {{.*}} vector<16xf32>
// CHECK:      } {optim.vector_loop}
// CHECK:      scf.for %{{.*}} = %[[END]] to
// CHECK:      } {optim.remainder_loop}
