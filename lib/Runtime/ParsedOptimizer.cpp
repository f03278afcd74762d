//===- ParsedOptimizer.cpp - optimizer text in a context of its own -------===//

#include "ParsedOptimizer.h"

#include "optim/Dialect/Optim/IR/SourceCheck.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"

#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace optim::runtime::detail;

static mlir::DialectRegistry getRegistry() {
  mlir::DialectRegistry registry;
  mlir::optim::registerOptimDialects(registry);
  return registry;
}

ParsedOptimizer::ParsedOptimizer()
    : context(getRegistry(), mlir::MLIRContext::Threading::DISABLED),
      handler(&context, [this](mlir::Diagnostic &d) {
        if (!diagnostics.empty())
          diagnostics += "\n";
        llvm::raw_string_ostream os(diagnostics);
        os << d.getLocation() << ": " << d;
        return mlir::success();
      }) {}

llvm::Expected<std::unique_ptr<ParsedOptimizer>>
ParsedOptimizer::parse(llvm::StringRef source) {
  // A copy of the text ends with the NUL the parsers stop at (the caller's
  // text need not have one).
  llvm::SourceMgr sourceMgr;
  unsigned buffer = sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(source), llvm::SMLoc());
  // Spellings MLIR's parser would crash on are refused first.
  if (auto unsupported = mlir::optim::findUnsupportedSyntax(source)) {
    auto [line, column] = sourceMgr.getLineAndColumn(
        llvm::SMLoc::getFromPointer(
            sourceMgr.getMemoryBuffer(buffer)->getBufferStart() +
            unsupported->offset),
        buffer);
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "invalid optimizer IR: loc(\"-\":" + llvm::Twine(line) + ":" +
            llvm::Twine(column) + "): " + unsupported->message);
  }
  std::unique_ptr<ParsedOptimizer> parsed(new ParsedOptimizer());
  parsed->module = mlir::parseSourceFile<mlir::ModuleOp>(
      sourceMgr, mlir::ParserConfig(&parsed->context));
  if (!parsed->module)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "invalid optimizer IR: " +
                                       parsed->diagnostics);
  auto optimizers =
      llvm::to_vector(parsed->module->getOps<mlir::optim::OptimizerOp>());
  if (optimizers.size() != 1)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "expected exactly one 'optim.optimizer', found " +
            std::to_string(optimizers.size()));
  parsed->optimizer = optimizers.front();
  // The decisions of MindSpore's constructor, written into the IR: what
  // StepABI and the passes read.
  mlir::optim::resolveGroups(parsed->optimizer);
  return parsed;
}
