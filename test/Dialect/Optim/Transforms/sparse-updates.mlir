// RUN: optim-opt %s --optim-build-step --split-input-file --verify-diagnostics | FileCheck %s
// RUN: optim-opt %s --optim-lower-to-cpu --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=LLVM
// RUN: not optim-opt %s --optim-lower-to-gpu="chip=sm_90" --split-input-file 2>&1 | FileCheck %s --check-prefix=GPU

// Sparse parameters of one class share one update function, whatever their
// number and row counts: the step calls it once per parameter, with the
// buffers cast to a run-time row count (the row length stays static), and
// holds no update loop of its own. Another row length is another class (a
// second function); a dense parameter of the same step keeps its update in
// the step.
optim.optimizer @emb rule #optim.rule<lazy_adam> learning_rate 0.01 {
  optim.param "e0" : tensor<100x8xf32> sparse
  optim.param "e1" : tensor<50x8xf32> sparse
  optim.param "w" : tensor<7x5xf32>
  optim.param "e2" : tensor<20x4xf32> sparse
  optim.param "e3" : tensor<100x8xf32> sparse
}
// CHECK-LABEL: func.func @emb_step(
// CHECK-SAME: %[[E0:[a-z0-9]+]]: memref<100x8xf32>, %[[I0:[a-z0-9]+]]: memref<?xi32>, %[[R0:[a-z0-9]+]]: memref<?x8xf32>, %[[M0:[a-z0-9]+]]: memref<100x8xf32>, %[[V0:[a-z0-9]+]]: memref<100x8xf32>,
// CHECK-SAME: %[[E1:[a-z0-9]+]]: memref<50x8xf32>, %[[I1:[a-z0-9]+]]: memref<?xi32>, %[[R1:[a-z0-9]+]]: memref<?x8xf32>,
// CHECK-NOT:  optim.lazy_adam_update
// CHECK:      %[[E0C:.*]] = memref.cast %[[E0]] : memref<100x8xf32> to memref<?x8xf32>
// CHECK:      call @emb_sparse_update_0(%[[E0C]], %[[I0]], %[[R0]], %{{.*}}) : (memref<?x8xf32>, memref<?xi32>, memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>, f64, f64, f64, f64, f64, i64) -> ()
// CHECK:      %[[E1C:.*]] = memref.cast %[[E1]] : memref<50x8xf32> to memref<?x8xf32>
// CHECK:      call @emb_sparse_update_0(%[[E1C]], %[[I1]], %[[R1]], %{{.*}})
// CHECK-NOT:  call
// CHECK:      optim.adam_update
// CHECK-NOT:  optim.lazy_adam_update
// CHECK:      call @emb_sparse_update_1(%{{.*}}) : (memref<?x4xf32>, memref<?xi32>, memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>, f64, f64, f64, f64, f64, i64) -> ()
// CHECK-NEXT: memref.cast
// CHECK-NEXT: memref.cast
// CHECK-NEXT: memref.cast
// CHECK-NEXT: call @emb_sparse_update_0(
// CHECK-NEXT: return
// CHECK-NEXT: }
// CHECK-NEXT: func.func private @emb_sparse_update_0(%{{.*}}: memref<?x8xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?x8xf32>, %{{.*}}: memref<?x8xf32>, %{{.*}}: memref<?x8xf32>, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: i64) attributes {passthrough = ["noinline"]}
// CHECK:      optim.unique
// CHECK:      optim.lazy_adam_update {{.*}} : tensor<?x8xf32>, tensor<?xi32>, tensor<?x8xf32>
// CHECK-NOT:  optim.lazy_adam_update
// CHECK:      func.func private @emb_sparse_update_1(%{{.*}}: memref<?x4xf32>,
// CHECK:      optim.lazy_adam_update {{.*}} : tensor<?x4xf32>, tensor<?xi32>, tensor<?x4xf32>
// CHECK-NOT:  optim.lazy_adam_update
// CHECK-NOT:  func.func private @emb_sparse_update_2
// CHECK:      func.func @emb_lr(

// Lowered, the functions stay functions: three calls of the first, one of
// the second, each defined once.
// LLVM-LABEL: llvm.func @emb_step(
// LLVM-COUNT-2: llvm.call @emb_sparse_update_0(
// LLVM:       llvm.call @emb_sparse_update_1(
// LLVM:       llvm.call @emb_sparse_update_0(
// LLVM-NOT:   llvm.call @emb_sparse_update
// LLVM:       llvm.return
// LLVM-DAG:   llvm.func @emb_sparse_update_0({{.*}} attributes {passthrough = ["noinline"]
// LLVM-DAG:   llvm.func @emb_sparse_update_1({{.*}} attributes {passthrough = ["noinline"]

// The GPU step has no mapping for the per-parameter form: the calls would
// run on the host, a diagnostic.
// GPU: error: 'func.call' op would run on the host in a GPU step

// -----

// Without unique, the function has no optim.unique: another class than the
// default's.
optim.optimizer @dup rule #optim.rule<lazy_adam> learning_rate 0.01 unique false {
  optim.param "e" : tensor<10x4xf32> sparse
}
// CHECK-LABEL: func.func @dup_step(
// CHECK:      call @dup_sparse_update_0(
// CHECK:      func.func private @dup_sparse_update_0(
// CHECK-NOT:  optim.unique
// CHECK:      optim.lazy_adam_update
// LLVM-LABEL: llvm.func @dup_step(
// LLVM:       llvm.call @dup_sparse_update_0(

// -----

// The sparse functions run the per-buffer form, which has no phases for
// clipping: a diagnostic, not a step without it.
// expected-error @below {{needs the multi-tensor step (buffer tables)}}
optim.optimizer @clipped rule #optim.rule<lazy_adam> learning_rate 0.1 max_grad_norm 1 {
  optim.param "emb" : tensor<10x4xf32> sparse
}
