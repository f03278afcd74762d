// RUN: optim-opt %s --optim-resolve-groups --optim-build-step-boundary --split-input-file --verify-diagnostics | FileCheck %s
// RUN: optim-opt %s --optim-resolve-groups --optim-build-step-boundary="share-update-functions=0" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=BUFFERS
// RUN: not optim-opt %s --optim-build-step-boundary --split-input-file 2>&1 | FileCheck %s --check-prefix=UNRESOLVED

// Buffer tables: one table per element type; the scalars are read once; one
// optim.multi_tensor_update per class (code, group, decay), its members in
// step order with their first entries in the table (3 per parameter here:
// param, grad, moments).
optim.optimizer @opt rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 weight_decay 0.01 {
  optim.group grad_centralization {
    optim.param "w1" : tensor<8x16xf32>
    optim.param "b1" : tensor<37xf32>
    optim.param "w2" : tensor<2x16xf32>
  }
  optim.group weight_decay 0.0 {
    optim.param "w3" : tensor<4x7xf64>
    optim.param "b3" : tensor<5xf32>
  }
}
// CHECK-LABEL: func.func @opt_step(
// CHECK-SAME: %[[F32:[a-z0-9]+]]: memref<?xmemref<?xf32>>, %[[F64:[a-z0-9]+]]: memref<?xmemref<?xf64>>, %[[TABLE:[a-z0-9]+]]: memref<7xf64>, %[[STEP:[a-z0-9]+]]: i64)
// CHECK:      %[[SCALE:.*]] = memref.load %[[TABLE]][%c0]
// CHECK:      %[[LR0:.*]] = memref.load %[[TABLE]][%c1]
// CHECK:      %[[WD0:.*]] = memref.load %[[TABLE]][%c2]
// CHECK:      %[[SWD0:.*]] = arith.mulf %[[WD0]], %[[SCALE]]
// CHECK:      %[[MU0:.*]] = memref.load %[[TABLE]][%c3]
// CHECK:      optim.multi_tensor_update <momentum, momentum = 0.9, use_nesterov = false>(%[[F32]] : memref<?xmemref<?xf32>>) params [tensor<8x16xf32>, tensor<2x16xf32>] positions [0, 6] loss_scale %[[SCALE]] decay_weight %[[SWD0]] lr %[[LR0]] hyper_params(%[[MU0]]) centralize
// CHECK:      optim.multi_tensor_update {{.*}}(%[[F32]] : memref<?xmemref<?xf32>>) params [tensor<37xf32>] positions [3] loss_scale %[[SCALE]] decay_weight %{{.*}} lr %[[LR0]] hyper_params(%[[MU0]]){{ *$}}
// CHECK:      %[[LR1:.*]] = memref.load %[[TABLE]][%c4]
// CHECK:      optim.multi_tensor_update {{.*}}(%[[F64]] : memref<?xmemref<?xf64>>) params [tensor<4x7xf64>] positions [0] {{.*}} lr %[[LR1]]
// CHECK:      optim.multi_tensor_update {{.*}}(%[[F32]] : memref<?xmemref<?xf32>>) params [tensor<5xf32>] positions [9] {{.*}} lr %[[LR1]]
// CHECK-NEXT: return
// CHECK-LABEL: func.func @opt_lr(
// CHECK-NOT:  optim.optimizer

// The per-buffer form: each parameter's buffers, one update each.
// BUFFERS-LABEL: func.func @opt_step(
// BUFFERS-SAME: %[[W1:[a-z0-9]+]]: memref<8x16xf32>, %[[G1:[a-z0-9]+]]: memref<8x16xf32>, %[[M1:[a-z0-9]+]]: memref<8x16xf32>,
// BUFFERS:      optim.multi_tensor_update {{.*}}(%[[W1]], %[[G1]], %[[M1]] : memref<8x16xf32>, memref<8x16xf32>, memref<8x16xf32>) params [tensor<8x16xf32>] loss_scale
// BUFFERS-COUNT-4: optim.multi_tensor_update
// BUFFERS-NOT:  optim.multi_tensor_update
// BUFFERS:      func.func @opt_lr(

// An optimizer must be resolved first.
// UNRESOLVED: error: 'optim.optimizer' op is not resolved: run optim-resolve-groups first

// -----

// Rules that decay in their update take the group's weight decay as an
// operand (0 where the parameter does not decay); rules that use the step
// take the update count.
optim.optimizer @adamw rule #optim.rule<lamb> learning_rate 0.001 weight_decay 0.1 {
  optim.param "w" : tensor<8xf32>
  optim.param "ln.gamma" : tensor<8xf32>
}
// CHECK-LABEL: func.func @adamw_step(
// CHECK:      %[[ONE:.*]] = arith.constant 1 : i64
// CHECK:      %[[COUNT:.*]] = arith.addi %{{.*}}, %[[ONE]] : i64
// CHECK:      %[[WD:.*]] = memref.load %{{.*}}[%c2]
// CHECK:      optim.multi_tensor_update {{.*}} params [tensor<8xf32>] positions [0] {{.*}} weight_decay %[[WD]] count %[[COUNT]]
// CHECK:      %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK:      optim.multi_tensor_update {{.*}} params [tensor<8xf32>] positions [4] {{.*}} weight_decay %[[ZERO]] count %[[COUNT]]
// UNRESOLVED: error: 'optim.optimizer' op is not resolved: run optim-resolve-groups first

// -----

// Weight decay on a sparse gradient is not supported yet: a diagnostic, not
// silently wrong code.
// expected-error@+1 {{'optim.optimizer' op weight decay on the sparse gradient of "emb" is not supported yet}}
optim.optimizer @sparse_decay rule #optim.rule<lazy_adam> learning_rate 0.01 weight_decay 0.01 {
  optim.param "emb" : tensor<100x8xf32> sparse
}
// UNRESOLVED: error: 'optim.optimizer' op is not resolved: run optim-resolve-groups first

// -----

// Centralization needs rows of the whole tensor; a whole-tensor rule's
// single call per tensor does not take it yet: a diagnostic.
// expected-error@+1 {{'optim.optimizer' op gradient centralization of "conv" with AdaFactor, whose update reads whole tensors, is not supported yet}}
optim.optimizer @af_centralized rule #optim.rule<adafactor> learning_rate 0.0 {
  optim.group grad_centralization {
    optim.param "conv" : tensor<16x16x3x3xf32>
  }
}
// UNRESOLVED: error: 'optim.optimizer' op is not resolved: run optim-resolve-groups first
