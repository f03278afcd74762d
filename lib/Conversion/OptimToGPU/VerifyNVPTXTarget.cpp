//===- VerifyNVPTXTarget.cpp - reject targets that would abort ------------===//
//
// LLVM's NVPTX backend aborts the process (report_fatal_error) when the PTX
// version is too old for the chip, and CUDA 13's ptxas rejects chips before
// sm_75: both are checked here, before any of it runs.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"

#include "llvm/ADT/StringExtras.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMVERIFYNVPTXTARGET
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

/// The number of "sm_<N>" or "sm_<N>a", if `chip` is one.
static std::optional<unsigned> parseChip(StringRef chip) {
  if (!chip.consume_front("sm_"))
    return std::nullopt;
  chip.consume_back("a");
  unsigned number;
  if (chip.empty() || !llvm::all_of(chip, llvm::isDigit) ||
      chip.getAsInteger(10, number) || number < 50)
    return std::nullopt;
  return number;
}

std::optional<unsigned> mlir::optim::getMinimumPTXVersion(StringRef chip) {
  std::optional<unsigned> number = parseChip(chip);
  if (!number)
    return std::nullopt;
  bool archSpecific = chip.ends_with("a");
  // The PTX ISA version that introduced each target (PTX ISA manual,
  // "Target ISA notes"); LLVM refuses older ones.
  unsigned version = 32;
  if (*number >= 120)
    version = 87;
  else if (*number >= 100)
    version = 86;
  else if (*number >= 90)
    version = archSpecific ? 80 : 78;
  else if (*number >= 89)
    version = 78;
  else if (*number >= 87)
    version = 74;
  else if (*number >= 86)
    version = 71;
  else if (*number >= 80)
    version = 70;
  else if (*number >= 75)
    version = 63;
  else if (*number >= 72)
    version = 61;
  else if (*number >= 70)
    version = 60;
  else if (*number >= 60)
    version = 50;
  return version;
}

std::string mlir::optim::getDefaultPTXFeatures(StringRef chip) {
  // PTX 8.0 (CUDA 12.0) for every chip it covers, so that one ptxas
  // accepts all of them; newer chips need newer PTX.
  unsigned version = std::max(80u, getMinimumPTXVersion(chip).value_or(80));
  return "+ptx" + std::to_string(version);
}

namespace {
struct VerifyNVPTXTargetPass
    : public optim::impl::OptimVerifyNVPTXTargetBase<VerifyNVPTXTargetPass> {
  using Base::Base;

  void runOnOperation() override {
    Location loc = getOperation().getLoc();
    std::optional<unsigned> minimum = getMinimumPTXVersion(chip);
    if (!minimum) {
      emitError(loc) << "invalid GPU chip '" << chip
                     << "': expected sm_<N> with N >= 50 (e.g. sm_80, sm_90)";
      return signalPassFailure();
    }
    if (format != "isa" && format != "bin") {
      emitError(loc) << "invalid GPU output format '" << format
                     << "': expected isa (PTX) or bin (cubin)";
      return signalPassFailure();
    }
    if (format == "bin" && *parseChip(chip) < 75) {
      emitError(loc) << "CUDA 13's ptxas does not assemble for " << chip
                     << ": a cubin needs sm_75 or later (PTX still works)";
      return signalPassFailure();
    }
    if (features.empty())
      return;
    StringRef version = features;
    unsigned number;
    if (!version.consume_front("+ptx") || version.getAsInteger(10, number)) {
      emitError(loc) << "invalid PTX features '" << features
                     << "': expected +ptx<NN> (e.g. +ptx80)";
      return signalPassFailure();
    }
    if (number < *minimum) {
      emitError(loc) << "PTX " << number / 10 << "." << number % 10
                     << " does not support " << chip << ": it needs +ptx"
                     << *minimum << " or later";
      return signalPassFailure();
    }
  }
};
} // namespace
