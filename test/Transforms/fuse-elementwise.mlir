// RUN: optim-opt %s --optim-fuse-elementwise --split-input-file | FileCheck %s

#map = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>

// The unscaled gradient feeds both a row reduction and the update: it is
// recomputed in both instead of being written to a temporary.
func.func @two_consumers(%g: tensor<4x16xf32>, %p: tensor<4x16xf32>, %s: f32, %acc: tensor<4xf32>) -> (tensor<4xf32>, tensor<4x16xf32>) {
  %empty = tensor.empty() : tensor<4x16xf32>
  %scaled = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%g : tensor<4x16xf32>) outs(%empty : tensor<4x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %m = arith.mulf %x, %s : f32
    linalg.yield %m : f32
  } -> tensor<4x16xf32>
  %sums = linalg.generic {indexing_maps = [#map, #row], iterator_types = ["parallel", "reduction"]} ins(%scaled : tensor<4x16xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%x: f32, %a: f32):
    %r = arith.addf %x, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %new = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%scaled : tensor<4x16xf32>) outs(%p : tensor<4x16xf32>) {
  ^bb0(%x: f32, %q: f32):
    %d = arith.subf %q, %x : f32
    linalg.yield %d : f32
  } -> tensor<4x16xf32>
  return %sums, %new : tensor<4xf32>, tensor<4x16xf32>
}

// CHECK-LABEL: func.func @two_consumers(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<4x16xf32>, %[[P:[a-z0-9]+]]: tensor<4x16xf32>, %[[S:[a-z0-9]+]]: f32
// Both consumers read the gradient itself and scale it.
// CHECK-DAG:  linalg.generic {{.*}} ins(%[[G]] : tensor<4x16xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK-DAG:  linalg.generic {{.*}} ins(%[[G]] : tensor<4x16xf32>) outs(%[[P]] : tensor<4x16xf32>)

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>

// A reduction is not an elementwise producer: it is never recomputed.
func.func @reduction_producer(%g: tensor<4x16xf32>, %acc: tensor<4xf32>, %out: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %sums = linalg.generic {indexing_maps = [#map, #row], iterator_types = ["parallel", "reduction"]} ins(%g : tensor<4x16xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%x: f32, %a: f32):
    %r = arith.addf %x, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %twice = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%sums : tensor<4xf32>) outs(%out : tensor<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %t = arith.addf %x, %x : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  return %sums, %twice : tensor<4xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func @reduction_producer(
// CHECK:      %[[SUMS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:      linalg.generic {{.*}} ins(%[[SUMS]] : tensor<4xf32>)

// -----

#map = affine_map<(d0) -> (d0)>

// An in-place update (it reads its output, the master) whose result is
// also rounded into the bf16 parameter: fused into one generic that keeps
// the update's result for its other use (the write-back of the master),
// so the update runs once.
func.func @rounding_copy(%g: tensor<16xf32>, %master: tensor<16xf32>, %p: tensor<16xbf16>, %lr: f32) -> (tensor<16xf32>, tensor<16xbf16>) {
  %new = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<16xf32>) outs(%master : tensor<16xf32>) {
  ^bb0(%x: f32, %m: f32):
    %d = arith.mulf %x, %lr : f32
    %r = arith.subf %m, %d : f32
    linalg.yield %r : f32
  } -> tensor<16xf32>
  %rounded = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%new : tensor<16xf32>) outs(%p : tensor<16xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<16xbf16>
  return %new, %rounded : tensor<16xf32>, tensor<16xbf16>
}

// CHECK-LABEL: func.func @rounding_copy(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<16xf32>, %[[M:[a-z0-9]+]]: tensor<16xf32>, %[[P:[a-z0-9]+]]: tensor<16xbf16>
// (The copy's destination, which it does not read, becomes a tensor.empty:
// empty-tensor elimination later puts the parameter's buffer back.)
// CHECK:      %[[F:.*]]:2 = linalg.generic {{.*}} ins(%[[G]] : tensor<16xf32>) outs(%[[M]], %{{.*}} : tensor<16xf32>, tensor<16xbf16>)
// CHECK:        %[[R:.*]] = arith.subf
// CHECK:        %[[T:.*]] = arith.truncf %[[R]] : f32 to bf16
// CHECK:        linalg.yield %[[R]], %[[T]] : f32, bf16
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[F]]#0, %[[F]]#1

// -----

#map = affine_map<(d0) -> (d0)>

// Not a rounding copy (it computes more than a conversion): the in-place
// producer with another use is not recomputed in it.
func.func @not_a_rounding_copy(%g: tensor<16xf32>, %master: tensor<16xf32>, %p: tensor<16xbf16>, %lr: f32) -> (tensor<16xf32>, tensor<16xbf16>) {
  %new = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%g : tensor<16xf32>) outs(%master : tensor<16xf32>) {
  ^bb0(%x: f32, %m: f32):
    %d = arith.mulf %x, %lr : f32
    %r = arith.subf %m, %d : f32
    linalg.yield %r : f32
  } -> tensor<16xf32>
  %halved = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%new : tensor<16xf32>) outs(%p : tensor<16xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %h = arith.mulf %x, %lr : f32
    %t = arith.truncf %h : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<16xbf16>
  return %new, %halved : tensor<16xf32>, tensor<16xbf16>
}

// CHECK-LABEL: func.func @not_a_rounding_copy(
// CHECK:      %[[NEW:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<16xf32>)
// CHECK:      linalg.generic {{.*}} ins(%[[NEW]] : tensor<16xf32>) outs(%{{.*}} : tensor<16xbf16>)

// -----

// A copy that reads its input through another map (a transposition) is no
// rounding copy either.
func.func @transposing_copy(%g: tensor<4x4xf32>, %master: tensor<4x4xf32>, %p: tensor<4x4xbf16>, %lr: f32) -> (tensor<4x4xf32>, tensor<4x4xbf16>) {
  %new = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%g : tensor<4x4xf32>) outs(%master : tensor<4x4xf32>) {
  ^bb0(%x: f32, %m: f32):
    %d = arith.mulf %x, %lr : f32
    %r = arith.subf %m, %d : f32
    linalg.yield %r : f32
  } -> tensor<4x4xf32>
  %rounded = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%new : tensor<4x4xf32>) outs(%p : tensor<4x4xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<4x4xbf16>
  return %new, %rounded : tensor<4x4xf32>, tensor<4x4xbf16>
}

// CHECK-LABEL: func.func @transposing_copy(
// CHECK:      %[[NEW:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<4x4xf32>)
// CHECK:      linalg.generic {{.*}} ins(%[[NEW]] : tensor<4x4xf32>) outs(%{{.*}} : tensor<4x4xbf16>)
