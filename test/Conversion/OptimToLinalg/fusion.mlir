// RUN: optim-opt %s --convert-optim-to-linalg --linalg-fuse-elementwise-ops --split-input-file | FileCheck %s

// decay_weight -> scale_grad -> adam_update: upstream elementwise fusion
// merges the three generics into one loop over p, g, m, v.
func.func @adamw_step(%p: tensor<64x32xf32>, %g: tensor<64x32xf32>, %m: tensor<64x32xf32>, %v: tensor<64x32xf32>, %wd: f32, %ls: f32, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>) {
  %0 = optim.decay_weight %g, %p by %wd : tensor<64x32xf32>
  %1 = optim.scale_grad %0 by %ls : tensor<64x32xf32>
  %p1, %m1, %v1 = optim.adam_update %p, %1, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<64x32xf32>
  return %p1, %m1, %v1 : tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>
}

// CHECK-LABEL: func.func @adamw_step(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<64x32xf32>, %[[G:[a-z0-9]+]]: tensor<64x32xf32>, %[[M:[a-z0-9]+]]: tensor<64x32xf32>, %[[V:[a-z0-9]+]]: tensor<64x32xf32>,
// CHECK-SAME: %[[WD:[a-z0-9]+]]: f32, %[[LS:[a-z0-9]+]]: f32,
// CHECK-NOT:  linalg.generic
// CHECK:      %[[INV:.*]] = arith.divf %{{.*}}, %[[LS]] : f32
// CHECK:      %[[R:.*]]:3 = linalg.generic
// CHECK-SAME:     ins(%[[G]], %[[P]] : tensor<64x32xf32>, tensor<64x32xf32>) outs(%[[P]], %[[M]], %[[V]] : tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[pin:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %{{[a-z0-9_]+}}: f32, %{{[a-z0-9_]+}}: f32):
// CHECK-NEXT:   %[[X:.*]] = arith.mulf %[[WD]], %[[pin]] : f32
// CHECK-NEXT:   %[[DECAYED:.*]] = arith.addf %[[g]], %[[X]] : f32
// CHECK-NEXT:   %[[SCALED:.*]] = arith.mulf %[[DECAYED]], %[[INV]] : f32
// CHECK:        arith.mulf %{{.*}}, %[[SCALED]] : f32
// CHECK:        math.sqrt
// CHECK:        %[[NP:.*]] = arith.subf %[[p]], %{{.*}} : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %{{.*}}, %{{.*}} : f32, f32, f32
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[R]]#0, %[[R]]#1, %[[R]]#2

// -----

// centralize -> scale_grad -> momentum_update: the row-sum reduction, then
// one loop applying centralization, scaling and the update.
func.func @centralized_momentum_step(%p: tensor<8x16xbf16>, %g: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %ls: f32, %lr: f32, %mu: f32) -> (tensor<8x16xbf16>, tensor<8x16xbf16>) {
  %0 = optim.centralize %g : tensor<8x16xbf16>
  %1 = optim.scale_grad %0 by %ls : tensor<8x16xbf16>
  %p1, %v1 = optim.momentum_update %p, %1, [%v] lr %lr momentum %mu : tensor<8x16xbf16>
  return %p1, %v1 : tensor<8x16xbf16>, tensor<8x16xbf16>
}

// CHECK-LABEL: func.func @centralized_momentum_step(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<8x16xbf16>, %[[G:[a-z0-9]+]]: tensor<8x16xbf16>, %[[V:[a-z0-9]+]]: tensor<8x16xbf16>,
// CHECK-NOT:  linalg.generic
// CHECK:      %[[SUMS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[G]] : tensor<8x16xbf16>)
// CHECK-NOT:  linalg.generic
// CHECK:      %[[R:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:     ins(%[[G]], %[[SUMS]] : tensor<8x16xbf16>, tensor<8xf32>) outs(%[[P]], %[[V]] : tensor<8x16xbf16>, tensor<8x16xbf16>)
// CHECK:        arith.divf
// CHECK:        arith.subf
// CHECK:        linalg.yield %{{.*}}, %{{.*}} : bf16, bf16
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[R]]#0, %[[R]]#1
