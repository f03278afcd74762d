// RUN: optim-opt %s --optim-resolve-optimizer --canonicalize | FileCheck %s

// The default step takes its buffers through one table per element type
// (StepABI.h) and calls one shared update function per class of parameters
// (update code, group, decay): three same-class parameters of different
// shapes (and a scalar) are one loop over a constant array of their table
// positions, so code size does not grow with the parameter count. The
// centralized parameter keeps its shape in a class of its own.
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
// w2, b1, s: one loop.
// CHECK:      %[[POS:.*]] = memref.get_global @opt_class_1 : memref<3xindex>
// CHECK:      scf.for %[[I:.*]] = %c0 to %c3 step %c1 {
// CHECK:        %[[K:.*]] = memref.load %[[POS]][%[[I]]]
// CHECK:        %[[BASE:.*]] = arith.muli %[[K]], %c3
// CHECK:        memref.load %[[F32]][%[[BASE]]]
// CHECK:        func.call @[[FLAT:opt_update_[0-9]+]](
// CHECK:      }
// w3: the f64 table, its own group and class.
// CHECK:      memref.load %[[F64]][%c0]
// CHECK:      call @[[F64FN:opt_update_[0-9]+]](
// CHECK:      return

// CHECK:      func.func private @[[CENTRAL]](%{{.*}}: memref<8x16xf32>, {{.*}} attributes {passthrough = ["noinline"]}
// CHECK:        optim.decay_weight
// CHECK:        optim.centralize
// CHECK:        optim.momentum_update
// CHECK:      func.func private @[[FLAT]](%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32)
// CHECK-NOT:    optim.centralize
// CHECK:        optim.decay_weight
// CHECK:        optim.momentum_update {{.*}} : tensor<?xf32>
// CHECK:      memref.global "private" constant @opt_class_1 : memref<3xindex> = dense<[1, 2, 3]>
// CHECK:      func.func private @[[F64FN]](%{{.*}}: memref<?xf64>
// CHECK-NOT:  func.func private
// CHECK:      func.func @opt_lr(
