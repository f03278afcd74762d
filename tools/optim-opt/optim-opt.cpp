//===- optim-opt.cpp - the optim-mlir optimizer driver --------------------===//
//
// An mlir-opt-style driver that registers only the dialects and passes the
// optim-mlir pipelines use.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/SourceCheck.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"
#include "optim/Transforms/Passes.h"
#include "optim/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

int main(int argc, char **argv) {
  // libLLVM registers hundreds of codegen options at load time; keep them
  // usable but out of --help (use --help-hidden to see them), so the help
  // lists what optim-opt is for: the passes and MLIR's driver options,
  // which are registered below and by MlirOptMain.
  for (auto &option : llvm::cl::getRegisteredOptions())
    if (option.second->getOptionHiddenFlag() == llvm::cl::NotHidden &&
        option.first != "help" && option.first != "version")
      option.second->setHiddenFlag(llvm::cl::Hidden);

  // Ours.
  mlir::optim::registerOptimPasses();
  mlir::optim::registerOptimTransformsPasses();
  mlir::optim::registerOptimConversionPasses();
  mlir::optim::registerOptimPipelines();
  // Upstream passes our pipelines are made of, so each step can run alone.
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerLinalgElementwiseOpFusionPass();
  mlir::registerConvertLinalgToLoopsPass();
  mlir::bufferization::registerOneShotBufferizePass();
  mlir::registerSCFForallToParallelLoopPass();
  mlir::registerConvertSCFToOpenMPPass();
  mlir::registerLowerAffinePass();
  mlir::registerConvertVectorToSCFPass();
  mlir::memref::registerExpandStridedMetadataPass();
  mlir::registerFinalizeMemRefToLLVMConversionPass();
  mlir::registerSCFToControlFlowPass();
  mlir::registerConvertVectorToLLVMPass();
  mlir::registerConvertToLLVMPass();
  mlir::registerReconcileUnrealizedCastsPass();

  mlir::DialectRegistry registry;
  mlir::optim::registerOptimDialects(registry);
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "optim-mlir optimizer driver\n", registry);
  mlir::MlirOptMainConfig config =
      mlir::MlirOptMainConfig::createFromCLOptions();
  // Listings read no input: MLIR's driver handles them.
  if (config.shouldShowDialects() || config.shouldListPasses())
    return mlir::asMainReturnCode(
        mlir::MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  // The input is read once here, and refused before MLIR's parser sees it
  // when it holds a spelling the parser would crash on (SourceCheck.h).
  llvm::InitLLVM init(argc, argv);
  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &errorMessage);
  if (!input) {
    llvm::errs() << errorMessage << "\n";
    return 1;
  }
  {
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBuffer(input->getMemBufferRef(),
                                         /*RequiresNullTerminator=*/true),
        llvm::SMLoc());
    if (!mlir::optim::checkSupportedSyntax(sourceMgr))
      return 1;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << errorMessage << "\n";
    return 1;
  }
  if (mlir::failed(
          mlir::MlirOptMain(output->os(), std::move(input), registry, config)))
    return 1;
  output->keep();
  return 0;
}
