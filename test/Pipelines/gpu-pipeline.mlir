// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-gpu="chip=sm_90 chunk-size=4096" | FileCheck %s
// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-gpu="chip=sm_80 block-size=128" | FileCheck %s --check-prefix=SM80
// Square roots are correctly rounded, as on the CPU (never sqrt.approx).
// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-gpu="chip=sm_90" | FileCheck %s --check-prefix=SQRT
// SQRT-NOT: sqrt.approx

// The same step structure as on the CPU: one kernel per phase, in one GPU
// module, whatever the number of tensors. The reduction phase (row sums of
// the centralized weights) launches one block per row chunk, the update
// phase one block per chunk of every parameter. The global step lives in
// device memory: a last launch of one thread increments it.
// CHECK-LABEL: llvm.func @adamw_step(
// CHECK:       gpu.launch_func  @adamw_step_kernel::@adamw_step_kernel blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%[[T:.*]], %{{.*}}, %{{.*}})
// CHECK:       gpu.launch_func  @adamw_step_kernel::@adamw_step_kernel_0
// CHECK:       gpu.launch_func  @adamw_step_kernel::@adamw_step_kernel_1 blocks in (%[[ONE:.*]], %[[ONE]], %[[ONE]]) threads in (%[[ONE]], %[[ONE]], %[[ONE]])
// CHECK-NOT:   gpu.launch_func
// CHECK:       gpu.binary @adamw_step_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// PTX from LLVM's NVPTX backend: the chunk table in device memory, the two
// kernels; the reduction uses warp shuffles and a barrier (a tree, not one
// thread), the update 128-bit global vector loads and stores in a loop that
// strides by the block size.
// CHECK-SAME:  .target sm_90
// CHECK-SAME:  .global .align 64 .b8 adamw_chunks
// CHECK-SAME:  .entry adamw_step_kernel(
// CHECK-SAME:  shfl.sync.bfly.b32
// CHECK-SAME:  bar.sync
// CHECK-SAME:  .entry adamw_step_kernel_0(
// CHECK-SAME:  mov.u32 {{.*}}%ntid.x
// CHECK-SAME:  ld.global.v4.b32
// CHECK-SAME:  sqrt.rn.f32
// CHECK-SAME:  st.global.v4.b32
// CHECK-SAME:  .entry adamw_step_kernel_1(
// CHECK-SAME:  add.s64
// CHECK-SAME:  st.global
// CHECK-NOT:   gpu.binary

// SM80: gpu.binary @adamw_step_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// SM80-SAME: .target sm_80

// With lower-host=0 the host side stays a launch plan a runtime can read:
// each kernel's arguments are the step's own (buffer table, hyper-parameter
// table, step counter in device memory), in order; the last launch, one
// thread, increments the counter.
// RUN: optim-opt %optim_src_root/examples/adamw.mlir --optim-lower-to-gpu="chip=sm_90 lower-host=0" | FileCheck %s --check-prefix=PLAN
// PLAN-LABEL: func.func @adamw_step(
// PLAN-SAME:  %[[TABLE:.*]]: memref<?xmemref<?xf32>>, %[[HYPER:.*]]: memref<11xf64>, %[[STEP:.*]]: memref<1xi64>)
// PLAN:       gpu.launch_func  @adamw_step_kernel::@adamw_step_kernel blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1)  args(%[[TABLE]] : memref<?xmemref<?xf32>>)
// PLAN:       gpu.launch_func  @adamw_step_kernel::@adamw_step_kernel_0 blocks in (%c8, %c1, %c1) threads in (%c256, %c1, %c1)  args(%[[STEP]] : memref<1xi64>, %[[HYPER]] : memref<11xf64>, %[[TABLE]] : memref<?xmemref<?xf32>>)
// PLAN:       gpu.launch_func  @adamw_step_kernel::@adamw_step_kernel_1 blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)  args(%[[STEP]] : memref<1xi64>)
// PLAN-NEXT:  return
