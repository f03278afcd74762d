// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file | FileCheck %s

func.func @learning_rate(%t: i64) -> f32 {
  %lr = optim.learning_rate #optim.warmup<learning_rate = 1.0e-01, warmup_steps = 10> at %t
  return %lr : f32
}

// The schedule's scalar code (warm-up: lr * min(step, n) / n).
// CHECK-LABEL: func.func @learning_rate(
// CHECK-SAME: %[[T:[a-z0-9]+]]: i64) -> f32
// CHECK-NEXT: %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f32
// CHECK-NEXT: %[[N:.*]] = arith.constant 1.000000e+01 : f32
// CHECK-NEXT: %[[X0:.*]] = arith.minimumf %[[TF]], %[[N]] : f32
// CHECK:      %[[X1:.*]] = arith.divf %[[X0]], %{{.*}} : f32
// CHECK-NEXT: %[[LR:.*]] = arith.constant 1.000000e-01 : f32
// CHECK-NEXT: %[[R:.*]] = arith.mulf %[[LR]], %[[X1]] : f32
// CHECK-NEXT: return %[[R]] : f32

// -----

func.func @scale_grad(%g: tensor<4x?xf32>, %ls: f32) -> tensor<4x?xf32> {
  %0 = optim.scale_grad %g by %ls : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// An elementwise generic into tensor.empty (fusable into the update);
// 1 / loss_scale is computed once.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @scale_grad(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<4x?xf32>, %[[LS:[a-z0-9]+]]: f32)
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[INV:.*]] = arith.divf %[[ONE]], %[[LS]] : f32
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[D1:.*]] = tensor.dim %[[G]], %[[C1]] : tensor<4x?xf32>
// CHECK-NEXT: %[[INIT:.*]] = tensor.empty(%[[D1]]) : tensor<4x?xf32>
// CHECK-NEXT: %[[R:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:     ins(%[[G]] : tensor<4x?xf32>) outs(%[[INIT]] : tensor<4x?xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[X:.*]] = arith.mulf %[[g]], %[[INV]] : f32
// CHECK-NEXT:   linalg.yield %[[X]] : f32
// CHECK:      return %[[R]]

// -----

func.func @scale_grad_bf16(%g: tensor<8xbf16>, %ls: f32) -> tensor<8xbf16> {
  %0 = optim.scale_grad %g by %ls : tensor<8xbf16>
  return %0 : tensor<8xbf16>
}

// CHECK-LABEL: func.func @scale_grad_bf16(
// CHECK:      %[[INV:.*]] = arith.divf %{{.*}}, %{{.*}} : f32
// CHECK:      linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT:   %[[G:.*]] = arith.extf %[[g]] : bf16 to f32
// CHECK-NEXT:   %[[X:.*]] = arith.mulf %[[G]], %[[INV]] : f32
// CHECK-NEXT:   %[[Y:.*]] = arith.truncf %[[X]] : f32 to bf16
// CHECK-NEXT:   linalg.yield %[[Y]] : bf16

// -----

func.func @decay_weight(%g: tensor<64x3xf32>, %p: tensor<64x3xf32>, %wd: f32) -> tensor<64x3xf32> {
  %0 = optim.decay_weight %g, %p by %wd : tensor<64x3xf32>
  return %0 : tensor<64x3xf32>
}

// CHECK-LABEL: func.func @decay_weight(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<64x3xf32>, %[[P:[a-z0-9]+]]: tensor<64x3xf32>, %[[WD:[a-z0-9]+]]: f32)
// CHECK-NEXT: %[[INIT:.*]] = tensor.empty() : tensor<64x3xf32>
// CHECK-NEXT: %[[R:.*]] = linalg.generic
// CHECK-SAME:     ins(%[[G]], %[[P]] : tensor<64x3xf32>, tensor<64x3xf32>) outs(%[[INIT]] : tensor<64x3xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[X:.*]] = arith.mulf %[[WD]], %[[p]] : f32
// CHECK-NEXT:   %[[Y:.*]] = arith.addf %[[g]], %[[X]] : f32
// CHECK-NEXT:   linalg.yield %[[Y]] : f32
// CHECK:      return %[[R]]

// -----

func.func @decay_weight_f64(%g: tensor<5xf64>, %p: tensor<5xf64>, %wd: f32) -> tensor<5xf64> {
  %0 = optim.decay_weight %g, %p by %wd : tensor<5xf64>
  return %0 : tensor<5xf64>
}

// CHECK-LABEL: func.func @decay_weight_f64(
// CHECK-SAME: %[[WD:[a-z0-9]+]]: f32)
// CHECK-NEXT: %[[WDD:.*]] = arith.extf %[[WD]] : f32 to f64
// CHECK:      ^bb0(%[[g:[a-z0-9_]+]]: f64, %[[p:[a-z0-9_]+]]: f64, %{{.*}}: f64):
// CHECK-NEXT:   %[[X:.*]] = arith.mulf %[[WDD]], %[[p]] : f64
// CHECK-NEXT:   %[[Y:.*]] = arith.addf %[[g]], %[[X]] : f64
// CHECK-NEXT:   linalg.yield %[[Y]] : f64

// -----

func.func @centralize(%g: tensor<8x16x3x3xf32>) -> tensor<8x16x3x3xf32> {
  %0 = optim.centralize %g : tensor<8x16x3x3xf32>
  return %0 : tensor<8x16x3x3xf32>
}

// A reduction of each row (axis 0) over the other axes, then an elementwise
// generic subtracting sum / row_size (16 * 3 * 3 = 144), broadcast per row.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2, d3) -> (d0)>
// CHECK-LABEL: func.func @centralize(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<8x16x3x3xf32>)
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<8xf32>
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: %[[SUMS:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ROW]]], iterator_types = ["parallel", "reduction", "reduction", "reduction"]}
// CHECK-SAME:     ins(%[[G]] : tensor<8x16x3x3xf32>) outs(%[[INIT]] : tensor<8xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[acc:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X:.*]] = arith.addf %[[acc]], %[[g]] : f32
// CHECK-NEXT:   linalg.yield %[[X]] : f32
// CHECK:      %[[N:.*]] = arith.constant 1.440000e+02 : f32
// CHECK-NEXT: %[[OUT:.*]] = tensor.empty() : tensor<8x16x3x3xf32>
// CHECK-NEXT: %[[R:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME:     ins(%[[G]], %[[SUMS]] : tensor<8x16x3x3xf32>, tensor<8xf32>) outs(%[[OUT]] : tensor<8x16x3x3xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[s:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[MEAN:.*]] = arith.divf %[[s]], %[[N]] : f32
// CHECK-NEXT:   %[[Y:.*]] = arith.subf %[[g]], %[[MEAN]] : f32
// CHECK-NEXT:   linalg.yield %[[Y]] : f32
// CHECK:      return %[[R]]

// -----

func.func @centralize_bf16_dynamic_rows(%g: tensor<?x32x?xbf16>) -> tensor<?x32x?xbf16> {
  %0 = optim.centralize %g : tensor<?x32x?xbf16>
  return %0 : tensor<?x32x?xbf16>
}

// bf16 rows are summed in f32; dynamic sizes: the row size is computed.
// CHECK-LABEL: func.func @centralize_bf16_dynamic_rows(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<?x32x?xbf16>)
// CHECK:      %[[INIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?xf32>) -> tensor<?xf32>
// CHECK-NEXT: %[[SUMS:.*]] = linalg.generic
// CHECK-SAME:     ins(%[[G]] : tensor<?x32x?xbf16>) outs(%[[INIT]] : tensor<?xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: bf16, %[[acc:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X:.*]] = arith.extf %[[g]] : bf16 to f32
// CHECK-NEXT:   %[[Y:.*]] = arith.addf %[[acc]], %[[X]] : f32
// CHECK:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT: %[[D2:.*]] = tensor.dim %[[G]], %[[C2]] : tensor<?x32x?xbf16>
// CHECK-NEXT: %[[C32:.*]] = arith.constant 32 : index
// CHECK-NEXT: %[[SIZE:.*]] = arith.muli %[[D2]], %[[C32]] : index
// CHECK-NEXT: %[[SIZEI:.*]] = arith.index_cast %[[SIZE]] : index to i64
// CHECK-NEXT: %[[N:.*]] = arith.sitofp %[[SIZEI]] : i64 to f32
// CHECK:      linalg.generic
// CHECK-SAME:     ins(%[[G]], %[[SUMS]] : tensor<?x32x?xbf16>, tensor<?xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: bf16, %[[s:[a-z0-9_]+]]: f32, %{{.*}}: bf16):
// CHECK-NEXT:   %[[X:.*]] = arith.extf %[[g]] : bf16 to f32
// CHECK-NEXT:   %[[MEAN:.*]] = arith.divf %[[s]], %[[N]] : f32
// CHECK-NEXT:   %[[Y:.*]] = arith.subf %[[X]], %[[MEAN]] : f32
// CHECK-NEXT:   %[[Z:.*]] = arith.truncf %[[Y]] : f32 to bf16
// CHECK-NEXT:   linalg.yield %[[Z]] : bf16

// -----

func.func @centralize_dynamic_dim1(%g: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %0 = optim.centralize %g : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// A dynamic second dimension: whether it is a multiple of 16 is checked at
// run time.
// CHECK-LABEL: func.func @centralize_dynamic_dim1(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<4x?xf32>)
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[D1:.*]] = tensor.dim %[[G]], %[[C1]] : tensor<4x?xf32>
// CHECK-NEXT: %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT: %[[REM:.*]] = arith.remui %[[D1]], %[[C16]] : index
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[APPLIES:.*]] = arith.cmpi eq, %[[REM]], %[[C0]] : index
// CHECK-NEXT: %[[R:.*]] = scf.if %[[APPLIES]] -> (tensor<4x?xf32>) {
// CHECK:        linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]}
// CHECK:        %[[C:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]}
// CHECK:        scf.yield %[[C]] : tensor<4x?xf32>
// CHECK-NEXT: } else {
// CHECK-NEXT:   scf.yield %[[G]] : tensor<4x?xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[R]]

// -----

func.func @centralize_not_applicable(%a: tensor<8x10xf32>, %b: tensor<32xf32>) -> (tensor<8x10xf32>, tensor<32xf32>) {
  %0 = optim.centralize %a : tensor<8x10xf32>
  %1 = optim.centralize %b : tensor<32xf32>
  return %0, %1 : tensor<8x10xf32>, tensor<32xf32>
}

// Rank < 2, or a second dimension that is not a multiple of 16: forwarded.
// CHECK-LABEL: func.func @centralize_not_applicable(
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<8x10xf32>, %[[B:[a-z0-9]+]]: tensor<32xf32>)
// CHECK-NEXT: return %[[A]], %[[B]] : tensor<8x10xf32>, tensor<32xf32>

// -----

func.func @global_norm(%a: tensor<4x4xf32>, %b: tensor<?xf64>) -> f32 {
  %n = optim.global_norm %a, %b : tensor<4x4xf32>, tensor<?xf64>
  return %n : f32
}

// One sum-of-squares reduction per tensor (f64 accumulates in f64), then the
// square root of the total.
// CHECK-LABEL: func.func @global_norm(
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<4x4xf32>, %[[B:[a-z0-9]+]]: tensor<?xf64>) -> f32
// CHECK:      %[[RA:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]} ins(%[[A]] : tensor<4x4xf32>) outs(%{{.*}} : tensor<f32>)
// CHECK-NEXT: ^bb0(%[[a:[a-z0-9_]+]]: f32, %[[acc:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X:.*]] = arith.mulf %[[a]], %[[a]] : f32
// CHECK-NEXT:   %[[Y:.*]] = arith.addf %[[acc]], %[[X]] : f32
// CHECK-NEXT:   linalg.yield %[[Y]] : f32
// CHECK:      %[[SA:.*]] = tensor.extract %[[RA]][] : tensor<f32>
// CHECK:      %[[RB:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%[[B]] : tensor<?xf64>) outs(%{{.*}} : tensor<f64>)
// CHECK:      %[[SB:.*]] = tensor.extract %[[RB]][] : tensor<f64>
// CHECK-NEXT: %[[SB32:.*]] = arith.truncf %[[SB]] : f64 to f32
// CHECK-NEXT: %[[TOTAL:.*]] = arith.addf %[[SA]], %[[SB32]] : f32
// CHECK-NEXT: %[[NORM:.*]] = math.sqrt %[[TOTAL]] : f32
// CHECK-NEXT: return %[[NORM]] : f32

// -----

func.func @all_finite(%a: tensor<4x4xf32>, %b: tensor<7xf16>) -> i1 {
  %ok = optim.all_finite %a, %b : tensor<4x4xf32>, tensor<7xf16>
  return %ok : i1
}

// An i1 reduction per tensor ("|x| < inf" is false for inf and NaN), then
// arith.andi.
// CHECK-LABEL: func.func @all_finite(
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<4x4xf32>, %[[B:[a-z0-9]+]]: tensor<7xf16>) -> i1
// CHECK:      %[[TRUE:.*]] = arith.constant true
// CHECK-NEXT: %[[INIT:.*]] = linalg.fill ins(%[[TRUE]] : i1) outs(%{{.*}} : tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %[[RA:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]} ins(%[[A]] : tensor<4x4xf32>) outs(%[[INIT]] : tensor<i1>)
// CHECK-NEXT: ^bb0(%[[a:[a-z0-9_]+]]: f32, %[[ok:[a-z0-9_]+]]: i1):
// CHECK-NEXT:   %[[ABS:.*]] = math.absf %[[a]] : f32
// CHECK-NEXT:   %[[INF:.*]] = arith.constant 0x7F800000 : f32
// CHECK-NEXT:   %[[FIN:.*]] = arith.cmpf olt, %[[ABS]], %[[INF]] : f32
// CHECK-NEXT:   %[[X:.*]] = arith.andi %[[ok]], %[[FIN]] : i1
// CHECK-NEXT:   linalg.yield %[[X]] : i1
// CHECK:      %[[OKA:.*]] = tensor.extract %[[RA]][] : tensor<i1>
// CHECK:      %[[RB:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<7xf16>) outs(%{{.*}} : tensor<i1>)
// CHECK-NEXT: ^bb0(%[[b:[a-z0-9_]+]]: f16, %{{.*}}: i1):
// CHECK-NEXT:   arith.extf %[[b]] : f16 to f32
// CHECK:      %[[OKB:.*]] = tensor.extract %[[RB]][] : tensor<i1>
// CHECK-NEXT: %[[OK:.*]] = arith.andi %[[OKA]], %[[OKB]] : i1
// CHECK-NEXT: return %[[OK]] : i1

// -----

func.func @broadcast_one_rank(%a: tensor<4xf32>, %b: tensor<2x2xf64>) -> (tensor<4xf32>, tensor<2x2xf64>) {
  %0, %1 = optim.broadcast_params %a, %b num_ranks 1 : tensor<4xf32>, tensor<2x2xf64>
  return %0, %1 : tensor<4xf32>, tensor<2x2xf64>
}

// One rank: the identity.
// CHECK-LABEL: func.func @broadcast_one_rank(
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<4xf32>, %[[B:[a-z0-9]+]]: tensor<2x2xf64>)
// CHECK-NEXT: return %[[A]], %[[B]] : tensor<4xf32>, tensor<2x2xf64>

// -----

// Declarative ops are left alone.
optim.optimizer @sgd rule #optim.rule<sgd> learning_rate 1.0e-01 : f64 {
  optim.param "w" : tensor<4xf32>
}

// CHECK: optim.optimizer @sgd
// CHECK-NEXT: optim.param "w" : tensor<4xf32>
