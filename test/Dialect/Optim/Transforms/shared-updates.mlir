// RUN: optim-opt %s --optim-resolve-optimizer | FileCheck %s

// Parameters of one class (element type, decay, centralization) share one
// update function over flat buffers of any length: four parameters of
// different shapes, two classes here (decayed or not), and the
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
// CHECK-SAME: %[[W1:[a-z0-9]+]]: memref<8x16xf32>, %[[G1:[a-z0-9]+]]: memref<8x16xf32>, %[[M1:[a-z0-9]+]]: memref<8x16xf32>,
// CHECK-SAME: %[[W2:[a-z0-9]+]]: memref<3x5xf32>,
// w1 is centralized (dim 1 is 16): its own class with its shape.
// CHECK:      call @[[CENTRAL:opt_update_[0-9]+]](%[[W1]], %[[G1]], %[[M1]],
// w2, b1 and the scalar share the flat f32 class.
// CHECK:      %[[F2:.*]] = memref.collapse_shape %[[W2]] {{\[\[}}0, 1]] : memref<3x5xf32> into memref<15xf32>
// CHECK:      %[[C2:.*]] = memref.cast %[[F2]] : memref<15xf32> to memref<?xf32>
// CHECK:      call @[[FLAT:opt_update_[0-9]+]](%[[C2]],
// CHECK:      memref.cast %{{.*}} : memref<37xf32> to memref<?xf32>
// CHECK:      call @[[FLAT]](
// CHECK:      memref.expand_shape %{{.*}} [] output_shape [1] : memref<f32> into memref<1xf32>
// CHECK:      call @[[FLAT]](
// f64 is another class.
// CHECK:      memref.cast %{{.*}} : memref<28xf64> to memref<?xf64>
// CHECK:      call @[[F64:opt_update_[0-9]+]](
// CHECK:      return

// CHECK:      func.func private @[[CENTRAL]](%{{.*}}: memref<8x16xf32>, {{.*}} attributes {passthrough = ["noinline"]}
// CHECK:        optim.decay_weight
// CHECK:        optim.centralize
// CHECK:        optim.momentum_update
// CHECK:      func.func private @[[FLAT]](%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32)
// CHECK-NOT:    optim.centralize
// CHECK:        optim.decay_weight
// CHECK:        optim.momentum_update {{.*}} : tensor<?xf32>
// CHECK:      func.func private @[[F64]](%{{.*}}: memref<?xf64>
// CHECK-NOT:  func.func private
// CHECK:      func.func @opt_lr(
