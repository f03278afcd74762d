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
