//===- SourceCheck.cpp - syntax the MLIR parser cannot take ---------------===//

#include "optim/Dialect/Optim/IR/SourceCheck.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::optim;

namespace {
bool isIdentifierChar(char c) {
  return llvm::isAlnum(c) || c == '_' || c == '$' || c == '.';
}

/// The offset just after the spaces at `pos`.
size_t skipSpaces(llvm::StringRef text, size_t pos) {
  while (pos < text.size() && llvm::isSpace(text[pos]))
    ++pos;
  return pos;
}

/// Whether the keyword `word` starts at `pos` and ends there.
bool isKeywordAt(llvm::StringRef text, size_t pos, llvm::StringRef word) {
  return text.substr(pos).starts_with(word) &&
         (pos + word.size() == text.size() ||
          !isIdentifierChar(text[pos + word.size()]));
}
} // namespace

std::optional<UnsupportedSyntax>
mlir::optim::findUnsupportedSyntax(llvm::StringRef text) {
  size_t pos = 0;
  while (pos < text.size()) {
    char c = text[pos];
    // Comments, to the end of the line.
    if (c == '/' && pos + 1 < text.size() && text[pos + 1] == '/') {
      size_t end = text.find('\n', pos);
      pos = end == llvm::StringRef::npos ? text.size() : end + 1;
      continue;
    }
    // String literals, with their escapes.
    if (c == '"') {
      for (++pos; pos < text.size() && text[pos] != '"'; ++pos)
        if (text[pos] == '\\')
          ++pos;
      ++pos;
      continue;
    }
    if (!isIdentifierChar(c)) {
      ++pos;
      continue;
    }
    size_t start = pos;
    while (pos < text.size() && isIdentifierChar(text[pos]))
      ++pos;
    if (text.slice(start, pos) != "array")
      continue;
    size_t next = skipSpaces(text, pos);
    if (next >= text.size() || text[next] != '<')
      continue;
    next = skipSpaces(text, next + 1);
    if (isKeywordAt(text, next, "index"))
      return UnsupportedSyntax{
          start, "dense arrays of 'index' (array<index: ...>) are not "
                 "supported: 'index' has no storage width; use array<i64: "
                 "...>"};
  }
  return std::nullopt;
}

bool mlir::optim::checkSupportedSyntax(llvm::SourceMgr &sourceMgr) {
  const llvm::MemoryBuffer *buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  std::optional<UnsupportedSyntax> found =
      findUnsupportedSyntax(buffer->getBuffer());
  if (!found)
    return true;
  sourceMgr.PrintMessage(
      llvm::SMLoc::getFromPointer(buffer->getBufferStart() + found->offset),
      llvm::SourceMgr::DK_Error, found->message);
  return false;
}
