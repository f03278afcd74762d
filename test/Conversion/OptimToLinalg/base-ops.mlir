// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file | FileCheck %s

func.func @learning_rate(%t: i64) -> f32 {
  %lr = optim.learning_rate #optim.warmup<learning_rate = 1.0e-01, warmup_steps = 10> at %t
  return %lr : f32
}

// -----

func.func @scale_grad(%g: tensor<4x?xf32>, %ls: f32) -> tensor<4x?xf32> {
  %0 = optim.scale_grad %g by %ls : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @scale_grad_bf16(%g: tensor<8xbf16>, %ls: f32) -> tensor<8xbf16> {
  %0 = optim.scale_grad %g by %ls : tensor<8xbf16>
  return %0 : tensor<8xbf16>
}

// -----

func.func @decay_weight(%g: tensor<64x3xf32>, %p: tensor<64x3xf32>, %wd: f32) -> tensor<64x3xf32> {
  %0 = optim.decay_weight %g, %p by %wd : tensor<64x3xf32>
  return %0 : tensor<64x3xf32>
}

// -----

func.func @decay_weight_f64(%g: tensor<5xf64>, %p: tensor<5xf64>, %wd: f32) -> tensor<5xf64> {
  %0 = optim.decay_weight %g, %p by %wd : tensor<5xf64>
  return %0 : tensor<5xf64>
}

// -----

func.func @centralize(%g: tensor<8x16x3x3xf32>) -> tensor<8x16x3x3xf32> {
  %0 = optim.centralize %g : tensor<8x16x3x3xf32>
  return %0 : tensor<8x16x3x3xf32>
}

// -----

func.func @centralize_bf16_dynamic_rows(%g: tensor<?x32x?xbf16>) -> tensor<?x32x?xbf16> {
  %0 = optim.centralize %g : tensor<?x32x?xbf16>
  return %0 : tensor<?x32x?xbf16>
}

// -----

func.func @centralize_dynamic_dim1(%g: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %0 = optim.centralize %g : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @centralize_not_applicable(%a: tensor<8x10xf32>, %b: tensor<32xf32>) -> (tensor<8x10xf32>, tensor<32xf32>) {
  %0 = optim.centralize %a : tensor<8x10xf32>
  %1 = optim.centralize %b : tensor<32xf32>
  return %0, %1 : tensor<8x10xf32>, tensor<32xf32>
}

// -----

func.func @global_norm(%a: tensor<4x4xf32>, %b: tensor<?xf64>) -> f32 {
  %n = optim.global_norm %a, %b : tensor<4x4xf32>, tensor<?xf64>
  return %n : f32
}

// -----

func.func @all_finite(%a: tensor<4x4xf32>, %b: tensor<7xf16>) -> i1 {
  %ok = optim.all_finite %a, %b : tensor<4x4xf32>, tensor<7xf16>
  return %ok : i1
}

// -----

func.func @broadcast_one_rank(%a: tensor<4xf32>, %b: tensor<2x2xf64>) -> (tensor<4xf32>, tensor<2x2xf64>) {
  %0, %1 = optim.broadcast_params %a, %b num_ranks 1 : tensor<4xf32>, tensor<2x2xf64>
  return %0, %1 : tensor<4xf32>, tensor<2x2xf64>
}

// -----

optim.optimizer @sgd rule #optim.rule<sgd> learning_rate 1.0e-01 : f64 {
  optim.param "w" : tensor<4xf32>
}
