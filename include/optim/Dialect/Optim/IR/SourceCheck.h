//===- SourceCheck.h - syntax the MLIR parser cannot take -------*- C++ -*-===//
//
// A few spellings crash MLIR's own parser instead of giving a diagnostic
// (docs/Limits.md). Every tool and the runtime scan the source text for
// them before parsing it.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_IR_SOURCECHECK_H
#define OPTIM_DIALECT_OPTIM_IR_SOURCECHECK_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace mlir::optim {

/// Where `text` holds a spelling MLIR's parser crashes on (outside string
/// literals and comments), and why it is refused.
struct UnsupportedSyntax {
  size_t offset;
  std::string message;
};

/// The first spelling of `text` MLIR's parser cannot take, if any:
/// `array<index ...>` (a dense array of `index`, which has no storage
/// width).
std::optional<UnsupportedSyntax> findUnsupportedSyntax(llvm::StringRef text);

/// findUnsupportedSyntax on the main buffer of `sourceMgr`; prints the
/// error there (file:line:col) and returns false when it finds one.
bool checkSupportedSyntax(llvm::SourceMgr &sourceMgr);

} // namespace mlir::optim

#endif // OPTIM_DIALECT_OPTIM_IR_SOURCECHECK_H
