// RUN: optim-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(optim-lower-block-reductions))" --verify-diagnostics | FileCheck %s

// A block-wide sum in a kernel: warp shuffles and one exchange through
// workgroup memory.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @sum(%x: f32, %out: memref<f32>) workgroup() private() kernel {
      %s = gpu.all_reduce add %x uniform {} : (f32) -> f32
      memref.store %s, %out[] : memref<f32>
      gpu.return
    }
  }
}
// CHECK-LABEL: gpu.func @sum(
// CHECK-SAME:  workgroup(%{{.*}} : memref<32xf32, #gpu.address_space<workgroup>>)
// CHECK-NOT:   gpu.all_reduce
// CHECK:       gpu.shuffle xor
// CHECK:       gpu.barrier

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    func.func @device(%x: f32) -> f32 {
      // expected-error @below {{block-wide reduction outside a GPU kernel}}
      %s = gpu.all_reduce add %x uniform {} : (f32) -> f32
      return %s : f32
    }
  }
}
