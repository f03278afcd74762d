//===- MergeKernelModules.cpp - one GPU module for a step's kernels -------===//

#include "optim/Conversion/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMMERGEKERNELMODULES
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
struct MergeKernelModulesPass
    : public optim::impl::OptimMergeKernelModulesBase<MergeKernelModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto gpuModules = llvm::to_vector(module.getOps<gpu::GPUModuleOp>());
    if (gpuModules.size() < 2)
      return;
    gpu::GPUModuleOp target = gpuModules.front();
    SymbolTable targetSymbols(target);
    // (module, kernel) -> the kernel's new name in `target`.
    llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    for (gpu::GPUModuleOp source : llvm::drop_begin(gpuModules)) {
      for (Operation &op :
           llvm::make_early_inc_range(source.getBody()->getOperations())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        if (!symbol)
          continue;
        StringAttr name = symbol.getNameAttr();
        if (auto kernel = dyn_cast<gpu::GPUFuncOp>(op)) {
          // Kernels are named after their module, which is unique.
          StringAttr newName = source.getSymNameAttr();
          renamed[{source.getSymNameAttr(), name}] = newName;
          SymbolTable::setSymbolName(kernel, newName);
          op.moveBefore(target.getBody(), target.getBody()->end());
          targetSymbols.insert(&op);
          continue;
        }
        if (Operation *existing = targetSymbols.lookup(name)) {
          // The same global, cloned into every kernel's module.
          if (existing->getName() != op.getName() ||
              existing->getAttrDictionary() != op.getAttrDictionary() ||
              existing->getPropertiesAsAttribute() !=
                  op.getPropertiesAsAttribute()) {
            op.emitOpError("differs from the '")
                << name.getValue() << "' of the other kernels";
            return signalPassFailure();
          }
          continue;
        }
        op.moveBefore(target.getBody(), target.getBody()->end());
        targetSymbols.insert(&op);
      }
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      auto it = renamed.find({launch.getKernelModuleName(),
                              launch.getKernelName()});
      if (it == renamed.end())
        return;
      launch.setKernelAttr(SymbolRefAttr::get(
          target.getSymNameAttr(), {FlatSymbolRefAttr::get(it->second)}));
    });
    for (gpu::GPUModuleOp source : llvm::drop_begin(gpuModules))
      source.erase();
  }
};
} // namespace
