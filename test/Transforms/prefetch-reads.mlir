// RUN: optim-opt %s --optim-prefetch-reads --split-input-file | FileCheck %s
// RUN: optim-opt %s --optim-prefetch-reads="distance-bytes=256" --split-input-file | FileCheck %s --check-prefix=NEAR
// RUN: optim-opt %s --optim-prefetch-reads="distance-bytes=0" --split-input-file | FileCheck %s --check-prefix=OFF
// RUN: not optim-opt %s --optim-prefetch-reads="distance-bytes=2097152" --split-input-file 2>&1 | FileCheck %s --check-prefix=RANGE

// The partial sums of a chunk's squared norm: a vector loop that only
// reads. Its one stream is prefetched 4096 bytes (1024 f32) ahead, clamped
// to the last element so that the address stays in the buffer.
func.func @squared_norm(%g: memref<?xf32, strided<[1], offset: ?>>, %n: index, %init: vector<8xf64>) -> vector<8xf64> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %pad = ub.poison : f32
  %0 = scf.for %i = %c0 to %n step %c8 iter_args(%acc = %init) -> (vector<8xf64>) {
    %v = vector.transfer_read %g[%i], %pad {in_bounds = [true]} : memref<?xf32, strided<[1], offset: ?>>, vector<8xf32>
    %w = arith.extf %v : vector<8xf32> to vector<8xf64>
    %sq = arith.mulf %w, %w : vector<8xf64>
    %sum = arith.addf %acc, %sq : vector<8xf64>
    scf.yield %sum : vector<8xf64>
  } {optim.vector_loop}
  return %0 : vector<8xf64>
}

// CHECK-LABEL: func.func @squared_norm(
// CHECK-SAME:  %[[G:[a-z0-9]+]]: memref<?xf32
// CHECK:       %[[SIZE:.*]] = memref.dim %[[G]], %{{.*}}
// CHECK:       %[[LAST:.*]] = arith.subi %[[SIZE]], %{{.*}}
// CHECK:       %[[AHEAD:.*]] = arith.constant 1024 : index
// CHECK:       scf.for %[[I:[a-z0-9]+]] =
// CHECK-NEXT:    %[[A:.*]] = arith.addi %[[I]], %[[AHEAD]] : index
// CHECK-NEXT:    %[[IDX:.*]] = arith.minsi %[[A]], %[[LAST]] : index
// CHECK-NEXT:    memref.prefetch %[[G]][%[[IDX]]], read, locality<3>, data
// CHECK-NEXT:    vector.transfer_read %[[G]][%[[I]]]
// CHECK-NOT:     memref.prefetch
// CHECK:         scf.yield

// NEAR-LABEL: func.func @squared_norm(
// NEAR:       arith.constant 64 : index
// NEAR:       memref.prefetch
// OFF-LABEL:  func.func @squared_norm(
// OFF-NOT:    memref.prefetch
// RANGE:      distance-bytes must be in [0, 1048576], got 2097152

// -----

// Two streams read from one buffer count once; a second buffer gets its
// own prefetch (a row's sum over two inputs).
func.func @two_streams(%a: memref<?xf32>, %b: memref<?xf16>, %n: index, %init: vector<8xf32>) -> vector<8xf32> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %pad = ub.poison : f32
  %padh = ub.poison : f16
  %0 = scf.for %i = %c0 to %n step %c8 iter_args(%acc = %init) -> (vector<8xf32>) {
    %v = vector.transfer_read %a[%i], %pad {in_bounds = [true]} : memref<?xf32>, vector<8xf32>
    %u = vector.load %a[%i] : memref<?xf32>, vector<8xf32>
    %h = vector.transfer_read %b[%i], %padh {in_bounds = [true]} : memref<?xf16>, vector<8xf16>
    %w = arith.extf %h : vector<8xf16> to vector<8xf32>
    %s = arith.addf %v, %u : vector<8xf32>
    %t = arith.addf %s, %w : vector<8xf32>
    %sum = arith.addf %acc, %t : vector<8xf32>
    scf.yield %sum : vector<8xf32>
  } {optim.vector_loop}
  return %0 : vector<8xf32>
}

// CHECK-LABEL: func.func @two_streams(
// CHECK-SAME:  %[[A:[a-z0-9]+]]: memref<?xf32>, %[[B:[a-z0-9]+]]: memref<?xf16>
// CHECK-DAG:   arith.constant 1024 : index
// CHECK-DAG:   arith.constant 2048 : index
// CHECK:       scf.for
// CHECK-DAG:     memref.prefetch %[[A]]
// CHECK-DAG:     memref.prefetch %[[B]]
// CHECK-NOT:     memref.prefetch
// CHECK:         scf.yield

// -----

// A loop that writes memory (an update) keeps its streams as they are; so
// does a read-only loop that is not a step's vector loop, and a read not
// indexed by the induction variable.
func.func @writes(%p: memref<?xf32>, %g: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %pad = ub.poison : f32
  scf.for %i = %c0 to %n step %c8 {
    %v = vector.transfer_read %g[%i], %pad {in_bounds = [true]} : memref<?xf32>, vector<8xf32>
    vector.transfer_write %v, %p[%i] {in_bounds = [true]} : vector<8xf32>, memref<?xf32>
  } {optim.vector_loop}
  return
}

func.func @unmarked(%g: memref<?xf32>, %n: index, %init: vector<8xf32>) -> vector<8xf32> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %pad = ub.poison : f32
  %0 = scf.for %i = %c0 to %n step %c8 iter_args(%acc = %init) -> (vector<8xf32>) {
    %v = vector.transfer_read %g[%i], %pad {in_bounds = [true]} : memref<?xf32>, vector<8xf32>
    %sum = arith.addf %acc, %v : vector<8xf32>
    scf.yield %sum : vector<8xf32>
  }
  return %0 : vector<8xf32>
}

func.func @not_streamed(%g: memref<?xf32>, %j: index, %n: index, %init: vector<8xf32>) -> vector<8xf32> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %pad = ub.poison : f32
  %0 = scf.for %i = %c0 to %n step %c8 iter_args(%acc = %init) -> (vector<8xf32>) {
    %v = vector.transfer_read %g[%j], %pad {in_bounds = [true]} : memref<?xf32>, vector<8xf32>
    %sum = arith.addf %acc, %v : vector<8xf32>
    scf.yield %sum : vector<8xf32>
  } {optim.vector_loop}
  return %0 : vector<8xf32>
}

// CHECK-LABEL: func.func @writes(
// CHECK-NOT:   memref.prefetch
// CHECK-LABEL: func.func @unmarked(
// CHECK-NOT:   memref.prefetch
// CHECK-LABEL: func.func @not_streamed(
// CHECK-NOT:   memref.prefetch
// CHECK:       return
