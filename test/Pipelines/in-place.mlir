// RUN: optim-opt %s --optim-build-step --convert-optim-to-linalg --canonicalize --cse --linalg-fuse-elementwise-ops --optim-tile-and-vectorize --one-shot-bufferize --cse --canonicalize | FileCheck %s

// Bufferization is in place on the caller's buffers: no allocation or copy
// of parameters, gradients or states, even though weight decay reads the
// parameter the update writes.
optim.optimizer @opt rule #optim.rule<adam> learning_rate 0.001 weight_decay 0.01 loss_scale 2.0 {
  optim.group {
    optim.param "w" : tensor<64x48xf32>
    optim.param "b" : tensor<37xf32>
  }
}

// CHECK-LABEL: func.func @opt_step(
// CHECK-NOT:  memref.alloc
// CHECK-NOT:  memref.copy
// CHECK:      vector.transfer_read
// CHECK-NOT:  memref.alloc
// CHECK-NOT:  memref.copy
// CHECK:      return
