// RUN: optim-opt %s --optim-resolve-groups --optim-build-step-boundary --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=BOUNDARY
// RUN: optim-opt %s --optim-build-step="chunk-size=64" --canonicalize --split-input-file --verify-diagnostics --mlir-print-elementsattrs-with-hex-if-larger=-1 | FileCheck %s --check-prefix=STEP
// RUN: optim-opt %s --optim-build-step="chunk-size=64" --convert-optim-to-linalg --canonicalize --cse --optim-fuse-elementwise --canonicalize --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=FUSED
// RUN: optim-opt %s --optim-lower-to-cpu="chunk-size=64" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=CPU
// RUN: not optim-opt %s --optim-resolve-groups --optim-build-step-boundary="share-update-functions=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=PERBUFFER

// The per-buffer form takes no mixed precision.
// PERBUFFER: error: 'optim.optimizer' op mixed precision ('master', 'states') needs the multi-tensor step: share-update-functions=0 is not supported with it

// Mixed precision (docs/Mixed-precision.md). Every buffer goes to the table
// of its own element type: w's param and grad to the bf16 table, its f32
// moments and master to the f32 table; b's bf16 moments stay next to its
// param, its master goes to the f32 table; h's f32 moments to the f32
// table; ln.gamma (f32) and e (bf16, nothing mixed) as before. Each
// parameter has a first entry in each table it uses (`positions`,
// `aux_positions`); classes are keyed by master and state types too.
optim.optimizer @mp rule #optim.rule<adam_weight_decay> learning_rate 0.001 weight_decay 0.01 {
  optim.param "w" : tensor<4x32xbf16> master f32
  optim.param "b" : tensor<32xbf16> master f32 states bf16
  optim.param "h" : tensor<16xf16> states f32
  optim.param "ln.gamma" : tensor<8xf32>
  optim.param "e" : tensor<12xbf16>
}
// BOUNDARY-LABEL: func.func @mp_step(
// BOUNDARY-SAME: %[[F32:[a-z0-9]+]]: memref<?xmemref<?xf32>>, %[[F16:[a-z0-9]+]]: memref<?xmemref<?xf16>>, %[[BF16:[a-z0-9]+]]: memref<?xmemref<?xbf16>>, %{{.*}}: memref<6xf64>, %{{.*}}: i64)
// BOUNDARY:      optim.multi_tensor_update {{.*}}(%[[BF16]], %[[F32]] : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<4x32xbf16>] positions [0] aux_positions [0] master f32 states f32 loss_scale
// BOUNDARY:      optim.multi_tensor_update {{.*}}(%[[BF16]], %[[F32]] : memref<?xmemref<?xbf16>>, memref<?xmemref<?xf32>>) params [tensor<32xbf16>] positions [2] aux_positions [3] master f32 loss_scale
// BOUNDARY:      optim.multi_tensor_update {{.*}}(%[[F16]], %[[F32]] : memref<?xmemref<?xf16>>, memref<?xmemref<?xf32>>) params [tensor<16xf16>] positions [0] aux_positions [4] states f32 loss_scale
// BOUNDARY:      optim.multi_tensor_update {{.*}}(%[[F32]] : memref<?xmemref<?xf32>>) params [tensor<8xf32>] positions [6] loss_scale
// BOUNDARY:      optim.multi_tensor_update {{.*}}(%[[BF16]] : memref<?xmemref<?xbf16>>) params [tensor<12xbf16>] positions [6] loss_scale
// BOUNDARY-NEXT: return

// The chunk table's auxiliary column: w's two chunks read its moments and
// master from entry 0 of the f32 table, b's master is at 3, h's moments at
// 4. The update function of w's class takes param and grad (bf16), the
// moments and the master (f32); the gradient is widened to f32 before its
// unscaling, the rule updates the master, and the parameter is rewritten
// from the new master.
// STEP-LABEL: func.func @mp_step(
// STEP:       memref.get_global @mp_chunks : memref<6x12xindex>
// STEP:       func.func private @mp_update_0(%{{.*}}: memref<?xbf16, strided<[1], offset: ?>>, %{{.*}}: memref<?xbf16, strided<[1], offset: ?>>, %{{.*}}: memref<?xf32, strided<[1], offset: ?>>, %{{.*}}: memref<?xf32, strided<[1], offset: ?>>, %[[MASTER:.*]]: memref<?xf32, strided<[1], offset: ?>>, %{{.*}}: f64,
// STEP:         %[[P:.*]] = bufferization.to_tensor %{{.*}} restrict writable : memref<?xbf16, strided<[1], offset: ?>> to tensor<?xbf16>
// STEP:         %[[M:.*]] = bufferization.to_tensor %[[MASTER]] restrict writable
// STEP:         %[[G:.*]] = optim.round_to %{{.*}} into %{{.*}} : tensor<?xbf16> into tensor<?xf32>
// STEP:         %[[S:.*]] = optim.scale_grad %[[G]] by %{{.*}} : tensor<?xf32>
// STEP:         %[[NEW:.*]], %{{.*}}:2 = optim.adam_weight_decay_update %[[M]], %[[S]], [%{{.*}}, %{{.*}}] {{.*}} : tensor<?xf32>{{$}}
// STEP:         %[[R:.*]] = optim.round_to %[[NEW]] into %[[P]] : tensor<?xf32> into tensor<?xbf16>
// STEP:         bufferization.materialize_in_destination %[[NEW]] in restrict writable %[[MASTER]]
// STEP:         bufferization.materialize_in_destination %[[R]] in restrict writable
// b: bf16 moments, f32 master.
// STEP:       func.func private @mp_update_1(%{{.*}}: memref<?xbf16, {{.*}}>, %{{.*}}: memref<?xbf16, {{.*}}>, %{{.*}}: memref<?xbf16, {{.*}}>, %{{.*}}: memref<?xbf16, {{.*}}>, %{{.*}}: memref<?xf32, {{.*}}>, %{{.*}}: f64,
// STEP:         optim.adam_weight_decay_update {{.*}} : tensor<?xf32> states bf16{{$}}
// STEP:         optim.round_to
// h: no master, the rule runs on the f16 parameter with f32 moments.
// STEP:       func.func private @mp_update_2(%{{.*}}: memref<?xf16, {{.*}}>, %{{.*}}: memref<?xf16, {{.*}}>, %{{.*}}: memref<?xf32, {{.*}}>, %{{.*}}: memref<?xf32, {{.*}}>, %{{.*}}: f64,
// STEP:         optim.adam_weight_decay_update {{.*}} : tensor<?xf16> grad f32 states f32{{$}}
// STEP-NOT:     optim.round_to
// STEP:       func.func private @mp_update_3(
// STEP:         optim.adam_weight_decay_update {{.*}} : tensor<?xf32>{{$}}
// STEP:       func.func private @mp_update_4(
// STEP:         optim.adam_weight_decay_update {{.*}} : tensor<?xbf16>{{$}}
// Class, position, auxiliary position, offset, size, cols, ...
// STEP:       memref.global "private" constant @mp_chunks : memref<6x12xindex> = dense<{{\[}}[0, 0, 0, 0, 64, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 64, 64, 1, 0, 0, 0, 0, 0, 0], [1, 2, 3, 0, 32, 1, 0, 0, 0, 0, 0, 0], [2, 0, 4, 0, 16, 1, 0, 0, 0, 0, 0, 0], [3, 6, 0, 0, 8, 1, 0, 0, 0, 0, 0, 0], [4, 6, 0, 0, 12, 1, 0, 0, 0, 0, 0, 0]]>

// After fusion, one loop per chunk: the widening and unscaling of the
// gradient, the update and the rounding of the master are one generic
// writing the master, the moments and the bf16 parameter, which rounds
// nothing but the new parameter.
// FUSED-LABEL: func.func private @mp_update_0(
// FUSED:         linalg.generic {{.*}} ins(%{{.*}} : tensor<?xbf16>) outs(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xbf16>)
// FUSED-NOT:       arith.truncf
// FUSED:           %[[RB:.*]] = arith.truncf %[[NM:.*]] : f32 to bf16
// FUSED-NEXT:      linalg.yield %[[NM]], %{{.*}}, %{{.*}}, %[[RB]] : f32, f32, f32, bf16
// FUSED-NOT:     linalg.generic
// FUSED:         return
// FUSED-LABEL: func.func private @mp_update_1(
// FUSED:         linalg.generic {{.*}} outs(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?xf32>, tensor<?xbf16>, tensor<?xbf16>, tensor<?xbf16>)
// FUSED-NOT:     linalg.generic
// FUSED:         return

// The CPU code allocates nothing, in the step or in the update functions.
// CPU-LABEL: llvm.func @mp_step(
// CPU-NOT:   llvm.call @malloc
// CPU:       llvm.call @mp_update_0(
// CPU-NOT:   llvm.call @malloc
// CPU-LABEL: llvm.func @mp_update_0(
// CPU-NOT:   llvm.call @malloc
// CPU:       llvm.return
// CPU-NOT:   llvm.call @malloc
// CPU-LABEL: llvm.func @mp_lr(

// -----

// A class that needs a reduction (Lamb's norms): the norms of the master.
optim.optimizer @lamb rule #optim.rule<lamb> learning_rate 0.001 {
  optim.param "w" : tensor<4x32xbf16> master f32
}
// STEP-LABEL: func.func @lamb_step(
// STEP:       func.func private @lamb_update_0(
// STEP:         optim.lamb_update {{.*}} : tensor<?xf32>, tensor<3xf32>
// STEP:         optim.round_to
// STEP:       func.func private @lamb_reduce_0(%{{.*}}: memref<?xbf16, {{.*}}>, %{{.*}}: memref<?xbf16, {{.*}}>, %{{.*}}: memref<?xf32, {{.*}}>, %{{.*}}: memref<?xf32, {{.*}}>, %[[M:.*]]: memref<?xf32, {{.*}}>,
// STEP:         %[[MT:.*]] = bufferization.to_tensor %[[M]] restrict :
// STEP:         optim.lamb_norms %[[MT]], {{.*}} : tensor<?xf32> -> tensor<3xf32>
// STEP-NOT:     optim.round_to
// FUSED-LABEL: func.func @lamb_step(
// CPU-LABEL: llvm.func @lamb_step(

// -----

// Centralization and weight decay before unscaling, with a master: the
// row sums of the widened gradient (decayed with the master) in the
// reduction phase; nothing allocated either.
optim.optimizer @gc rule #optim.rule<momentum, momentum = 0.9> learning_rate 0.1 weight_decay 0.01 {
  optim.group grad_centralization {
    optim.param "w" : tensor<4x32xbf16> master f32
  }
}
// STEP-LABEL: func.func @gc_step(
// STEP:       func.func private @gc_update_0(
// STEP:         optim.decay_weight %{{.*}}, %{{.*}} by %{{.*}} : tensor<?x?xf32>
// STEP:         optim.centralize %{{.*}} row_sums %{{.*}} : tensor<?x?xf32>, tensor<?xf32>
// STEP:         optim.momentum_update {{.*}} : tensor<?x?xf32>{{$}}
// STEP:         optim.round_to %{{.*}} into %{{.*}} : tensor<?x?xf32> into tensor<?x?xbf16>
// STEP:       func.func private @gc_reduce_0(
// STEP:         optim.round_to %{{.*}} into %{{.*}} : tensor<?x?xbf16> into tensor<?x?xf32>
// STEP:         optim.row_sum %{{.*}} : tensor<?x?xf32> -> tensor<?xf32>
// FUSED-LABEL: func.func @gc_step(
// CPU-LABEL: llvm.func @gc_step(
// CPU-NOT:   llvm.call @malloc
// CPU-LABEL: llvm.func @gc_lr(

// -----

// Whole-tensor rules do not take mixed precision yet.
// expected-error@+1 {{'optim.optimizer' op mixed precision ('master', 'states') with AdaFactor, whose update reads whole tensors, is not supported yet}}
optim.optimizer @af rule #optim.rule<adafactor> learning_rate 0.001 {
  optim.param "w" : tensor<4x32xbf16> master f32
}
