// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file | FileCheck %s

func.func @unique(%idx: tensor<6xi32>, %rows: tensor<6x8xbf16>) -> (tensor<?xi32>, tensor<?x8xbf16>) {
  %i, %v = optim.unique %idx, %rows : tensor<6xi32>, tensor<6x8xbf16> -> tensor<?xi32>, tensor<?x8xbf16>
  return %i, %v : tensor<?xi32>, tensor<?x8xbf16>
}

// unique: a loop over the indices carrying the distinct indices, the merged
// rows and their count; a linear search finds each index's slot; the rows of
// one slot are summed (in f32 for bf16); the results are the first `count`
// rows.
// CHECK-LABEL: func.func @unique(
// CHECK-SAME: %[[IDX:[a-z0-9]+]]: tensor<6xi32>, %[[ROWS:[a-z0-9]+]]: tensor<6x8xbf16>)
// CHECK-DAG:  %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:  %[[C1:.*]] = arith.constant 1 : index
// CHECK:      %[[N:.*]] = tensor.dim %[[IDX]], %{{.*}} : tensor<6xi32>
// CHECK-NEXT: %[[DISTINCT0:.*]] = tensor.empty() : tensor<6xi32>
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<6x8xbf16>
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK-NEXT: %[[MERGED0:.*]] = linalg.fill ins(%[[ZERO]] : bf16) outs(%[[E]] : tensor<6x8xbf16>) -> tensor<6x8xbf16>
// CHECK-NEXT: %[[LOOP:.*]]:3 = scf.for %[[I:.*]] = %[[C0]] to %[[N]] step %[[C1]]
// CHECK-SAME:     iter_args(%[[DISTINCT:.*]] = %[[DISTINCT0]], %[[MERGED:.*]] = %[[MERGED0]], %[[COUNT:.*]] = %[[C0]]) -> (tensor<6xi32>, tensor<6x8xbf16>, index) {
// CHECK-NEXT:   %[[INDEX:.*]] = tensor.extract %[[IDX]][%[[I]]] : tensor<6xi32>
// CHECK-NEXT:   %[[SLOT:.*]] = scf.for %[[J:.*]] = %[[C0]] to %[[COUNT]] step %[[C1]] iter_args(%[[FOUND:.*]] = %[[COUNT]]) -> (index) {
// CHECK-NEXT:     %[[SEEN:.*]] = tensor.extract %[[DISTINCT]][%[[J]]] : tensor<6xi32>
// CHECK-NEXT:     %[[MATCH:.*]] = arith.cmpi eq, %[[SEEN]], %[[INDEX]] : i32
// CHECK-NEXT:     %[[SEL:.*]] = arith.select %[[MATCH]], %[[J]], %[[FOUND]] : index
// CHECK-NEXT:     scf.yield %[[SEL]] : index
// CHECK-NEXT:   }
// CHECK-NEXT:   %[[NEW:.*]] = arith.cmpi eq, %[[SLOT]], %[[COUNT]] : index
// CHECK-NEXT:   %[[INC:.*]] = arith.addi %[[COUNT]], %[[C1]] : index
// CHECK-NEXT:   %[[NCOUNT:.*]] = arith.select %[[NEW]], %[[INC]], %[[COUNT]] : index
// CHECK-NEXT:   %[[NDISTINCT:.*]] = tensor.insert %[[INDEX]] into %[[DISTINCT]][%[[SLOT]]] : tensor<6xi32>
// CHECK-NEXT:   %[[ROW:.*]] = tensor.extract_slice %[[ROWS]][%[[I]], 0] [1, 8] [1, 1] : tensor<6x8xbf16> to tensor<1x8xbf16>
// CHECK-NEXT:   %[[ACC:.*]] = tensor.extract_slice %[[MERGED]][%[[SLOT]], 0] [1, 8] [1, 1] : tensor<6x8xbf16> to tensor<1x8xbf16>
// CHECK-NEXT:   %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[ROW]] : tensor<1x8xbf16>) outs(%[[ACC]] : tensor<1x8xbf16>)
// CHECK-NEXT:   ^bb0(%[[r:[a-z0-9_]+]]: bf16, %[[a:[a-z0-9_]+]]: bf16):
// CHECK-NEXT:     %[[R:.*]] = arith.extf %[[r]] : bf16 to f32
// CHECK-NEXT:     %[[A:.*]] = arith.extf %[[a]] : bf16 to f32
// CHECK-NEXT:     %[[S:.*]] = arith.addf %[[A]], %[[R]] : f32
// CHECK-NEXT:     %[[SB:.*]] = arith.truncf %[[S]] : f32 to bf16
// CHECK-NEXT:     linalg.yield %[[SB]] : bf16
// CHECK:        %[[NMERGED:.*]] = tensor.insert_slice %[[SUM]] into %[[MERGED]][%[[SLOT]], 0] [1, 8] [1, 1] : tensor<1x8xbf16> into tensor<6x8xbf16>
// CHECK-NEXT:   scf.yield %[[NDISTINCT]], %[[NMERGED]], %[[NCOUNT]] : tensor<6xi32>, tensor<6x8xbf16>, index
// CHECK-NEXT: }
// CHECK-NEXT: %[[UI:.*]] = tensor.extract_slice %[[LOOP]]#0[0] [%[[LOOP]]#2] [1] : tensor<6xi32> to tensor<?xi32>
// CHECK-NEXT: %[[UV:.*]] = tensor.extract_slice %[[LOOP]]#1[0, 0] [%[[LOOP]]#2, 8] [1, 1] : tensor<6x8xbf16> to tensor<?x8xbf16>
// CHECK-NEXT: return %[[UI]], %[[UV]] : tensor<?xi32>, tensor<?x8xbf16>

// -----

func.func @unique_dynamic(%idx: tensor<?xi64>, %rows: tensor<?x4x?xf32>) -> (tensor<?xi64>, tensor<?x4x?xf32>) {
  %i, %v = optim.unique %idx, %rows : tensor<?xi64>, tensor<?x4x?xf32> -> tensor<?xi64>, tensor<?x4x?xf32>
  return %i, %v : tensor<?xi64>, tensor<?x4x?xf32>
}

// CHECK-LABEL: func.func @unique_dynamic(
// CHECK-SAME: %[[IDX:[a-z0-9]+]]: tensor<?xi64>, %[[ROWS:[a-z0-9]+]]: tensor<?x4x?xf32>)
// CHECK:      %[[LOOP:.*]]:3 = scf.for
// CHECK:        arith.cmpi eq, %{{.*}}, %{{.*}} : i64
// CHECK:        tensor.extract_slice %[[ROWS]][%{{.*}}, 0, 0] [1, 4, %{{.*}}] [1, 1, 1] : tensor<?x4x?xf32> to tensor<1x4x?xf32>
// CHECK:      %[[UI:.*]] = tensor.extract_slice %[[LOOP]]#0[0] [%[[LOOP]]#2] [1] : tensor<?xi64> to tensor<?xi64>
// CHECK:      %[[D2:.*]] = tensor.dim %[[LOOP]]#1, %{{.*}} : tensor<?x4x?xf32>
// CHECK-NEXT: %[[UV:.*]] = tensor.extract_slice %[[LOOP]]#1[0, 0, 0] [%[[LOOP]]#2, 4, %[[D2]]] [1, 1, 1] : tensor<?x4x?xf32> to tensor<?x4x?xf32>
// CHECK-NEXT: return %[[UI]], %[[UV]]

// -----

func.func @lazy_adam(%p: tensor<100x8xf32>, %idx: tensor<?xi32>, %rows: tensor<?x8xf32>, %m: tensor<100x8xf32>, %v: tensor<100x8xf32>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<100x8xf32>, tensor<100x8xf32>, tensor<100x8xf32>) {
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %idx, %rows, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<?xi32>, tensor<?x8xf32>
  return %p1, %m1, %v1 : tensor<100x8xf32>, tensor<100x8xf32>, tensor<100x8xf32>
}

// lazy_adam_update: Adam's scalars once; a loop over the indices carrying
// param, m and v; rows outside [0, rows) are skipped; each named row is
// updated by Adam's elementwise generic on row slices, in place.
// CHECK-LABEL: func.func @lazy_adam(
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<100x8xf32>, %[[IDX:[a-z0-9]+]]: tensor<?xi32>, %[[ROWS:[a-z0-9]+]]: tensor<?x8xf32>, %[[M:[a-z0-9]+]]: tensor<100x8xf32>, %[[V:[a-z0-9]+]]: tensor<100x8xf32>,
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f32, %[[B1:[a-z0-9]+]]: f32, %[[B2:[a-z0-9]+]]: f32, %[[EPS:[a-z0-9]+]]: f32, %[[T:[a-z0-9]+]]: i64)
// CHECK:      math.powf %[[B2]]
// CHECK:      math.powf %[[B1]]
// CHECK:      %[[LRT:.*]] = arith.divf
// CHECK:      %[[N:.*]] = tensor.dim %[[IDX]], %{{.*}} : tensor<?xi32>
// CHECK:      %[[NROWS:.*]] = tensor.dim %[[P]], %{{.*}} : tensor<100x8xf32>
// CHECK-NEXT: %[[LOOP:.*]]:3 = scf.for %[[I:.*]] = %[[C0:.*]] to %[[N]] step %{{.*}} iter_args(%[[PA:.*]] = %[[P]], %[[MA:.*]] = %[[M]], %[[VA:.*]] = %[[V]])
// CHECK-NEXT:   %[[X:.*]] = tensor.extract %[[IDX]][%[[I]]] : tensor<?xi32>
// CHECK-NEXT:   %[[ROW:.*]] = arith.index_cast %[[X]] : i32 to index
// CHECK-NEXT:   %[[GE:.*]] = arith.cmpi sge, %[[ROW]], %[[C0]] : index
// CHECK-NEXT:   %[[LT:.*]] = arith.cmpi slt, %[[ROW]], %[[NROWS]] : index
// CHECK-NEXT:   %[[IN:.*]] = arith.andi %[[GE]], %[[LT]] : i1
// CHECK-NEXT:   %[[IF:.*]]:3 = scf.if %[[IN]] -> (tensor<100x8xf32>, tensor<100x8xf32>, tensor<100x8xf32>) {
// CHECK-NEXT:     %[[G:.*]] = tensor.extract_slice %[[ROWS]][%[[I]], 0] [1, 8] [1, 1] : tensor<?x8xf32> to tensor<1x8xf32>
// CHECK-NEXT:     %[[PR:.*]] = tensor.extract_slice %[[PA]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<100x8xf32> to tensor<1x8xf32>
// CHECK-NEXT:     %[[MR:.*]] = tensor.extract_slice %[[MA]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<100x8xf32> to tensor<1x8xf32>
// CHECK-NEXT:     %[[VR:.*]] = tensor.extract_slice %[[VA]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<100x8xf32> to tensor<1x8xf32>
// CHECK-NEXT:     %[[U:.*]]:3 = linalg.generic {{.*}} ins(%[[G]] : tensor<1x8xf32>) outs(%[[PR]], %[[MR]], %[[VR]] : tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x8xf32>)
// CHECK-NEXT:     ^bb0(%[[g:[a-z0-9_]+]]: f32, %[[p:[a-z0-9_]+]]: f32, %[[m:[a-z0-9_]+]]: f32, %[[v:[a-z0-9_]+]]: f32):
// CHECK:            %[[NM:.*]] = arith.addf
// CHECK:            %[[NV:.*]] = arith.addf
// CHECK-NEXT:       %[[SQ:.*]] = math.sqrt %[[NV]] : f32
// CHECK-NEXT:       %[[DEN:.*]] = arith.addf %[[SQ]], %[[EPS]] : f32
// CHECK-NEXT:       %[[NUM:.*]] = arith.mulf %[[LRT]], %[[NM]] : f32
// CHECK-NEXT:       %[[STEP:.*]] = arith.divf %[[NUM]], %[[DEN]] : f32
// CHECK-NEXT:       %[[NP:.*]] = arith.subf %[[p]], %[[STEP]] : f32
// CHECK-NEXT:       linalg.yield %[[NP]], %[[NM]], %[[NV]] : f32, f32, f32
// CHECK:          %[[P2:.*]] = tensor.insert_slice %[[U]]#0 into %[[PA]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<1x8xf32> into tensor<100x8xf32>
// CHECK-NEXT:     %[[M2:.*]] = tensor.insert_slice %[[U]]#1 into %[[MA]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<1x8xf32> into tensor<100x8xf32>
// CHECK-NEXT:     %[[V2:.*]] = tensor.insert_slice %[[U]]#2 into %[[VA]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<1x8xf32> into tensor<100x8xf32>
// CHECK-NEXT:     scf.yield %[[P2]], %[[M2]], %[[V2]]
// CHECK-NEXT:   } else {
// CHECK-NEXT:     scf.yield %[[PA]], %[[MA]], %[[VA]]
// CHECK-NEXT:   }
// CHECK-NEXT:   scf.yield %[[IF]]#0, %[[IF]]#1, %[[IF]]#2
// CHECK-NEXT: }
// CHECK-NEXT: return %[[LOOP]]#0, %[[LOOP]]#1, %[[LOOP]]#2

// -----

func.func @lazy_adam_nesterov_f16(%p: tensor<?xf16>, %idx: tensor<3xi64>, %rows: tensor<3xf16>, %m: tensor<?xf16>, %v: tensor<?xf16>, %lr: f32, %b1: f32, %b2: f32, %e: f32, %t: i64) -> (tensor<?xf16>, tensor<?xf16>, tensor<?xf16>) {
  %p1, %m1, %v1 = optim.lazy_adam_update %p, %idx, %rows, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t {use_nesterov} : tensor<?xf16>, tensor<3xi64>, tensor<3xf16>
  return %p1, %m1, %v1 : tensor<?xf16>, tensor<?xf16>, tensor<?xf16>
}

// CHECK-LABEL: func.func @lazy_adam_nesterov_f16(
// CHECK-SAME: %{{[a-z0-9]+}}: f32, %[[B1:[a-z0-9]+]]: f32, %{{[a-z0-9]+}}: f32, %{{[a-z0-9]+}}: f32, %{{[a-z0-9]+}}: i64)
// CHECK:      %[[OMB1:.*]] = arith.subf %{{.*}}, %[[B1]] : f32
// CHECK:      scf.for
// CHECK:        arith.index_cast %{{.*}} : i64 to index
// CHECK:        linalg.generic
// CHECK-NEXT:   ^bb0(%[[g:[a-z0-9_]+]]: f16, %{{.*}}: f16, %{{.*}}: f16, %{{.*}}: f16):
// CHECK-NEXT:     %[[G:.*]] = arith.extf %[[g]] : f16 to f32
// CHECK:          %[[NM:.*]] = arith.addf
// CHECK:          arith.addf
// CHECK-NEXT:     %[[X0:.*]] = arith.mulf %[[B1]], %[[NM]] : f32
// CHECK-NEXT:     %[[X1:.*]] = arith.mulf %[[OMB1]], %[[G]] : f32
// CHECK-NEXT:     %[[NUM:.*]] = arith.addf %[[X0]], %[[X1]] : f32
// CHECK:          linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f16, f16, f16
