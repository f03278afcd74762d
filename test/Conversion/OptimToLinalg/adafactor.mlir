// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// Adafactor on a 4-D parameter: viewed as (B, R, C) = (12, 5, 6), the row
// state as (12, 5), the column state as (12, 6); three reductions of the
// gradient and the parameter, the new states, the row-state sums of each
// slice, the sum of squares of the update, then the elementwise update;
// everything back in the operands' shapes.
func.func @static(%p: tensor<4x3x5x6xf32>, %g: tensor<4x3x5x6xf32>, %r: tensor<4x3x5xf32>, %c: tensor<4x3x6xf32>, %x: f32, %t: i64) -> (tensor<4x3x5x6xf32>, tensor<4x3x5xf32>, tensor<4x3x6xf32>) {
  %0:3 = optim.adafactor_update %p, %g, [%r, %c] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t {scale_parameter} : tensor<4x3x5x6xf32>, [tensor<4x3x5xf32>, tensor<4x3x6xf32>]
  return %0#0, %0#1, %0#2 : tensor<4x3x5x6xf32>, tensor<4x3x5xf32>, tensor<4x3x6xf32>
}
// CHECK-LABEL: func.func @static(
// CHECK:      %[[P:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2], [3]] : tensor<4x3x5x6xf32> into tensor<12x5x6xf32>
// CHECK:      %[[G:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2], [3]] : tensor<4x3x5x6xf32> into tensor<12x5x6xf32>
// CHECK:      %[[R:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<4x3x5xf32> into tensor<12x5xf32>
// CHECK:      %[[C:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<4x3x6xf32> into tensor<12x6xf32>
// Row sums, column sums of g^2 + eps1; sum of param^2.
// CHECK:      %[[ROWSUMS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[G]] : tensor<12x5x6xf32>) outs(%{{.*}} : tensor<12x5xf32>)
// CHECK:      %[[COLSUMS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[G]] : tensor<12x5x6xf32>) outs(%{{.*}} : tensor<12x6xf32>)
// CHECK:      linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "reduction"]} ins(%[[P]] : tensor<12x5x6xf32>) outs(%{{.*}} : tensor<f32>)
// The states, updated in place.
// CHECK:      %[[NEWR:.*]] = linalg.generic {{.*}} ins(%[[ROWSUMS]] : tensor<12x5xf32>) outs(%[[R]] : tensor<12x5xf32>)
// CHECK:      %[[NEWC:.*]] = linalg.generic {{.*}} ins(%[[COLSUMS]] : tensor<12x6xf32>) outs(%[[C]] : tensor<12x6xf32>)
// CHECK:        arith.maximumf
// CHECK:      %[[SLICES:.*]] = linalg.generic {{.*}} ins(%[[NEWR]] : tensor<12x5xf32>) outs(%{{.*}} : tensor<12xf32>)
// CHECK:      linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "reduction"]} ins(%[[G]], %[[NEWR]], %[[NEWC]], %[[SLICES]] : {{.*}}) outs(%{{.*}} : tensor<f32>)
// CHECK:      %[[NEWP:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[G]], %[[NEWR]], %[[NEWC]], %[[SLICES]] : {{.*}}) outs(%[[P]] : tensor<12x5x6xf32>)
// CHECK:      tensor.expand_shape %[[NEWP]] {{\[}}[0, 1], [2], [3]] output_shape [4, 3, 5, 6]
// CHECK:      tensor.expand_shape %[[NEWR]] {{\[}}[0, 1], [2]] output_shape [4, 3, 5]
// CHECK:      tensor.expand_shape %[[NEWC]] {{\[}}[0, 1], [2]] output_shape [4, 3, 6]

// -----

// A vector is (1, 1, n) with a one-element row state; a scalar is
// (1, 1, 1). With the step's workspace, the sums are written there, not
// into new tensors.
func.func @vector(%p: tensor<7xf32>, %r: tensor<1xf32>, %x: f32, %t: i64, %w1: tensor<?x?xf32>, %w2: tensor<?x?xf32>, %w3: tensor<?xf32>) -> (tensor<7xf32>, tensor<1xf32>, tensor<7xf32>) {
  %0:3 = optim.adafactor_update %p, %p, [%r, %p] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t workspace(%w1, %w2, %w3 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) : tensor<7xf32>, [tensor<1xf32>, tensor<7xf32>]
  return %0#0, %0#1, %0#2 : tensor<7xf32>, tensor<1xf32>, tensor<7xf32>
}
// CHECK-LABEL: func.func @vector(
// CHECK-SAME: %[[W1:[a-z0-9]+]]: tensor<?x?xf32>, %[[W2:[a-z0-9]+]]: tensor<?x?xf32>, %[[W3:[a-z0-9]+]]: tensor<?xf32>)
// CHECK:      tensor.expand_shape %{{.*}} {{\[}}[0, 1, 2]] output_shape [1, 1, 7] : tensor<7xf32> into tensor<1x1x7xf32>
// CHECK:      tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [1, 1] : tensor<1xf32> into tensor<1x1xf32>
// CHECK:      %[[F1:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[W1]] : tensor<?x?xf32>)
// CHECK:      linalg.generic {{.*}} outs(%[[F1]] : tensor<?x?xf32>)
// CHECK:      %[[F2:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[W2]] : tensor<?x?xf32>)
// CHECK:      linalg.generic {{.*}} outs(%[[F2]] : tensor<?x?xf32>)
// CHECK:      %[[F3:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[W3]] : tensor<?xf32>)
// CHECK:      linalg.generic {{.*}} outs(%[[F3]] : tensor<?xf32>)
// CHECK-NOT:  optim.adafactor_update

// -----

// A workspace is the three sums or nothing.
func.func @workspace_count(%p: tensor<7xf32>, %r: tensor<1xf32>, %x: f32, %t: i64, %w: tensor<?xf32>) {
  // expected-error @below {{failed to legalize operation 'optim.adafactor_update'}}
  %0:3 = optim.adafactor_update %p, %p, [%r, %p] lr %x eps1 %x eps2 %x clip_threshold %x decay_rate %x beta1 %x weight_decay %x step %t workspace(%w : tensor<?xf32>) : tensor<7xf32>, [tensor<1xf32>, tensor<7xf32>]
  return
}
