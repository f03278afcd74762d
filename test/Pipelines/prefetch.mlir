// RUN: optim-opt %S/../Dialect/Optim/Inputs/amp.mlir --optim-lower-to-cpu | FileCheck %s
// RUN: optim-opt %S/../Dialect/Optim/Inputs/amp.mlir --optim-lower-to-cpu="prefetch-bytes=0" | FileCheck %s --check-prefix=OFF

// The CPU pipeline prefetches ahead of the read-only phase (the squared
// norms of the gradients); the update, which writes, gets no prefetch.

// CHECK-LABEL: llvm.func @amp_update_0(
// CHECK-NOT:   llvm.intr.prefetch
// CHECK-LABEL: llvm.func @amp_grad_norm_0(
// CHECK:       llvm.intr.prefetch
// CHECK-LABEL: llvm.func @amp_combine(

// OFF-NOT:     llvm.intr.prefetch
