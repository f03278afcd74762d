// RUN: optim-opt %s --optim-verify-nvptx-target="chip=sm_90 features=+ptx80" | FileCheck %s
// RUN: optim-opt %s --optim-verify-nvptx-target="chip=sm_90a format=bin" | FileCheck %s
// RUN: not optim-opt %s --optim-verify-nvptx-target="chip=sm_90 features=+ptx60" 2>&1 | FileCheck %s --check-prefix=OLD
// RUN: not optim-opt %s --optim-verify-nvptx-target="chip=gfx90a" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not optim-opt %s --optim-verify-nvptx-target="chip=sm_70 format=bin" 2>&1 | FileCheck %s --check-prefix=BIN
// RUN: not optim-opt %s --optim-verify-nvptx-target="chip=sm_80 format=fatbin" 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not optim-opt %s --optim-verify-nvptx-target="chip=sm_80 features=ptx80" 2>&1 | FileCheck %s --check-prefix=FEATURES
// RUN: not optim-opt %s --optim-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=NOCHIP

// Targets that LLVM's NVPTX backend would abort on, or ptxas reject, are
// reported before anything reaches them.
// CHECK: module
// OLD: error: PTX 6.0 does not support sm_90: it needs +ptx78 or later
// CHIP: error: invalid GPU chip 'gfx90a': expected sm_<N> with N >= 50
// BIN: error: CUDA 13's ptxas does not assemble for sm_70: a cubin needs sm_75 or later
// FORMAT: error: invalid GPU output format 'fatbin': expected isa (PTX) or bin (cubin)
// FEATURES: error: invalid PTX features 'ptx80': expected +ptx<NN>
// NOCHIP: error: invalid GPU chip '': expected sm_<N>
module {
}
