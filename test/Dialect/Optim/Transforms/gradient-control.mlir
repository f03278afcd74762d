// RUN: optim-opt %s --optim-build-step="chunk-size=1024" --split-input-file --verify-diagnostics | FileCheck %s

// Clipping and dynamic loss scaling: the step takes its status buffer
// (before the global step), reads the loss scale from it, and runs
//   1. every chunk's squared gradient norm (one function per element type),
//   2. the combine, on one thread,
//   3. the classes' update, each chunk skipped when an inf was found, its
//      loss scale and decay coefficient multiplied by the clip factor,
//   4. the loss-scale update, on one thread.
// The table holds max_grad_norm and the four dynamic values after
// loss_scale; the f64 scratch table one partial sum per chunk.
optim.optimizer @amp rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 weight_decay 0.01 loss_scale 1024 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 3, min_scale = 1.0> max_grad_norm 1 {
  optim.param "w" : tensor<64x32xf32>
  optim.param "norm.gamma" : tensor<32xf32>
}
// CHECK-LABEL: func.func @amp_step(
// CHECK-SAME:    %[[TABLE:.*]]: memref<?xmemref<?xf32>>, %[[HYPER:.*]]: memref<9xf64>, %[[STATUS:.*]]: memref<5xf64>, %{{.*}}: i64)
// CHECK-SAME:    optim.skips_nonfinite = 2 : i64
// CHECK:         %[[SCALE:.*]] = memref.load %[[STATUS]][%{{.*}}] : memref<5xf64>
// CHECK:         %[[MAXNORM:.*]] = memref.load %[[HYPER]][%c1] : memref<9xf64>
// CHECK:         %[[GROWTH:.*]] = memref.load %[[HYPER]][%c2] : memref<9xf64>
// CHECK:         memref.get_global @amp_chunks : memref<3x12xindex>
// CHECK:         %[[SCRATCH:.*]] = memref.get_global @amp_scratch_f64 : memref<3xf64>
// CHECK:         scf.parallel
// CHECK:           memref.reinterpret_cast %[[SCRATCH]] to offset: [%{{.*}}], sizes: [1], strides: [1]
// CHECK:           func.call @amp_grad_norm_0(
// CHECK:         call @amp_combine(%[[STATUS]], %[[SCALE]], %[[MAXNORM]])
// CHECK:         scf.parallel
// CHECK:           %[[FOUND:.*]] = memref.load %[[STATUS]][%c2{{.*}}] : memref<5xf64>
// CHECK:           %[[CLEAN:.*]] = arith.cmpf oeq, %[[FOUND]], %{{.*}} : f64
// CHECK:           scf.if %[[CLEAN]] {
// CHECK:             %[[FACTOR:.*]] = memref.load %[[STATUS]][%c4{{.*}}] : memref<5xf64>
// CHECK:             %[[CLIPPED:.*]] = arith.mulf %[[SCALE]], %[[FACTOR]] : f64
// CHECK:             func.call @amp_update_0(%{{.*}}, %{{.*}}, %{{.*}}, %[[CLIPPED]],
// CHECK:         call @amp_update_loss_scale(%[[STATUS]], %[[GROWTH]],
// CHECK:       memref.global "private" @amp_scratch_f64 : memref<3xf64>
// CHECK:       func.func private @amp_grad_norm_0(%{{.*}}: memref<?xf32, strided<[1], offset: ?>>, %{{.*}}: memref<1xf64, strided<[1], offset: ?>>)
// CHECK:         optim.squared_norm %{{.*}} : tensor<?xf32> -> tensor<1xf64>
// CHECK:       func.func private @amp_combine(
// CHECK-SAME:    optim.single_thread
// CHECK:         scf.for
// CHECK:         math.sqrt
// CHECK:         arith.maximumf
// CHECK:       func.func private @amp_update_loss_scale(
// CHECK-SAME:    optim.single_thread

// -----

// Clipping alone: no skipping, no loss-scale update, the table's scale.
optim.optimizer @clip rule #optim.rule<sgd> learning_rate 0.1 max_grad_norm 0.5 {
  optim.param "w" : tensor<8xf64>
}
// CHECK-LABEL: func.func @clip_step(
// CHECK-SAME:    %{{.*}}: memref<?xmemref<?xf64>>, %[[HYPER:.*]]: memref<6xf64>, %[[STATUS:.*]]: memref<5xf64>, %{{.*}}: i64)
// CHECK-NOT:     optim.skips_nonfinite
// CHECK:         %[[SCALE:.*]] = memref.load %[[HYPER]][%c0] : memref<6xf64>
// CHECK:         call @clip_combine(%[[STATUS]], %[[SCALE]],
// CHECK-NOT:     scf.if
// CHECK-NOT:     update_loss_scale
// CHECK:         return

// -----

// The per-buffer form (sparse gradients) has no phases to put them in.
// expected-error @below {{needs the multi-tensor step (buffer tables)}}
optim.optimizer @sparse rule #optim.rule<lazy_adam> learning_rate 0.1 max_grad_norm 1 {
  optim.param "emb" : tensor<10x4xf32> sparse
}
