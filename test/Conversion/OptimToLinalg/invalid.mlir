// RUN: optim-opt %s --convert-optim-to-linalg --split-input-file -verify-diagnostics

func.func @broadcast_two_ranks(%a: tensor<4xf32>, %b: tensor<8xf32>) -> (tensor<4xf32>, tensor<8xf32>) {
  // expected-error @+1 {{optim.broadcast_params across 2 ranks needs a distributed runtime}}
  %0, %1 = optim.broadcast_params %a, %b num_ranks 2 : tensor<4xf32>, tensor<8xf32>
  return %0, %1 : tensor<4xf32>, tensor<8xf32>
}

// -----

// Every offending op is reported.
func.func @broadcast_after_update(%p: tensor<4xf32>, %g: tensor<4xf32>, %v: tensor<4xf32>, %lr: f32, %mu: f32) -> tensor<4xf32> {
  %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu : tensor<4xf32>
  // expected-error @+1 {{optim.broadcast_params across 8 ranks needs a distributed runtime}}
  %0 = optim.broadcast_params %p1 num_ranks 8 : tensor<4xf32>
  // expected-error @+1 {{optim.broadcast_params across 3 ranks needs a distributed runtime}}
  %1 = optim.broadcast_params %0 num_ranks 3 : tensor<4xf32>
  return %1 : tensor<4xf32>
}
