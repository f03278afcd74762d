// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-cpu="chunk-size=4096" | FileCheck %s
// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-cpu="constant-hyper-params=1 share-update-functions=0" | FileCheck %s --check-prefix=CONST

// The whole step is LLVM dialect: fused, vectorized, multi-threaded loops on
// the caller's buffers, with no temporary copies of parameters or states
// and no heap allocation. The step has two phases, one parallel region
// each: the reduction phase calls the centralized class's reduce function
// (row sums), the update phase dispatches every chunk to its class's update
// function. Two classes (centralized weights of four shapes, the rank-1
// parameters), so two update functions and one reduce function, whatever
// the shapes.
// CHECK-LABEL: llvm.func @adamw_step(
// CHECK-NOT:   llvm.call @malloc
// CHECK:       omp.parallel
// CHECK:         omp.wsloop
// CHECK:           llvm.call @adamw_reduce_0(
// CHECK:       omp.parallel
// CHECK:         omp.wsloop
// CHECK-DAG:       llvm.call @adamw_update_0(
// CHECK-DAG:       llvm.call @adamw_update_1(
// CHECK-NOT:   omp.parallel
// CHECK-LABEL: llvm.func @_mlir_ciface_adamw_step(
// Called from the step's parallel loops: vector code, no threads inside.
// CHECK-LABEL: llvm.func @adamw_update_0(
// CHECK-SAME: passthrough = ["noinline"]
// CHECK-NOT: omp.parallel
// CHECK-DAG: llvm.load {{.*}} -> vector<16xf32>
// CHECK-DAG: llvm.intr.sqrt({{.*}}) : (vector<16xf32>) -> vector<16xf32>
// CHECK-DAG: llvm.store {{.*}} : vector<16xf32>, !llvm.ptr
// The row sums: 16 lanes of partial sums carried in registers, then one
// horizontal reduction per row.
// CHECK-LABEL: llvm.func @adamw_reduce_0(
// CHECK-NOT: llvm.call @malloc
// CHECK: llvm.fadd {{.*}} : vector<16xf32>
// CHECK: llvm.intr.vector.reduce.fadd
// CHECK-LABEL: llvm.func @adamw_update_1(
// CHECK-NOT: llvm.func @adamw_update_2(
// CHECK-NOT: llvm.func @adamw_reduce_1(
// CHECK-LABEL: llvm.func @adamw_lr(
// CHECK-NOT: optim.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.

// Hyper-parameters come from the (f64) table (CHECK-NOT above: no beta2
// constant) unless compiled in as constants, f64 like the table, rounded
// once for the f32 element code.
// CHECK-NOT: llvm.mlir.constant(0.99899999999999999 : f64)
// CONST-LABEL: llvm.func @adamw_step(
// CONST: %[[B2:.*]] = llvm.mlir.constant(0.99899999999999999 : f64) : f64
// CONST: llvm.fptrunc %[[B2]] : f64 to f32
