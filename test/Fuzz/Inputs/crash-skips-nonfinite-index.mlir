func.func @amp_step(%hyper: memref<2xf64>, %status: memref<5xf64>, %t: i64) attributes {optim.skips_nonfinite = 2 : i64} {
  return
}
