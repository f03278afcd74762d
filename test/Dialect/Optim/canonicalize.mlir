// RUN: optim-opt %s -canonicalize -split-input-file | FileCheck %s

// The folds of the optim dialect: each op folds away only where it is the
// identity, and stays otherwise.

// CHECK-LABEL: func.func @scale_grad_by_one
// CHECK-SAME: (%[[G:[^:]*]]: tensor<16xf32>)
// CHECK-NOT: optim.scale_grad
// CHECK: return %[[G]] : tensor<16xf32>
func.func @scale_grad_by_one(%g: tensor<16xf32>) -> tensor<16xf32> {
  %one = arith.constant 1.0 : f32
  %0 = optim.scale_grad %g by %one : tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

// CHECK-LABEL: func.func @scale_grad_by_two
// CHECK-SAME: (%[[G:[^:]*]]: tensor<16xf32>)
// CHECK: %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK: %[[R:.*]] = optim.scale_grad %[[G]] by %[[TWO]] : tensor<16xf32>
// CHECK: return %[[R]]
func.func @scale_grad_by_two(%g: tensor<16xf32>) -> tensor<16xf32> {
  %two = arith.constant 2.0 : f32
  %0 = optim.scale_grad %g by %two : tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

// A loss scale known only at run time is kept.
// CHECK-LABEL: func.func @scale_grad_by_operand
// CHECK-SAME: (%[[G:[^:]*]]: tensor<4x4xbf16>, %[[S:[^:]*]]: f32)
// CHECK: %[[R:.*]] = optim.scale_grad %[[G]] by %[[S]] : tensor<4x4xbf16>
// CHECK: return %[[R]]
func.func @scale_grad_by_operand(%g: tensor<4x4xbf16>, %s: f32) -> tensor<4x4xbf16> {
  %0 = optim.scale_grad %g by %s : tensor<4x4xbf16>
  return %0 : tensor<4x4xbf16>
}

// -----

// CHECK-LABEL: func.func @decay_weight_by_zero
// CHECK-SAME: (%[[G:[^:]*]]: tensor<64x3xf32>, %[[P:[^:]*]]: tensor<64x3xf32>)
// CHECK-NOT: optim.decay_weight
// CHECK: return %[[G]] : tensor<64x3xf32>
func.func @decay_weight_by_zero(%g: tensor<64x3xf32>, %p: tensor<64x3xf32>) -> tensor<64x3xf32> {
  %zero = arith.constant 0.0 : f32
  %0 = optim.decay_weight %g, %p by %zero : tensor<64x3xf32>
  return %0 : tensor<64x3xf32>
}

// -----

// CHECK-LABEL: func.func @decay_weight_by_nonzero
// CHECK-SAME: (%[[G:[^:]*]]: tensor<64x3xf32>, %[[P:[^:]*]]: tensor<64x3xf32>)
// CHECK: %[[WD:.*]] = arith.constant 0.00999999977 : f32
// CHECK: %[[R:.*]] = optim.decay_weight %[[G]], %[[P]] by %[[WD]] : tensor<64x3xf32>
// CHECK: return %[[R]]
func.func @decay_weight_by_nonzero(%g: tensor<64x3xf32>, %p: tensor<64x3xf32>) -> tensor<64x3xf32> {
  %wd = arith.constant 1.0e-02 : f32
  %0 = optim.decay_weight %g, %p by %wd : tensor<64x3xf32>
  return %0 : tensor<64x3xf32>
}

// -----

// CHECK-LABEL: func.func @decay_weight_by_operand
// CHECK-SAME: (%[[G:[^:]*]]: tensor<?xf16>, %[[P:[^:]*]]: tensor<?xf16>, %[[WD:[^:]*]]: f32)
// CHECK: %[[R:.*]] = optim.decay_weight %[[G]], %[[P]] by %[[WD]] : tensor<?xf16>
// CHECK: return %[[R]]
func.func @decay_weight_by_operand(%g: tensor<?xf16>, %p: tensor<?xf16>, %wd: f32) -> tensor<?xf16> {
  %0 = optim.decay_weight %g, %p by %wd : tensor<?xf16>
  return %0 : tensor<?xf16>
}

// -----

// Centralization changes only tensors of rank >= 2 whose second dimension is
// a multiple of 16 (or not known statically).

// CHECK-LABEL: func.func @centralize_rank1
// CHECK-SAME: (%[[G:[^:]*]]: tensor<32xf32>)
// CHECK-NOT: optim.centralize
// CHECK: return %[[G]] : tensor<32xf32>
func.func @centralize_rank1(%g: tensor<32xf32>) -> tensor<32xf32> {
  %0 = optim.centralize %g : tensor<32xf32>
  return %0 : tensor<32xf32>
}

// -----

// CHECK-LABEL: func.func @centralize_rank0
// CHECK-SAME: (%[[G:[^:]*]]: tensor<f32>)
// CHECK-NOT: optim.centralize
// CHECK: return %[[G]] : tensor<f32>
func.func @centralize_rank0(%g: tensor<f32>) -> tensor<f32> {
  %0 = optim.centralize %g : tensor<f32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @centralize_dim1_not_multiple_of_16
// CHECK-SAME: (%[[G:[^:]*]]: tensor<8x24x3x3xf32>)
// CHECK-NOT: optim.centralize
// CHECK: return %[[G]] : tensor<8x24x3x3xf32>
func.func @centralize_dim1_not_multiple_of_16(%g: tensor<8x24x3x3xf32>) -> tensor<8x24x3x3xf32> {
  %0 = optim.centralize %g : tensor<8x24x3x3xf32>
  return %0 : tensor<8x24x3x3xf32>
}

// -----

// A dynamic first dimension does not matter.
// CHECK-LABEL: func.func @centralize_dynamic_dim0
// CHECK-SAME: (%[[G:[^:]*]]: tensor<?x8xf32>)
// CHECK-NOT: optim.centralize
// CHECK: return %[[G]] : tensor<?x8xf32>
func.func @centralize_dynamic_dim0(%g: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = optim.centralize %g : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @centralize_applies
// CHECK-SAME: (%[[G:[^:]*]]: tensor<8x16xf32>)
// CHECK: %[[R:.*]] = optim.centralize %[[G]] : tensor<8x16xf32>
// CHECK: return %[[R]]
func.func @centralize_applies(%g: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %0 = optim.centralize %g : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// CHECK-LABEL: func.func @centralize_applies_conv
// CHECK-SAME: (%[[G:[^:]*]]: tensor<?x32x3x3xbf16>)
// CHECK: %[[R:.*]] = optim.centralize %[[G]] : tensor<?x32x3x3xbf16>
// CHECK: return %[[R]]
func.func @centralize_applies_conv(%g: tensor<?x32x3x3xbf16>) -> tensor<?x32x3x3xbf16> {
  %0 = optim.centralize %g : tensor<?x32x3x3xbf16>
  return %0 : tensor<?x32x3x3xbf16>
}

// -----

// A dynamic second dimension may be a multiple of 16: the op stays.
// CHECK-LABEL: func.func @centralize_dynamic_dim1
// CHECK-SAME: (%[[G:[^:]*]]: tensor<4x?xf32>)
// CHECK: %[[R:.*]] = optim.centralize %[[G]] : tensor<4x?xf32>
// CHECK: return %[[R]]
func.func @centralize_dynamic_dim1(%g: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %0 = optim.centralize %g : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

// CHECK-LABEL: func.func @broadcast_params_one_rank
// CHECK-SAME: (%[[A:[^:]*]]: tensor<4xf32>, %[[B:[^:]*]]: tensor<8x2xbf16>)
// CHECK-NOT: optim.broadcast_params
// CHECK: return %[[A]], %[[B]] : tensor<4xf32>, tensor<8x2xbf16>
func.func @broadcast_params_one_rank(%a: tensor<4xf32>, %b: tensor<8x2xbf16>) -> (tensor<4xf32>, tensor<8x2xbf16>) {
  %0:2 = optim.broadcast_params %a, %b num_ranks 1 : tensor<4xf32>, tensor<8x2xbf16>
  return %0#0, %0#1 : tensor<4xf32>, tensor<8x2xbf16>
}

// -----

// CHECK-LABEL: func.func @broadcast_params_two_ranks
// CHECK-SAME: (%[[A:[^:]*]]: tensor<4xf32>, %[[B:[^:]*]]: tensor<8x2xbf16>)
// CHECK: %[[R:.*]]:2 = optim.broadcast_params %[[A]], %[[B]] num_ranks 2 : tensor<4xf32>, tensor<8x2xbf16>
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @broadcast_params_two_ranks(%a: tensor<4xf32>, %b: tensor<8x2xbf16>) -> (tensor<4xf32>, tensor<8x2xbf16>) {
  %0:2 = optim.broadcast_params %a, %b num_ranks 2 : tensor<4xf32>, tensor<8x2xbf16>
  return %0#0, %0#1 : tensor<4xf32>, tensor<8x2xbf16>
}

// -----

// Folds compose: decay by 0, centralization of a rank-1 tensor and scaling
// by 1 all vanish from one step.
// CHECK-LABEL: func.func @step_prologue
// CHECK-SAME: (%[[G:[^:]*]]: tensor<16xf32>, %[[P:[^:]*]]: tensor<16xf32>)
// CHECK-NOT: optim.
// CHECK: return %[[G]] : tensor<16xf32>
func.func @step_prologue(%g: tensor<16xf32>, %p: tensor<16xf32>) -> tensor<16xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %0 = optim.decay_weight %g, %p by %zero : tensor<16xf32>
  %1 = optim.centralize %0 : tensor<16xf32>
  %2 = optim.scale_grad %1 by %one : tensor<16xf32>
  return %2 : tensor<16xf32>
}
