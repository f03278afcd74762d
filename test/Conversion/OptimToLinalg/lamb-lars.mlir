// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file | FileCheck %s

// Lamb (MindSpore's kernel): one reduction generic for |param|^2, |grad|^2
// and |m_hat / sqrt(v_hat + eps) + wd * param|^2 (moments recomputed), the
// trust ratio as scalar code (clipped to [0, 10]), then the apply generic,
// whose direction uses sqrt(v_hat) + eps.
func.func @lamb(%p: tensor<4x?xf32>, %g: tensor<4x?xf32>, %m: tensor<4x?xf32>, %v: tensor<4x?xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %wd: f32, %t: i64) -> (tensor<4x?xf32>, tensor<4x?xf32>, tensor<4x?xf32>) {
  %p1, %m1, %v1 = optim.lamb_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t : tensor<4x?xf32>
  return %p1, %m1, %v1 : tensor<4x?xf32>, tensor<4x?xf32>, tensor<4x?xf32>
}

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ALL:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @lamb(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<4x?xf32>, %[[G:[a-z0-9]+]]: tensor<4x?xf32>, %[[M:[a-z0-9]+]]: tensor<4x?xf32>, %[[V:[a-z0-9]+]]: tensor<4x?xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[WD:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK:      %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f32
// CHECK-NEXT: %[[B1T:.*]] = math.powf %[[B1]], %[[TF]] : f32
// CHECK:      %[[BC1:.*]] = arith.subf %{{.*}}, %[[B1T]] : f32
// CHECK-NEXT: %[[B2T:.*]] = math.powf %[[B2]], %[[TF]] : f32
// CHECK:      %[[BC2:.*]] = arith.subf %{{.*}}, %[[B2T]] : f32
// CHECK:      %[[INIT0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<f32>) -> tensor<f32>
// CHECK:      %[[INIT1:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<f32>) -> tensor<f32>
// CHECK:      %[[INIT2:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %[[SUMS:.*]]:3 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[ID]], #[[ID]], #[[ALL]], #[[ALL]], #[[ALL]]], iterator_types = ["reduction", "reduction"]}
// CHECK-SAME:     ins(%[[G]], %[[P]], %[[M]], %[[V]] : {{.*}}) outs(%[[INIT0]], %[[INIT1]], %[[INIT2]] : tensor<f32>, tensor<f32>, tensor<f32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32, %[[pp:[a-z0-9_]+]]: f32, %[[gg:[a-z0-9_]+]]: f32, %[[dd:[a-z0-9_]+]]: f32):
// CHECK:        %[[NM:.*]] = arith.addf
// CHECK:        %[[NV:.*]] = arith.addf
// CHECK-NEXT:   %[[MHAT:.*]] = arith.divf %[[NM]], %[[BC1]] : f32
// CHECK-NEXT:   %[[VHAT:.*]] = arith.divf %[[NV]], %[[BC2]] : f32
// CHECK-NEXT:   %[[VE:.*]] = arith.addf %[[VHAT]], %[[EPS]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[VE]] : f32
// CHECK-NEXT:   %[[ADAM:.*]] = arith.divf %[[MHAT]], %[[SQ]] : f32
// CHECK-NEXT:   %[[DEC:.*]] = arith.mulf %[[WD]], %[[p]] : f32
// CHECK-NEXT:   %[[D:.*]] = arith.addf %[[ADAM]], %[[DEC]] : f32
// CHECK-NEXT:   %[[P2:.*]] = arith.mulf %[[p]], %[[p]] : f32
// CHECK-NEXT:   %[[SP:.*]] = arith.addf %[[pp]], %[[P2]] : f32
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[SG:.*]] = arith.addf %[[gg]], %[[G2]] : f32
// CHECK-NEXT:   %[[D2:.*]] = arith.mulf %[[D]], %[[D]] : f32
// CHECK-NEXT:   %[[SD:.*]] = arith.addf %[[dd]], %[[D2]] : f32
// CHECK-NEXT:   linalg.yield %[[SP]], %[[SG]], %[[SD]] : f32, f32, f32
// Trust ratio |param| / |direction| when |param| > 0 and |grad| > 0, else 1,
// clipped to [0, 10].
// CHECK:      %[[SUMP:.*]] = tensor.extract %[[SUMS]]#0[] : tensor<f32>
// CHECK-NEXT: %[[SUMG:.*]] = tensor.extract %[[SUMS]]#1[] : tensor<f32>
// CHECK-NEXT: %[[SUMD:.*]] = tensor.extract %[[SUMS]]#2[] : tensor<f32>
// CHECK-NEXT: %[[WN:.*]] = math.sqrt %[[SUMP]] : f32
// CHECK-NEXT: %[[GN:.*]] = math.sqrt %[[SUMG]] : f32
// CHECK-NEXT: %[[DN:.*]] = math.sqrt %[[SUMD]] : f32
// CHECK-NEXT: %[[RATIO:.*]] = arith.divf %[[WN]], %[[DN]] : f32
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[WPOS:.*]] = arith.cmpf ogt, %[[WN]], %[[ZERO]] : f32
// CHECK-NEXT: %[[GPOS:.*]] = arith.cmpf ogt, %[[GN]], %[[ZERO]] : f32
// CHECK-NEXT: %[[BOTH:.*]] = arith.andi %[[WPOS]], %[[GPOS]] : i1
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[TRUST0:.*]] = arith.select %[[BOTH]], %[[RATIO]], %[[ONE]] : f32
// CHECK-NEXT: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[TRUST1:.*]] = arith.maximumf %[[TRUST0]], %[[LO]] : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 1.000000e+01 : f32
// CHECK-NEXT: %[[TRUST:.*]] = arith.minimumf %[[TRUST1]], %[[HI]] : f32
// CHECK-NEXT: %[[LRR:.*]] = arith.mulf %[[LR]], %[[TRUST]] : f32
// CHECK-NEXT: %[[R:.*]]:3 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:     ins(%[[G]] : tensor<4x?xf32>) outs(%[[P]], %[[M]], %[[V]] : tensor<4x?xf32>, tensor<4x?xf32>, tensor<4x?xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK:        %[[NM:.*]] = arith.addf
// CHECK:        %[[NV:.*]] = arith.addf
// CHECK:        %[[DEC:.*]] = arith.mulf %[[WD]], %[[p]] : f32
// CHECK-NEXT:   %[[U:.*]] = arith.addf %{{.*}}, %[[DEC]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.mulf %[[LRR]], %[[U]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NM]], %[[NV]] : f32, f32, f32
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[R]]#0, %[[R]]#1, %[[R]]#2

// -----

// LARS: the reduction reads only param and grad.
func.func @lars(%p: tensor<8x3xf32>, %g: tensor<8x3xf32>, %v: tensor<8x3xf32>, %lr: f32, %mu: f32, %e: f32, %c: f32, %wd: f32) -> (tensor<8x3xf32>, tensor<8x3xf32>) {
  %p1, %v1 = optim.lars_update %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd : tensor<8x3xf32>
  return %p1, %v1 : tensor<8x3xf32>, tensor<8x3xf32>
}

// CHECK-LABEL: func.func @lars(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<8x3xf32>, %[[G:[a-z0-9]+]]: tensor<8x3xf32>, %[[V:[a-z0-9]+]]: tensor<8x3xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[COEF:[a-z0-9]+]]: f32, %[[WD:[a-z0-9]+]]: f32)
// CHECK:      %[[SUMS:.*]]:2 = linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]}
// CHECK-SAME:     ins(%[[G]], %[[P]] : tensor<8x3xf32>, tensor<8x3xf32>) outs(%{{.*}}, %{{.*}} : tensor<f32>, tensor<f32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[pp:[a-z0-9_]+]]: f32, %[[gg:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[P2:.*]] = arith.mulf %[[p]], %[[p]] : f32
// CHECK-NEXT:   %[[SP:.*]] = arith.addf %[[pp]], %[[P2]] : f32
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[SG:.*]] = arith.addf %[[gg]], %[[G2]] : f32
// CHECK-NEXT:   linalg.yield %[[SP]], %[[SG]] : f32, f32
// coefficient * w / (n + weight_decay * w + epsilon), 1 when a norm is 0.
// CHECK:      %[[W:.*]] = math.sqrt %{{.*}} : f32
// CHECK-NEXT: %[[N:.*]] = math.sqrt %{{.*}} : f32
// CHECK-NEXT: %[[X0:.*]] = arith.mulf %[[WD]], %[[W]] : f32
// CHECK-NEXT: %[[X1:.*]] = arith.addf %[[N]], %[[X0]] : f32
// CHECK-NEXT: %[[DEN:.*]] = arith.addf %[[X1]], %[[EPS]] : f32
// CHECK-NEXT: %[[X2:.*]] = arith.mulf %[[COEF]], %[[W]] : f32
// CHECK-NEXT: %[[RAW:.*]] = arith.divf %[[X2]], %[[DEN]] : f32
// CHECK:      %[[RATIO:.*]] = arith.select %{{.*}}, %[[RAW]], %{{.*}} : f32
// CHECK-NEXT: %[[R:.*]]:2 = linalg.generic
// CHECK-SAME:     ins(%[[G]] : tensor<8x3xf32>) outs(%[[P]], %[[V]] : tensor<8x3xf32>, tensor<8x3xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X3:.*]] = arith.mulf %[[WD]], %[[p]] : f32
// CHECK-NEXT:   %[[X4:.*]] = arith.addf %[[g]], %[[X3]] : f32
// CHECK-NEXT:   %[[SG:.*]] = arith.mulf %[[RATIO]], %[[X4]] : f32
// CHECK-NEXT:   %[[X5:.*]] = arith.mulf %[[MU]], %[[v]] : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.addf %[[X5]], %[[SG]] : f32
// CHECK-NEXT:   %[[X6:.*]] = arith.mulf %[[LR]], %[[NV]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[X6]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NV]] : f32, f32
// CHECK:      return %[[R]]#0, %[[R]]#1

// -----

func.func @lars_nesterov_f16(%p: tensor<16xf16>, %g: tensor<16xf16>, %v: tensor<16xf16>, %lr: f32, %mu: f32, %e: f32, %c: f32, %wd: f32) -> (tensor<16xf16>, tensor<16xf16>) {
  %p1, %v1 = optim.lars_update %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd {use_nesterov} : tensor<16xf16>
  return %p1, %v1 : tensor<16xf16>, tensor<16xf16>
}

// f16: both the norms and the update run in f32.
// CHECK-LABEL: func.func @lars_nesterov_f16(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32)
// CHECK:      linalg.generic
// CHECK-NEXT: ^bb0(%{{.*}}: f16, %{{.*}}: f16, %{{.*}}: f32, %{{.*}}: f32):
// CHECK:      %[[RATIO:.*]] = arith.select
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f16, %[[p:[a-z0-9_]+]]: f16, %[[v:[a-z0-9_]+]]: f16):
// CHECK:        %[[SG:.*]] = arith.mulf %[[RATIO]], %{{.*}} : f32
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[MU]], %{{.*}} : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.addf %[[X0]], %[[SG]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[MU]], %[[NV]] : f32
// CHECK-NEXT:   %[[DIR:.*]] = arith.addf %[[SG]], %[[X1]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.mulf %[[LR]], %[[DIR]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %{{.*}}, %[[X2]] : f32
// CHECK-NEXT:   %[[NPH:.*]] = arith.truncf %[[NP]] : f32 to f16
// CHECK-NEXT:   %[[NVH:.*]] = arith.truncf %[[NV]] : f32 to f16
// CHECK-NEXT:   linalg.yield %[[NPH]], %[[NVH]] : f16, f16
