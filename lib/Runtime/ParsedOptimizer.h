//===- ParsedOptimizer.h - optimizer text in a context of its own -*- C++ -*-===//
//
// The first step of compiling for any target: a context with the project's
// dialects, the text parsed, its one `optim.optimizer` found, and every
// diagnostic collected as text for the error messages of the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_RUNTIME_PARSEDOPTIMIZER_H
#define LIB_RUNTIME_PARSEDOPTIMIZER_H

#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>

namespace optim::runtime::detail {

class ParsedOptimizer {
public:
  /// Parses `source`, which must hold exactly one `optim.optimizer`.
  static llvm::Expected<std::unique_ptr<ParsedOptimizer>>
  parse(llvm::StringRef source);

  mlir::MLIRContext &getContext() { return context; }
  mlir::ModuleOp getModule() { return *module; }
  mlir::optim::OptimizerOp getOptimizer() { return optimizer; }
  /// Every diagnostic so far (parsing, and passes run on the module since).
  const std::string &getDiagnostics() const { return diagnostics; }

private:
  ParsedOptimizer();

  mlir::MLIRContext context;
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::optim::OptimizerOp optimizer;
};

/// Pipeline options parsed from `text`, or null with `problem` saying why:
/// what the option parser reports (an unknown option), or "a value does not
/// parse" where LLVM's option library reports a bad value on stderr only.
template <typename OptionsT>
std::unique_ptr<OptionsT> parsePipelineOptions(llvm::StringRef text,
                                               std::string &problem) {
  auto options = std::make_unique<OptionsT>();
  std::string message;
  llvm::raw_string_ostream messages(message);
  if (mlir::succeeded(options->parseFromString(text, messages)))
    return options;
  problem = message.empty() ? "a value does not parse"
                            : llvm::StringRef(message).trim().str();
  return nullptr;
}

} // namespace optim::runtime::detail

#endif // LIB_RUNTIME_PARSEDOPTIMIZER_H
