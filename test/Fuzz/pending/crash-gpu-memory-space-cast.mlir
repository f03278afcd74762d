// A compute-level function with no optimizer through the GPU pipeline:
// the host code's memrefs in #gpu.address_space<global> have no LLVM
// conversion; that must be a diagnostic, not a crash in the lowering of
// memref.memory_space_cast.
// RUN: not optim-opt %S/../Inputs/crash-gpu-memory-space-cast.mlir --optim-lower-to-gpu="chip=sm_90" -o /dev/null 2>&1 | FileCheck %s
// CHECK: error:
// CHECK-NOT: Stack dump
