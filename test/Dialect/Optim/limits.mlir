// RUN: optim-opt %s --split-input-file --verify-diagnostics
// RUN: optim-opt %s --split-input-file --optim-lower-to-cpu --verify-diagnostics

// The bounds of docs/Limits.md: static shapes, element counts that fit,
// per-step lists of at most 2^20 values. Each is refused by the verifier,
// before any pass (or upstream code) sees it.

optim.optimizer @two_dynamic rule #optim.rule<adam> learning_rate 0.01 {
  optim.group grad_centralization {
    // expected-error @below {{has dynamic dimensions ('tensor<?x?xf32>'): the step's buffers have the declared shape, which must be static}}
    optim.param "w" : tensor<?x?xf32>
  }
}

// -----

optim.optimizer @one_dynamic rule #optim.rule<sgd> learning_rate 0.01 {
  // expected-error @below {{has dynamic dimensions ('tensor<4x?xf32>')}}
  optim.param "w" : tensor<4x?xf32>
}

// -----

optim.optimizer @sparse_dynamic rule #optim.rule<lazy_adam> learning_rate 0.01 {
  // expected-error @below {{has dynamic dimensions ('tensor<?x4xf32>')}}
  optim.param "emb" : tensor<?x4xf32> sparse
}

// -----

optim.optimizer @overflow rule #optim.rule<adam> learning_rate 0.01 {
  optim.group grad_centralization {
    // expected-error @below {{has too many elements ('tensor<4294967296x4294967296xf32>'): a parameter has at most 2^48 (281474976710656) elements}}
    optim.param "w" : tensor<4294967296x4294967296xf32>
  }
}

// -----

optim.optimizer @over_bound rule #optim.rule<adam> learning_rate 0.01 {
  // expected-error @below {{has too many elements ('tensor<16777216x16777217xf32>')}}
  optim.param "w" : tensor<16777216x16777217xf32>
}

// -----

// Each within the bound, together over it.
// expected-error @below {{declares too many elements: the parameters have at most 2^48 (281474976710656) elements together}}
optim.optimizer @total rule #optim.rule<sgd> learning_rate 0.01 {
  optim.param "a" : tensor<16777216x16777216xf32>
  optim.param "b" : tensor<1xf32>
}

// -----

// A splat of 2^32 values: refused from its type, no value is read.
// expected-error @below {{a per-step learning-rate list has at most 2^20 (1048576) values, got 4294967296}}
optim.optimizer @long_list rule #optim.rule<sgd> learning_rate dense<0.1> : tensor<4294967296xf64> {
  optim.param "w" : tensor<4xf32>
}

// -----

optim.optimizer @group_list rule #optim.rule<sgd> learning_rate 0.1 {
  // expected-error @below {{a per-step learning-rate list has at most 2^20 (1048576) values, got 1048577}}
  optim.group learning_rate dense<0.1> : tensor<1048577xf64> {
    optim.param "w" : tensor<4xf32>
  }
}

// -----

func.func @mtu_dynamic(%t: memref<?xmemref<?xf32>>, %x: f64) {
  // expected-error @below {{parameter 0 has dynamic dimensions ('tensor<?x4xf32>')}}
  optim.multi_tensor_update #optim.rule<momentum>(%t : memref<?xmemref<?xf32>>) params [tensor<?x4xf32>] positions [0] loss_scale %x lr %x hyper_params(%x)
  return
}
