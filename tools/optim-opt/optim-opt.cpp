//===- optim-opt.cpp - the optim-mlir optimizer driver --------------------===//
//
// An mlir-opt-style driver that registers only the dialects and passes the
// optim-mlir pipelines use.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::optim::registerOptimPasses();
  mlir::optim::registerOptimConversionPasses();
  mlir::registerLinalgElementwiseOpFusionPass();

  mlir::DialectRegistry registry;
  registry.insert<mlir::optim::OptimDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect,
                  mlir::tensor::TensorDialect, mlir::linalg::LinalgDialect,
                  mlir::memref::MemRefDialect, mlir::scf::SCFDialect,
                  mlir::bufferization::BufferizationDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "optim-mlir optimizer driver\n", registry));
}
