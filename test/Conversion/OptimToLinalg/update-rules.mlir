// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file | FileCheck %s

// With momentum: accum = grad at step 1, else momentum * accum +
// (1 - dampening) * grad. Without (momentum == 0): plain SGD, accum kept.
func.func @sgd(%p: tensor<8x4xf32>, %g: tensor<8x4xf32>, %a: tensor<8x4xf32>, %lr: f32, %mu: f32, %d: f32, %t: i64) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %p1, %a1 = optim.sgd_update %p, %g, [%a] lr %lr momentum %mu dampening %d step %t : tensor<8x4xf32>
  return %p1, %a1 : tensor<8x4xf32>, tensor<8x4xf32>
}

// CHECK-DAG: #[[ID2:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @sgd(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<8x4xf32>, %[[G:[a-z0-9]+]]: tensor<8x4xf32>, %[[A:[a-z0-9]+]]: tensor<8x4xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32, %[[D:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK:      %[[OMD:.*]] = arith.subf %{{.*}}, %[[D]] : f32
// CHECK:      %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-NEXT: %[[FIRST:.*]] = arith.cmpi eq, %[[T]], %[[ONE]] : i64
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[HASMU:.*]] = arith.cmpf ogt, %[[MU]], %[[ZERO]] : f32
// CHECK-NEXT: %[[R:.*]]:2 = linalg.generic {indexing_maps = [#[[ID2]], #[[ID2]], #[[ID2]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:     ins(%[[G]] : tensor<8x4xf32>) outs(%[[P]], %[[A]] : tensor<8x4xf32>, tensor<8x4xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[MU]], %[[a]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[OMD]], %[[g]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.select %[[FIRST]], %[[g]], %[[X2]] : f32
// CHECK-NEXT:   %[[ACC:.*]] = arith.select %[[HASMU]], %[[X3]], %[[a]] : f32
// CHECK-NEXT:   %[[DIR:.*]] = arith.select %[[HASMU]], %[[ACC]], %[[g]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.mulf %[[LR]], %[[DIR]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[ACC]] : f32, f32
// CHECK:      return %[[R]]#0, %[[R]]#1

// -----

func.func @sgd_nesterov(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32, %mu: f32, %d: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %a1 = optim.sgd_update %p, %g, [%a] lr %lr momentum %mu dampening %d step %t {nesterov} : tensor<16xf32>
  return %p1, %a1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @sgd_nesterov(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32, %{{.*}}: f32, %{{.*}}: i64)
// CHECK:      linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32):
// CHECK:        %[[X0:.*]] = arith.select %{{.*}}, %[[g]], %{{.*}} : f32
// CHECK-NEXT:   %[[ACC:.*]] = arith.select %[[HASMU:.*]], %[[X0]], %[[a]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[MU]], %[[ACC]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.addf %[[g]], %[[X1]] : f32
// CHECK-NEXT:   %[[DIR:.*]] = arith.select %[[HASMU]], %[[X2]], %[[g]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.mulf %[[LR]], %[[DIR]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[ACC]] : f32, f32

// -----

func.func @momentum(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %mu: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu : tensor<16xf32>
  return %p1, %v1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @momentum(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<16xf32>, %[[G:[a-z0-9]+]]: tensor<16xf32>, %[[V:[a-z0-9]+]]: tensor<16xf32>, %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32)
// CHECK-NEXT: %[[R:.*]]:2 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[ID]]], iterator_types = ["parallel"]}
// CHECK-SAME:     ins(%[[G]] : tensor<16xf32>) outs(%[[P]], %[[V]] : tensor<16xf32>, tensor<16xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[MU]], %[[v]] : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.addf %[[X0]], %[[g]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.mulf %[[LR]], %[[NV]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NV]] : f32, f32
// CHECK:      return %[[R]]#0, %[[R]]#1

// -----

func.func @momentum_nesterov(%p: tensor<16xf32>, %g: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %mu: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu {use_nesterov} : tensor<16xf32>
  return %p1, %v1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @momentum_nesterov(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32)
// CHECK:      ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[MU]], %[[v]] : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.addf %[[X0]], %[[g]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[MU]], %[[NV]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.addf %[[g]], %[[X1]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.mulf %[[LR]], %[[X2]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NV]] : f32, f32

// -----

func.func @adam(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  return %p1, %m1, %v1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @adam(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<16xf32>, %[[G:[a-z0-9]+]]: tensor<16xf32>, %[[M:[a-z0-9]+]]: tensor<16xf32>, %[[V:[a-z0-9]+]]: tensor<16xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// Bias correction, once, outside the loop: lr * sqrt(1 - b2^t) / (1 - b1^t).
// CHECK:      %[[OMB1:.*]] = arith.subf %{{.*}}, %[[B1]] : f32
// CHECK:      %[[OMB2:.*]] = arith.subf %{{.*}}, %[[B2]] : f32
// CHECK-NEXT: %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f32
// CHECK-NEXT: %[[B2T:.*]] = math.powf %[[B2]], %[[TF]] : f32
// CHECK:      %[[C2:.*]] = arith.subf %{{.*}}, %[[B2T]] : f32
// CHECK-NEXT: %[[SC2:.*]] = math.sqrt %[[C2]] : f32
// CHECK-NEXT: %[[B1T:.*]] = math.powf %[[B1]], %[[TF]] : f32
// CHECK:      %[[C1:.*]] = arith.subf %{{.*}}, %[[B1T]] : f32
// CHECK-NEXT: %[[X:.*]] = arith.mulf %[[LR]], %[[SC2]] : f32
// CHECK-NEXT: %[[LRT:.*]] = arith.divf %[[X]], %[[C1]] : f32
// CHECK-NEXT: %[[R:.*]]:3 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[ID]], #[[ID]]], iterator_types = ["parallel"]}
// CHECK-SAME:     ins(%[[G]] : tensor<16xf32>) outs(%[[P]], %[[M]], %[[V]] : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[B1]], %[[m]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[OMB1]], %[[g]] : f32
// CHECK-NEXT:   %[[NM:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.mulf %[[B2]], %[[v]] : f32
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.mulf %[[OMB2]], %[[G2]] : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.addf %[[X2]], %[[X3]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[NV]] : f32
// CHECK-NEXT:   %[[DEN:.*]] = arith.addf %[[SQ]], %[[EPS]] : f32
// CHECK-NEXT:   %[[NUM:.*]] = arith.mulf %[[LRT]], %[[NM]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.divf %[[NUM]], %[[DEN]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NM]], %[[NV]] : f32, f32, f32
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[R]]#0, %[[R]]#1, %[[R]]#2

// -----

func.func @adam_nesterov(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_nesterov} : tensor<16xf32>
  return %p1, %m1, %v1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adam_nesterov(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK:      %[[OMB1:.*]] = arith.subf %{{.*}}, %[[B1]] : f32
// CHECK:      %[[LRT:.*]] = arith.divf
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK:        %[[NM:.*]] = arith.addf
// CHECK:        %[[NV:.*]] = arith.addf
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[B1]], %[[NM]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[OMB1]], %[[g]] : f32
// CHECK-NEXT:   %[[NUM0:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[NV]] : f32
// CHECK-NEXT:   %[[DEN:.*]] = arith.addf %[[SQ]], %[[EPS]] : f32
// CHECK-NEXT:   %[[NUM:.*]] = arith.mulf %[[LRT]], %[[NUM0]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.divf %[[NUM]], %[[DEN]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NM]], %[[NV]] : f32, f32, f32

// -----

// amsgrad: vhat = max(vhat, v) replaces v in the denominator; like
// MindSpore's ApplyAdamWithAmsgrad it has no Nesterov form.
func.func @adam_nesterov_amsgrad(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %vhat: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %m1, %v1, %h1 = optim.adam_update %p, %g, [%m, %v, %vhat] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_nesterov, use_amsgrad} : tensor<16xf32>
  return %p1, %m1, %v1, %h1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adam_nesterov_amsgrad(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<16xf32>, %[[G:[a-z0-9]+]]: tensor<16xf32>, %[[M:[a-z0-9]+]]: tensor<16xf32>, %[[V:[a-z0-9]+]]: tensor<16xf32>, %[[VHAT:[a-z0-9]+]]: tensor<16xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK:      %[[LRT:.*]] = arith.divf
// CHECK-NEXT: %[[R:.*]]:4 = linalg.generic
// CHECK-SAME:     ins(%[[G]] : tensor<16xf32>) outs(%[[P]], %[[M]], %[[V]], %[[VHAT]] :
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32, %[[vhat:[a-z0-9_]+]]: f32):
// CHECK:        %[[NM:.*]] = arith.addf
// CHECK:        %[[NV:.*]] = arith.addf
// CHECK-NEXT:   %[[NVHAT:.*]] = arith.maximumf %[[vhat]], %[[NV]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[NVHAT]] : f32
// CHECK-NEXT:   %[[DEN:.*]] = arith.addf %[[SQ]], %[[EPS]] : f32
// CHECK-NEXT:   %[[NUM:.*]] = arith.mulf %[[LRT]], %[[NM]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.divf %[[NUM]], %[[DEN]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NM]], %[[NV]], %[[NVHAT]] : f32, f32, f32, f32

// -----

func.func @adam_weight_decay(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %wd: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %m1, %v1 = optim.adam_weight_decay_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd : tensor<16xf32>
  return %p1, %m1, %v1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adam_weight_decay(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[WD:[a-z0-9]+]]: f32)
// No bias correction: no powf.
// CHECK-NOT:  math.powf
// CHECK:      linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK:        %[[NM:.*]] = arith.addf
// CHECK:        %[[NV:.*]] = arith.addf
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[NV]] : f32
// CHECK-NEXT:   %[[DEN:.*]] = arith.addf %[[SQ]], %[[EPS]] : f32
// CHECK-NEXT:   %[[ADAM:.*]] = arith.divf %[[NM]], %[[DEN]] : f32
// CHECK-NEXT:   %[[DEC:.*]] = arith.mulf %[[WD]], %[[p]] : f32
// CHECK-NEXT:   %[[U:.*]] = arith.addf %[[ADAM]], %[[DEC]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.mulf %[[LR]], %[[U]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NM]], %[[NV]] : f32, f32, f32

// -----

func.func @adagrad(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %a1 = optim.adagrad_update %p, %g, [%a] lr %lr {update_slots} : tensor<16xf32>
  return %p1, %a1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adagrad(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32)
// CHECK:      ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[NA:.*]] = arith.addf %[[a]], %[[G2]] : f32
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[LR]], %[[g]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[NA]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.divf %[[X0]], %[[SQ]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NA]] : f32, f32

// -----

func.func @adagrad_fixed_slots(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %a1 = optim.adagrad_update %p, %g, [%a] lr %lr : tensor<16xf32>
  return %p1, %a1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adagrad_fixed_slots(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32)
// CHECK:      ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[LR]], %[[g]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[a]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.divf %[[X0]], %[[SQ]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[a]] : f32, f32

// -----

func.func @rmsprop(%p: tensor<16xf32>, %g: tensor<16xf32>, %s: tensor<16xf32>, %mom: tensor<16xf32>, %lr: f32, %d: f32, %mu: f32, %e: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %s1, %m1 = optim.rmsprop_update %p, %g, [%s, %mom] lr %lr decay %d momentum %mu epsilon %e : tensor<16xf32>
  return %p1, %s1, %m1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @rmsprop(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<16xf32>, %[[G:[a-z0-9]+]]: tensor<16xf32>, %[[MS:[a-z0-9]+]]: tensor<16xf32>, %[[MOM:[a-z0-9]+]]: tensor<16xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[DECAY:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32)
// CHECK:      %[[OMD:.*]] = arith.subf %{{.*}}, %[[DECAY]] : f32
// CHECK-NEXT: %[[R:.*]]:3 = linalg.generic
// CHECK-SAME:     ins(%[[G]] : tensor<16xf32>) outs(%[[P]], %[[MS]], %[[MOM]] :
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[ms:[a-z0-9_]+]]: f32, %[[mom:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[DECAY]], %[[ms]] : f32
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[OMD]], %[[G2]] : f32
// CHECK-NEXT:   %[[NMS:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.mulf %[[LR]], %[[g]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.addf %[[NMS]], %[[EPS]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[X3]] : f32
// CHECK-NEXT:   %[[X4:.*]] = arith.divf %[[X2]], %[[SQ]] : f32
// CHECK-NEXT:   %[[X5:.*]] = arith.mulf %[[MU]], %[[mom]] : f32
// CHECK-NEXT:   %[[NMOM:.*]] = arith.addf %[[X5]], %[[X4]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[NMOM]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NMS]], %[[NMOM]] : f32, f32, f32

// -----

func.func @rmsprop_centered(%p: tensor<16xf32>, %g: tensor<16xf32>, %mg: tensor<16xf32>, %s: tensor<16xf32>, %mom: tensor<16xf32>, %lr: f32, %d: f32, %mu: f32, %e: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %g1, %s1, %m1 = optim.rmsprop_update %p, %g, [%mg, %s, %mom] lr %lr decay %d momentum %mu epsilon %e {centered} : tensor<16xf32>
  return %p1, %g1, %s1, %m1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @rmsprop_centered(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<16xf32>, %[[G:[a-z0-9]+]]: tensor<16xf32>, %[[MG:[a-z0-9]+]]: tensor<16xf32>, %[[MS:[a-z0-9]+]]: tensor<16xf32>, %[[MOM:[a-z0-9]+]]: tensor<16xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[DECAY:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32)
// CHECK:      %[[OMD:.*]] = arith.subf %{{.*}}, %[[DECAY]] : f32
// CHECK-NEXT: %[[R:.*]]:4 = linalg.generic
// CHECK-SAME:     ins(%[[G]] : tensor<16xf32>) outs(%[[P]], %[[MG]], %[[MS]], %[[MOM]] :
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[mg:[a-z0-9_]+]]: f32, %[[ms:[a-z0-9_]+]]: f32, %[[mom:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[DECAY]], %[[ms]] : f32
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[OMD]], %[[G2]] : f32
// CHECK-NEXT:   %[[NMS:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.mulf %[[DECAY]], %[[mg]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.mulf %[[OMD]], %[[g]] : f32
// CHECK-NEXT:   %[[NMG:.*]] = arith.addf %[[X2]], %[[X3]] : f32
// CHECK-NEXT:   %[[MG2:.*]] = arith.mulf %[[NMG]], %[[NMG]] : f32
// CHECK-NEXT:   %[[VAR:.*]] = arith.subf %[[NMS]], %[[MG2]] : f32
// CHECK-NEXT:   %[[X4:.*]] = arith.mulf %[[LR]], %[[g]] : f32
// CHECK-NEXT:   %[[X5:.*]] = arith.addf %[[VAR]], %[[EPS]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[X5]] : f32
// CHECK-NEXT:   %[[X6:.*]] = arith.divf %[[X4]], %[[SQ]] : f32
// CHECK-NEXT:   %[[X7:.*]] = arith.mulf %[[MU]], %[[mom]] : f32
// CHECK-NEXT:   %[[NMOM:.*]] = arith.addf %[[X7]], %[[X6]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[NMOM]] : f32
// An element whose ms - mg^2 + eps <= 0 keeps its moment and parameter.
// CHECK-NEXT:   %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:   %[[OK:.*]] = arith.cmpf ogt, %[[X5]], %[[ZERO]] : f32
// CHECK-NEXT:   %[[KMOM:.*]] = arith.select %[[OK]], %[[NMOM]], %[[mom]] : f32
// CHECK-NEXT:   %[[KP:.*]] = arith.select %[[OK]], %[[NP]], %[[p]] : f32
// CHECK-NEXT:   linalg.yield %[[KP]], %[[NMG]], %[[NMS]], %[[KMOM]] : f32, f32, f32, f32

// -----

func.func @ftrl(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %l: tensor<16xf32>, %lr: f32, %pw: f32, %x: f32, %y: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %a1, %l1 = optim.ftrl_update %p, %g, [%a, %l] lr %lr lr_power %pw l1 %x l2 %y : tensor<16xf32>
  return %p1, %a1, %l1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @ftrl(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[PW:[a-z0-9]+]]: f32, %[[L1:[a-z0-9]+]]: f32, %[[L2:[a-z0-9]+]]: f32)
// CHECK:      %[[NPW:.*]] = arith.negf %[[PW]] : f32
// CHECK-NEXT: %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-NEXT: %[[TWOL2:.*]] = arith.mulf %[[TWO]], %[[L2]] : f32
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32, %[[lin:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[NA:.*]] = arith.addf %[[a]], %[[G2]] : f32
// CHECK-NEXT:   %[[NEWPOW:.*]] = math.powf %[[NA]], %[[NPW]] : f32
// CHECK-NEXT:   %[[OLDPOW:.*]] = math.powf %[[a]], %[[NPW]] : f32
// CHECK-NEXT:   %[[X0:.*]] = arith.subf %[[NEWPOW]], %[[OLDPOW]] : f32
// CHECK-NEXT:   %[[SIGMA:.*]] = arith.divf %[[X0]], %[[LR]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[SIGMA]], %[[p]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.subf %[[g]], %[[X1]] : f32
// CHECK-NEXT:   %[[NLIN:.*]] = arith.addf %[[lin]], %[[X2]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.divf %[[NEWPOW]], %[[LR]] : f32
// CHECK-NEXT:   %[[QUAD:.*]] = arith.addf %[[X3]], %[[TWOL2]] : f32
// CHECK-NEXT:   %[[SL1:.*]] = math.copysign %[[L1]], %[[NLIN]] : f32
// CHECK-NEXT:   %[[X4:.*]] = arith.subf %[[SL1]], %[[NLIN]] : f32
// CHECK-NEXT:   %[[SHRUNK:.*]] = arith.divf %[[X4]], %[[QUAD]] : f32
// CHECK-NEXT:   %[[ABS:.*]] = math.absf %[[NLIN]] : f32
// CHECK-NEXT:   %[[ACTIVE:.*]] = arith.cmpf ogt, %[[ABS]], %[[L1]] : f32
// CHECK-NEXT:   %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.select %[[ACTIVE]], %[[SHRUNK]], %[[ZERO]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NA]], %[[NLIN]] : f32, f32, f32

// -----

func.func @proximal_adagrad(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %lr: f32, %x: f32, %y: f32) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %a1 = optim.proximal_adagrad_update %p, %g, [%a] lr %lr l1 %x l2 %y : tensor<16xf32>
  return %p1, %a1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @proximal_adagrad(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[L1:[a-z0-9]+]]: f32, %[[L2:[a-z0-9]+]]: f32)
// CHECK:      %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[NA:.*]] = arith.addf %[[a]], %[[G2]] : f32
// CHECK-NEXT:   %[[SQ:.*]] = math.sqrt %[[NA]] : f32
// CHECK-NEXT:   %[[LRT:.*]] = arith.divf %[[LR]], %[[SQ]] : f32
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[g]], %[[LRT]] : f32
// CHECK-NEXT:   %[[PV:.*]] = arith.subf %[[p]], %[[X0]] : f32
// CHECK-NEXT:   %[[ABS:.*]] = math.absf %[[PV]] : f32
// CHECK-NEXT:   %[[LRTL1:.*]] = arith.mulf %[[LRT]], %[[L1]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.subf %[[ABS]], %[[LRTL1]] : f32
// CHECK-NEXT:   %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:   %[[MAG:.*]] = arith.maximumf %[[X2]], %[[ZERO]] : f32
// CHECK-NEXT:   %[[L2LRT:.*]] = arith.mulf %[[L2]], %[[LRT]] : f32
// CHECK-NEXT:   %[[DEN:.*]] = arith.addf %[[ONE]], %[[L2LRT]] : f32
// CHECK-NEXT:   %[[SIGNED:.*]] = math.copysign %[[MAG]], %[[PV]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.divf %[[SIGNED]], %[[DEN]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NA]] : f32, f32

// -----

func.func @adamax(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %m1, %v1 = optim.adamax_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
  return %p1, %m1, %v1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adamax(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK:      %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f32
// CHECK-NEXT: %[[B1T:.*]] = math.powf %[[B1]], %[[TF]] : f32
// CHECK:      %[[C1:.*]] = arith.subf %{{.*}}, %[[B1T]] : f32
// CHECK-NEXT: %[[LRT:.*]] = arith.divf %[[LR]], %[[C1]] : f32
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK:        %[[NM:.*]] = arith.addf
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[B2]], %[[v]] : f32
// CHECK-NEXT:   %[[ABS:.*]] = math.absf %[[g]] : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.maximumf %[[X0]], %[[ABS]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[LRT]], %[[NM]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.addf %[[NV]], %[[EPS]] : f32
// CHECK-NEXT:   %[[STEP:.*]] = arith.divf %[[X1]], %[[X2]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NM]], %[[NV]] : f32, f32, f32

// -----

func.func @adadelta(%p: tensor<16xf32>, %g: tensor<16xf32>, %a: tensor<16xf32>, %u: tensor<16xf32>, %lr: f32, %rho: f32, %e: f32) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %a1, %u1 = optim.adadelta_update %p, %g, [%a, %u] lr %lr rho %rho epsilon %e : tensor<16xf32>
  return %p1, %a1, %u1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @adadelta(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[RHO:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32)
// CHECK:      %[[OMR:.*]] = arith.subf %{{.*}}, %[[RHO]] : f32
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[a:[a-z0-9_]+]]: f32, %[[au:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[RHO]], %[[a]] : f32
// CHECK-NEXT:   %[[G2:.*]] = arith.mulf %[[g]], %[[g]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[OMR]], %[[G2]] : f32
// CHECK-NEXT:   %[[NA:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:   %[[X2:.*]] = arith.addf %[[au]], %[[EPS]] : f32
// CHECK-NEXT:   %[[S0:.*]] = math.sqrt %[[X2]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.addf %[[NA]], %[[EPS]] : f32
// CHECK-NEXT:   %[[S1:.*]] = math.sqrt %[[X3]] : f32
// CHECK-NEXT:   %[[RATIO:.*]] = arith.divf %[[S0]], %[[S1]] : f32
// CHECK-NEXT:   %[[U:.*]] = arith.mulf %[[RATIO]], %[[g]] : f32
// CHECK-NEXT:   %[[X4:.*]] = arith.mulf %[[RHO]], %[[au]] : f32
// CHECK-NEXT:   %[[U2:.*]] = arith.mulf %[[U]], %[[U]] : f32
// CHECK-NEXT:   %[[X5:.*]] = arith.mulf %[[OMR]], %[[U2]] : f32
// CHECK-NEXT:   %[[NAU:.*]] = arith.addf %[[X4]], %[[X5]] : f32
// CHECK-NEXT:   %[[X6:.*]] = arith.mulf %[[LR]], %[[U]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[X6]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NA]], %[[NAU]] : f32, f32, f32

// -----

func.func @asgd(%p: tensor<16xf32>, %g: tensor<16xf32>, %ax: tensor<16xf32>, %lr: f32, %lambd: f32, %alpha: f32, %t0: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>) {
  %p1, %ax1 = optim.asgd_update %p, %g, [%ax] lr %lr lambd %lambd alpha %alpha t0 %t0 step %t : tensor<16xf32>
  return %p1, %ax1 : tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @asgd(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[LAMBD:[a-z0-9]+]]: f32, %[[ALPHA:[a-z0-9]+]]: f32, %[[T0:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// eta and mu are computed once, outside the loop.
// CHECK:      %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f32
// CHECK-NEXT: %[[TM1:.*]] = arith.subf %[[TF]], %[[ONE]] : f32
// CHECK-NEXT: %[[X0:.*]] = arith.mulf %[[LAMBD]], %[[LR]] : f32
// CHECK-NEXT: %[[X1:.*]] = arith.mulf %[[X0]], %[[TM1]] : f32
// CHECK-NEXT: %[[BASE:.*]] = arith.addf %[[ONE]], %[[X1]] : f32
// CHECK-NEXT: %[[POW:.*]] = math.powf %[[BASE]], %[[ALPHA]] : f32
// CHECK-NEXT: %[[DECAYED:.*]] = arith.divf %[[LR]], %[[POW]] : f32
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: %[[FIRST:.*]] = arith.cmpi eq, %[[T]], %[[C1]] : i64
// CHECK-NEXT: %[[ETA:.*]] = arith.select %[[FIRST]], %[[LR]], %[[DECAYED]] : f32
// CHECK-NEXT: %[[X2:.*]] = arith.subf %[[TM1]], %[[T0]] : f32
// CHECK-NEXT: %[[X3:.*]] = arith.maximumf %[[ONE]], %[[X2]] : f32
// CHECK-NEXT: %[[MU:.*]] = arith.divf %[[ONE]], %[[X3]] : f32
// CHECK-NEXT: %[[MUONE:.*]] = arith.cmpf oeq, %[[MU]], %[[ONE]] : f32
// CHECK-NEXT: %[[X4:.*]] = arith.mulf %[[LAMBD]], %[[ETA]] : f32
// CHECK:      %[[KEEP:.*]] = arith.subf %{{.*}}, %[[X4]] : f32
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[ax:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[X5:.*]] = arith.mulf %[[p]], %[[KEEP]] : f32
// CHECK-NEXT:   %[[X6:.*]] = arith.mulf %[[ETA]], %[[g]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[X5]], %[[X6]] : f32
// CHECK-NEXT:   %[[X7:.*]] = arith.subf %[[NP]], %[[ax]] : f32
// CHECK-NEXT:   %[[X8:.*]] = arith.mulf %[[MU]], %[[X7]] : f32
// CHECK-NEXT:   %[[AVG:.*]] = arith.addf %[[ax]], %[[X8]] : f32
// CHECK-NEXT:   %[[NAX:.*]] = arith.select %[[MUONE]], %[[NP]], %[[AVG]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NAX]] : f32, f32

// -----

func.func @rprop(%p: tensor<16xf32>, %g: tensor<16xf32>, %prev: tensor<16xf32>, %s: tensor<16xf32>, %lr: f32, %em: f32, %ep: f32, %mn: f32, %mx: f32, %t: i64) -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %p1, %q1, %s1 = optim.rprop_update %p, %g, [%prev, %s] lr %lr etaminus %em etaplus %ep min_step %mn max_step %mx step %t : tensor<16xf32>
  return %p1, %q1, %s1 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// The step size starts at lr on the first update; every element's step size
// is clipped to [min_step, max_step] (MindSpore's Rprop).
// CHECK-LABEL: func.func @rprop(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[EM:[a-z0-9]+]]: f32, %[[EP:[a-z0-9]+]]: f32, %[[MIN:[a-z0-9]+]]: f32, %[[MAX:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK-NEXT: %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f32
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[FIRST:.*]] = arith.cmpf oeq, %[[TF]], %[[ONE]] : f32
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[prev:[a-z0-9_]+]]: f32, %[[s:[a-z0-9_]+]]: f32):
// CHECK-NEXT:   %[[S0:.*]] = arith.select %[[FIRST]], %[[LR]], %[[s]] : f32
// CHECK-NEXT:   %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:   %[[PROD:.*]] = arith.mulf %[[g]], %[[prev]] : f32
// CHECK-NEXT:   %[[GROWS:.*]] = arith.cmpf ogt, %[[PROD]], %[[ZERO]] : f32
// CHECK-NEXT:   %[[SHRINKS:.*]] = arith.cmpf olt, %[[PROD]], %[[ZERO]] : f32
// CHECK-NEXT:   %[[KEEP:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:   %[[F0:.*]] = arith.select %[[SHRINKS]], %[[EM]], %[[KEEP]] : f32
// CHECK-NEXT:   %[[F:.*]] = arith.select %[[GROWS]], %[[EP]], %[[F0]] : f32
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[S0]], %[[F]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.maximumf %[[X0]], %[[MIN]] : f32
// CHECK-NEXT:   %[[NS:.*]] = arith.minimumf %[[X1]], %[[MAX]] : f32
// CHECK-NEXT:   %[[NG:.*]] = arith.select %[[SHRINKS]], %[[ZERO]], %[[g]] : f32
// sign(g): 1, -1, or g itself (0, NaN).
// CHECK-NEXT:   %[[ZERO2:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:   %[[NEG:.*]] = arith.cmpf olt, %[[NG]], %[[ZERO2]] : f32
// CHECK-NEXT:   %[[MONE:.*]] = arith.constant -1.000000e+00 : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.select %[[NEG]], %[[MONE]], %[[NG]] : f32
// CHECK-NEXT:   %[[POS:.*]] = arith.cmpf ogt, %[[NG]], %[[ZERO2]] : f32
// CHECK-NEXT:   %[[PONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:   %[[SIGN:.*]] = arith.select %[[POS]], %[[PONE]], %[[X3]] : f32
// CHECK-NEXT:   %[[X4:.*]] = arith.mulf %[[SIGN]], %[[NS]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[p]], %[[X4]] : f32
// CHECK-NEXT:   linalg.yield %[[NP]], %[[NG]], %[[NS]] : f32, f32, f32

// -----

func.func @adam_f64(%p: tensor<?xf64>, %g: tensor<?xf64>, %m: tensor<?xf64>, %v: tensor<?xf64>, %lr: f64, %b1: f64, %b2: f64, %e: f64, %t: i64) -> (tensor<?xf64>, tensor<?xf64>, tensor<?xf64>) {
  %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t scalars(f64) : tensor<?xf64>
  return %p1, %m1, %v1 : tensor<?xf64>, tensor<?xf64>, tensor<?xf64>
}

// f64 computes natively, from f64 scalars (what the step's boundary
// passes): no conversion anywhere.
// CHECK-LABEL: func.func @adam_f64(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<?xf64>, %[[G:[a-z0-9]+]]: tensor<?xf64>, %[[M:[a-z0-9]+]]: tensor<?xf64>, %[[V:[a-z0-9]+]]: tensor<?xf64>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f64, %[[B1:[a-z0-9]+]]: f64, %[[B2:[a-z0-9]+]]: f64, %[[EPS:[a-z0-9]+]]: f64, %[[T:[a-z0-9]+]]: i64)
// CHECK-NOT:  arith.extf
// CHECK-NOT:  arith.truncf
// CHECK:      %[[TF:.*]] = arith.sitofp %[[T]] : i64 to f64
// CHECK-NEXT: math.powf %[[B2]], %[[TF]] : f64
// CHECK:      math.powf %[[B1]], %[[TF]] : f64
// CHECK:      %[[R:.*]]:3 = linalg.generic
// CHECK-SAME:     ins(%[[G]] : tensor<?xf64>) outs(%[[P]], %[[M]], %[[V]] : tensor<?xf64>, tensor<?xf64>, tensor<?xf64>)
// CHECK-NEXT: ^bb0(%{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64):
// CHECK-NOT:    arith.extf
// CHECK-NOT:    arith.truncf
// CHECK:        math.sqrt %{{.*}} : f64
// CHECK:        linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f64, f64, f64

// -----

func.func @adamw_f32_with_f64_scalars(%p: tensor<?xf32>, %g: tensor<?xf32>, %m: tensor<?xf32>, %v: tensor<?xf32>, %lr: f64, %b1: f64, %b2: f64, %e: f64, %wd: f64) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %p1, %m1, %v1 = optim.adam_weight_decay_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd scalars(f64) : tensor<?xf32>
  return %p1, %m1, %v1 : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}

// f32 elements with f64 scalars: `1 - beta2` is computed in f64 and rounded
// once, before the loop (as torch computes it on the host); the loop body
// is all f32.
// CHECK-LABEL: func.func @adamw_f32_with_f64_scalars(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f64, %[[B1:[a-z0-9]+]]: f64, %[[B2:[a-z0-9]+]]: f64, %[[EPS:[a-z0-9]+]]: f64, %[[WD:[a-z0-9]+]]: f64)
// CHECK-DAG:  %[[OMB2:.*]] = arith.subf %{{.*}}, %[[B2]] : f64
// CHECK-DAG:  %[[OMB2F:.*]] = arith.truncf %[[OMB2]] : f64 to f32
// CHECK-DAG:  %[[B2F:.*]] = arith.truncf %[[B2]] : f64 to f32
// CHECK:      linalg.generic
// CHECK-NEXT: ^bb0(%{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK-NOT:    arith.truncf
// CHECK-NOT:    f64
// CHECK:        linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32

// -----

func.func @momentum_bf16(%p: tensor<4x8xbf16>, %g: tensor<4x8xbf16>, %v: tensor<4x8xbf16>, %lr: f32, %mu: f32) -> (tensor<4x8xbf16>, tensor<4x8xbf16>) {
  %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu : tensor<4x8xbf16>
  return %p1, %v1 : tensor<4x8xbf16>, tensor<4x8xbf16>
}

// bf16 computes in f32: extend on load, truncate on store.
// CHECK-LABEL: func.func @momentum_bf16(
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[MU:[a-z0-9]+]]: f32)
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(%[[g:[a-z0-9_]+]]: bf16, %[[p:[a-z0-9_]+]]: bf16, %[[v:[a-z0-9_]+]]: bf16):
// CHECK-NEXT:   %[[G:.*]] = arith.extf %[[g]] : bf16 to f32
// CHECK-NEXT:   %[[P:.*]] = arith.extf %[[p]] : bf16 to f32
// CHECK-NEXT:   %[[V:.*]] = arith.extf %[[v]] : bf16 to f32
// CHECK-NEXT:   %[[X0:.*]] = arith.mulf %[[MU]], %[[V]] : f32
// CHECK-NEXT:   %[[NV:.*]] = arith.addf %[[X0]], %[[G]] : f32
// CHECK-NEXT:   %[[X1:.*]] = arith.mulf %[[LR]], %[[NV]] : f32
// CHECK-NEXT:   %[[NP:.*]] = arith.subf %[[P]], %[[X1]] : f32
// CHECK-NEXT:   %[[NPB:.*]] = arith.truncf %[[NP]] : f32 to bf16
// CHECK-NEXT:   %[[NVB:.*]] = arith.truncf %[[NV]] : f32 to bf16
// CHECK-NEXT:   linalg.yield %[[NPB]], %[[NVB]] : bf16, bf16

// -----

func.func @sgd_f16_scalar(%p: tensor<f16>, %g: tensor<f16>, %a: tensor<f16>, %lr: f32, %mu: f32, %d: f32, %t: i64) -> (tensor<f16>, tensor<f16>) {
  %p1, %a1 = optim.sgd_update %p, %g, [%a] lr %lr momentum %mu dampening %d step %t : tensor<f16>
  return %p1, %a1 : tensor<f16>, tensor<f16>
}

// A rank-0 parameter: a generic with no loops.
// CHECK-DAG: #[[SCALAR:.*]] = affine_map<() -> ()>
// CHECK-LABEL: func.func @sgd_f16_scalar(
// CHECK:      linalg.generic {indexing_maps = [#[[SCALAR]], #[[SCALAR]], #[[SCALAR]]], iterator_types = []}
// CHECK-NEXT: ^bb0(%{{.*}}: f16, %{{.*}}: f16, %{{.*}}: f16):
// CHECK:        arith.truncf %{{.*}} : f32 to f16
// CHECK:        linalg.yield %{{.*}}, %{{.*}} : f16, f16
