//===- Patterns.h - pattern groups of optim-to-linalg -----------*- C++ -*-===//
//
// Private to lib/Conversion/OptimToLinalg; the public entry point is
// `populateOptimToLinalgConversionPatterns` in optim/Conversion/Passes.h.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_CONVERSION_OPTIMTOLINALG_PATTERNS_H
#define LIB_CONVERSION_OPTIMTOLINALG_PATTERNS_H

namespace mlir {
class RewritePatternSet;
namespace optim {

/// learning_rate, scale_grad, decay_weight, centralize, global_norm,
/// all_finite, broadcast_params (BaseOps.cpp).
void populateBaseOpLoweringPatterns(RewritePatternSet &patterns);
/// The dense update rules (UpdateOps.cpp).
void populateUpdateOpLoweringPatterns(RewritePatternSet &patterns);
/// The update ops of rules whose record holds a formula (FormulaRules.cpp).
void populateFormulaRuleLoweringPatterns(RewritePatternSet &patterns);
/// unique and lazy_adam_update (SparseOps.cpp).
void populateSparseOpLoweringPatterns(RewritePatternSet &patterns);
/// Adafactor, whose update reads whole tensors (AdaFactor.cpp).
void populateAdaFactorLoweringPatterns(RewritePatternSet &patterns);

} // namespace optim
} // namespace mlir

#endif // LIB_CONVERSION_OPTIMTOLINALG_PATTERNS_H
