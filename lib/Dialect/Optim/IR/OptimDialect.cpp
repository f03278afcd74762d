//===- OptimDialect.cpp - the optim dialect -------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"

using namespace mlir;
using namespace mlir::optim;

#include "optim/Dialect/Optim/IR/OptimOpsDialect.cpp.inc"

void OptimDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "optim/Dialect/Optim/IR/OptimOps.cpp.inc"
      >();
}
