// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file | FileCheck %s

// The ops of the step's reduction phase and their readers in the update
// phase, on chunks of run-time size.

// Row sums: one reduction generic over the inner dimension, in f32 for a
// bf16 input; centralization given the sums is elementwise, with the sum
// broadcast along the row and divided by the row length.
func.func @row_sums(%g: tensor<?x?xbf16>, %h: tensor<?x?xf32>, %s: tensor<?xf32>) -> (tensor<?xf32>, tensor<?x?xf32>) {
  %0 = optim.row_sum %g : tensor<?x?xbf16> -> tensor<?xf32>
  %1 = optim.centralize %h row_sums %s : tensor<?x?xf32>, tensor<?xf32>
  return %0, %1 : tensor<?xf32>, tensor<?x?xf32>
}
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @row_sums(
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<?x?xbf16>, %[[H:[a-z0-9]+]]: tensor<?x?xf32>, %[[S:[a-z0-9]+]]: tensor<?xf32>)
// CHECK:      %[[ZERO:.*]] = linalg.fill {{.*}} -> tensor<?xf32>
// CHECK:      %[[SUM:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ROW]]], iterator_types = ["parallel", "reduction"]} ins(%[[G]] : tensor<?x?xbf16>) outs(%[[ZERO]] : tensor<?xf32>)
// CHECK:        arith.extf
// CHECK:        arith.addf
// CHECK:      %[[COLS:.*]] = tensor.dim %[[H]], %c1
// CHECK:      linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[H]], %[[S]] : tensor<?x?xf32>, tensor<?xf32>)
// CHECK:        %[[MEAN:.*]] = arith.divf
// CHECK:        arith.subf %{{.*}}, %[[MEAN]]
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[SUM]]

// -----

// Lamb split into phases: lamb_norms is the sums of squares alone (no
// square roots, so that partial sums of chunks add up); lamb_update given
// `norms` takes their square roots and reduces nothing.
func.func @lamb(%p: tensor<?xf32>, %g: tensor<?xf32>, %m: tensor<?xf32>, %v: tensor<?xf32>, %x: f32, %t: i64, %n: tensor<3xf32>) -> (tensor<3xf32>, tensor<?xf32>) {
  %0 = optim.lamb_norms %p, %g, [%m, %v] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t : tensor<?xf32> -> tensor<3xf32>
  %p1, %m1, %v1 = optim.lamb_update %p, %g, [%m, %v] lr %x beta1 %x beta2 %x eps %x weight_decay %x step %t norms %n : tensor<?xf32>, tensor<3xf32>
  return %0, %p1 : tensor<3xf32>, tensor<?xf32>
}
// CHECK-LABEL: func.func @lamb(
// CHECK-SAME: %[[N:[a-z0-9]+]]: tensor<3xf32>)
// CHECK:      %[[SUMS:.*]]:3 = linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK:      %[[A:.*]] = tensor.extract %[[SUMS]]#0[]
// CHECK:      %[[B:.*]] = tensor.extract %[[SUMS]]#1[]
// CHECK:      %[[C:.*]] = tensor.extract %[[SUMS]]#2[]
// CHECK:      %[[R:.*]] = tensor.from_elements %[[A]], %[[B]], %[[C]] : tensor<3xf32>
// CHECK:      tensor.extract %[[N]][%c0{{.*}}]
// CHECK:      math.sqrt
// CHECK:      tensor.extract %[[N]][%c1{{.*}}]
// CHECK:      math.sqrt
// CHECK:      tensor.extract %[[N]][%c2{{.*}}]
// CHECK:      math.sqrt
// CHECK-NOT:  "reduction"
// CHECK:      linalg.generic {{.*}} iterator_types = ["parallel"]
// CHECK:      return %[[R]]

// -----

// LARS: two sums of squares, |param|^2 and |grad|^2.
func.func @lars(%p: tensor<?xf32>, %g: tensor<?xf32>, %m: tensor<?xf32>, %x: f32) -> tensor<2xf32> {
  %0 = optim.lars_norms %p, %g, [%m] lr %x momentum %x epsilon %x coefficient %x weight_decay %x : tensor<?xf32> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
// CHECK-LABEL: func.func @lars(
// CHECK:      %[[S:.*]]:2 = linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK:      tensor.from_elements {{.*}} : tensor<2xf32>
