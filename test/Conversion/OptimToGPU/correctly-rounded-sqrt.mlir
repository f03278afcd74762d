// RUN: optim-opt %s --pass-pipeline="builtin.module(gpu.module(optim-correctly-rounded-sqrt))" | FileCheck %s

// libdevice's square roots (what convert-gpu-to-nvvm makes of math.sqrt)
// become LLVM's correctly rounded intrinsic; other calls stay.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @__nv_sqrtf(f32) -> f32
    llvm.func @__nv_sqrt(f64) -> f64
    llvm.func @__nv_expf(f32) -> f32
    // CHECK-LABEL: llvm.func @body(
    // CHECK-SAME:  %[[X:.*]]: f32)
    llvm.func @body(%x: f32) -> f32 {
      // CHECK: %[[S:.*]] = llvm.intr.sqrt(%[[X]]) : (f32) -> f32
      %s = llvm.call @__nv_sqrtf(%x) : (f32) -> f32
      // CHECK: llvm.call @__nv_expf(%[[S]])
      %e = llvm.call @__nv_expf(%s) : (f32) -> f32
      // CHECK-NOT: @__nv_sqrt
      llvm.return %e : f32
    }
    // CHECK-LABEL: llvm.func @body64(
    // CHECK-SAME:  %[[Y:.*]]: f64)
    llvm.func @body64(%y: f64) -> f64 {
      // CHECK: llvm.intr.sqrt(%[[Y]]) : (f64) -> f64
      // CHECK-NOT: @__nv_sqrt
      %d = llvm.call @__nv_sqrt(%y) : (f64) -> f64
      llvm.return %d : f64
    }
  }
}
