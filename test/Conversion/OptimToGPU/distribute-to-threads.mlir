// RUN: optim-opt %s --optim-distribute-to-threads --split-input-file --verify-diagnostics | FileCheck %s

// A chunk function (optim.sequential) on the threads of a block: the loop
// over whole vector tiles becomes block-stride (tile t, t + n, ...) with
// aligned 128-bit loads and stores of global memory, the last partial tile
// runs on thread 0.
func.func @elementwise(%p: memref<?xf32, strided<[1], offset: ?>>, %n: index, %main: index) attributes {optim.sequential} {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %pad = ub.poison : f32
  scf.for %i = %c0 to %main step %c4 {
    %v = vector.transfer_read %p[%i], %pad {in_bounds = [true]} : memref<?xf32, strided<[1], offset: ?>>, vector<4xf32>
    %w = arith.addf %v, %v : vector<4xf32>
    vector.transfer_write %w, %p[%i] {in_bounds = [true]} : vector<4xf32>, memref<?xf32, strided<[1], offset: ?>>
  } {optim.vector_loop}
  scf.for %i = %main to %n step %c4 {
    %x = memref.load %p[%i] : memref<?xf32, strided<[1], offset: ?>>
    memref.store %x, %p[%i] : memref<?xf32, strided<[1], offset: ?>>
  } {optim.remainder_loop}
  return
}
// CHECK-LABEL: func.func @elementwise(
// CHECK-SAME:  %[[P:.*]]: memref<?xf32, strided<[1], offset: ?>>, %[[N:.*]]: index, %[[MAIN:.*]]: index)
// CHECK:       %[[T:.*]] = gpu.thread_id x
// CHECK:       %[[B:.*]] = gpu.block_dim x
// CHECK:       %[[FIRST:.*]] = arith.cmpi eq, %[[T]], %c0
// CHECK:       %[[OFF:.*]] = arith.muli %[[T]], %c4
// CHECK:       %[[LB:.*]] = arith.addi %c0{{.*}}, %[[OFF]]
// CHECK:       %[[STEP:.*]] = arith.muli %c4{{.*}}, %[[B]]
// CHECK:       %[[G:.*]] = memref.memory_space_cast %[[P]] : memref<?xf32, strided<[1], offset: ?>> to memref<?xf32, strided<[1], offset: ?>, #gpu.address_space<global>>
// CHECK:       scf.for %[[I:.*]] = %[[LB]] to %[[MAIN]] step %[[STEP]] {
// CHECK:         vector.load %[[G]][%[[I]]] {alignment = 16 : i64} : memref<?xf32, strided<[1], offset: ?>, #gpu.address_space<global>>, vector<4xf32>
// CHECK:         vector.store {{.*}}, %[[G]][%[[I]]] {alignment = 16 : i64}
// CHECK:       scf.if %[[FIRST]] {
// CHECK-NEXT:    scf.for %{{.*}} = %[[MAIN]] to %[[N]] step %c4

// -----

// A sum: this thread's partial sum, the block's total (a tree reduction),
// then the accumulator.
func.func @sum(%v: vector<4xf32>, %acc: f32) -> f32 attributes {optim.sequential} {
  %s = vector.reduction <add>, %v, %acc : vector<4xf32> into f32
  return %s : f32
}
// CHECK-LABEL: func.func @sum(
// CHECK-SAME:  %[[V:.*]]: vector<4xf32>, %[[ACC:.*]]: f32)
// CHECK:       %[[PART:.*]] = vector.reduction <add>, %[[V]] : vector<4xf32> into f32
// CHECK:       %[[ALL:.*]] = gpu.all_reduce add %[[PART]] uniform {
// CHECK:       %[[S:.*]] = arith.addf %[[ALL]], %[[ACC]] : f32
// CHECK:       return %[[S]]

// -----

// Not a chunk function: left alone.
func.func @host(%v: vector<4xf32>) -> f32 {
  %s = vector.reduction <add>, %v : vector<4xf32> into f32
  return %s : f32
}
// CHECK-LABEL: func.func @host(
// CHECK-NOT:   gpu.
// CHECK:       vector.reduction <add>

// -----

func.func @max(%v: vector<4xf32>) -> f32 attributes {optim.sequential} {
  // expected-error @below {{only sums can be reduced across a GPU block}}
  %s = vector.reduction <maximumf>, %v : vector<4xf32> into f32
  return %s : f32
}
