// RUN: optim-opt %s --optim-merge-kernel-modules --split-input-file --verify-diagnostics | FileCheck %s

// Two outlined phases: one module with both kernels (named after their
// modules) and one copy of the chunk table; the launches follow.
module attributes {gpu.container_module} {
  gpu.module @opt_step_kernel {
    memref.global "private" constant @opt_chunks : memref<2xindex> = dense<[0, 1]>
    gpu.func @opt_step_kernel() kernel {
      %t = memref.get_global @opt_chunks : memref<2xindex>
      gpu.return
    }
  }
  gpu.module @opt_step_kernel_0 {
    memref.global "private" constant @opt_chunks : memref<2xindex> = dense<[0, 1]>
    gpu.func @opt_step_kernel() kernel {
      %t = memref.get_global @opt_chunks : memref<2xindex>
      gpu.return
    }
  }
  func.func @opt_step() {
    %c1 = arith.constant 1 : index
    gpu.launch_func @opt_step_kernel::@opt_step_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.launch_func @opt_step_kernel_0::@opt_step_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}
// CHECK:       gpu.module @opt_step_kernel {
// CHECK-COUNT-1: memref.global "private" constant @opt_chunks
// CHECK:         gpu.func @opt_step_kernel() kernel
// CHECK:         gpu.func @opt_step_kernel_0() kernel
// CHECK-NOT:   gpu.module
// CHECK-LABEL: func.func @opt_step(
// CHECK:       gpu.launch_func  @opt_step_kernel::@opt_step_kernel blocks
// CHECK:       gpu.launch_func  @opt_step_kernel::@opt_step_kernel_0 blocks

// -----

module attributes {gpu.container_module} {
  gpu.module @a {
    memref.global "private" constant @opt_chunks : memref<2xindex> = dense<[0, 1]>
  }
  gpu.module @b {
    // expected-error @below {{differs from the 'opt_chunks' of the other kernels}}
    memref.global "private" constant @opt_chunks : memref<2xindex> = dense<[0, 2]>
  }
}
