// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-cpu="chunk-size=4096" | FileCheck %s
// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-cpu="constant-hyper-params=1 share-update-functions=0" | FileCheck %s --check-prefix=CONST

// The whole step is LLVM dialect: fused, vectorized, multi-threaded loops on
// the caller's buffers, with no temporary copies of parameters or states.
// The step calls one shared update function per class of parameters: four
// centralized weights of different shapes keep their own, the four rank-1
// parameters share one, called in a loop.
// CHECK-LABEL: llvm.func @adamw_step(
// CHECK-COUNT-5: llvm.call @adamw_update_
// CHECK-NOT: llvm.call @adamw_update_
// CHECK-LABEL: llvm.func @_mlir_ciface_adamw_step(
// CHECK-LABEL: llvm.func @adamw_update_0(
// CHECK-SAME: passthrough = ["noinline"]
// CHECK: omp.parallel
// CHECK-DAG: llvm.load {{.*}} -> vector<16xf32>
// CHECK-DAG: llvm.intr.sqrt({{.*}}) : (vector<16xf32>) -> vector<16xf32>
// CHECK-DAG: llvm.store {{.*}} : vector<16xf32>, !llvm.ptr
// CHECK: llvm.func @adamw_update_4(
// CHECK-NOT: llvm.func @adamw_update_5(
// CHECK-LABEL: llvm.func @adamw_lr(
// CHECK-NOT: optim.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.

// Hyper-parameters come from the table (CHECK-NOT above: no beta2 constant)
// unless compiled in as constants, which then fold into the vector code.
// CHECK-NOT: dense<9.990000e-01> : vector<16xf32>
// CONST-LABEL: llvm.func @adamw_step(
// CONST: dense<9.990000e-01> : vector<16xf32>
