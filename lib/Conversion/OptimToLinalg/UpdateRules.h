//===- UpdateRules.h - the math of each update rule -------------*- C++ -*-===//
//
// One class per update rule holds the rule's arithmetic, exactly as the op
// descriptions in OptimOps.td state it (evaluated left to right as written);
// where a description leaves a case open (SGD without momentum, Adam with
// both amsgrad and Nesterov), MindSpore's kernels decide.
// A rule is constructed before the update loop, where its constructor builds
// the loop-invariant scalars (hyper-parameters in the compute type, bias
// corrections and other step-dependent values); `apply` then builds the math
// of one element inside the loop. The dense lowering, the LazyAdam row loop
// and the Lamb/LARS norm reductions all call these classes, so each formula
// exists once.
//
// Rules whose update needs L2 norms over the whole tensor (Lamb, LARS) set
// `kNumNorms`: `normTerms` gives the per-element values whose norms are
// needed (from the states too when `kNormsReadStates`), and `setNorms`
// receives the norms before `apply` is built.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_CONVERSION_OPTIMTOLINALG_UPDATERULES_H
#define LIB_CONVERSION_OPTIMTOLINALG_UPDATERULES_H

#include "Utils.h"

#include "optim/Dialect/Optim/IR/Optim.h"

namespace mlir::optim {

/// New values of one element after an update, in the compute type: the
/// parameter first, then the states in operand order.
using UpdatedElement = SmallVector<Value, 4>;

/// Defaults of a rule without norms.
struct ElementwiseRule {
  static constexpr unsigned kNumNorms = 0;
};

/// The two Adam moment recurrences, shared by the Adam family and AdaMax.
class AdamMoments {
public:
  AdamMoments(const FloatMath &outside, Value beta1, Value beta2);
  /// `beta1 * m + (1 - beta1) * g`.
  Value updateFirst(const FloatMath &math, Value grad, Value m) const;
  /// `beta2 * v + (1 - beta2) * g^2`.
  Value updateSecond(const FloatMath &math, Value grad, Value v) const;
  Value getBeta1() const { return beta1; }
  Value getBeta2() const { return beta2; }

private:
  Value beta1, oneMinusBeta1, beta2, oneMinusBeta2;
};

class SGDRule : public ElementwiseRule {
public:
  using Op = SGDUpdateOp;
  SGDRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, momentum, oneMinusDampening, isFirstStep, hasMomentum;
  bool nesterov;
};

class MomentumRule : public ElementwiseRule {
public:
  using Op = MomentumUpdateOp;
  MomentumRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, momentum;
  bool useNesterov;
};

/// Adam, and LazyAdam's per-row update.
class AdamRule : public ElementwiseRule {
public:
  using Op = AdamUpdateOp;
  AdamRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  /// From the f32 scalar operands and the i64 step.
  AdamRule(const FloatMath &outside, Value lr, Value beta1, Value beta2,
           Value epsOperand, Value step, bool nesterov, bool amsgrad);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  AdamMoments moments;
  Value eps, stepSize;
  bool useNesterov, useAmsgrad;
};

class AdamWeightDecayRule : public ElementwiseRule {
public:
  using Op = AdamWeightDecayUpdateOp;
  AdamWeightDecayRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  AdamMoments moments;
  Value lr, eps, weightDecay;
  bool useAmsgrad;
};

class LambRule {
public:
  using Op = LambUpdateOp;
  using NormsOp = LambNormsOp;
  static constexpr unsigned kNumNorms = 3;
  static constexpr bool kNormsReadStates = true;
  /// From the update op or the norms op (same operands).
  template <typename OpT>
  LambRule(const FloatMath &outside, OpT op, typename OpT::Adaptor adaptor);
  /// The parameter, the gradient, and the direction whose norm divides the
  /// parameter's in the trust ratio (eps inside the square root).
  SmallVector<Value> normTerms(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const;
  /// Norms of `normTerms`: the trust ratio.
  void setNorms(const FloatMath &outside, ArrayRef<Value> norms);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  struct Direction {
    Value m, v, u;
  };
  Direction computeDirection(const FloatMath &math, Value grad, Value param,
                             ArrayRef<Value> states) const;

  AdamMoments moments;
  Value lr, eps, weightDecay, biasCorrection1, biasCorrection2;
  /// `lr * ratio`, known once the norms are.
  Value scaledLr;
};

class LARSRule {
public:
  using Op = LARSUpdateOp;
  using NormsOp = LARSNormsOp;
  static constexpr unsigned kNumNorms = 2;
  static constexpr bool kNormsReadStates = false;
  template <typename OpT>
  LARSRule(const FloatMath &outside, OpT op, typename OpT::Adaptor adaptor);
  /// The parameter and the gradient.
  SmallVector<Value> normTerms(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const;
  /// Norms of `normTerms`: the trust ratio.
  void setNorms(const FloatMath &outside, ArrayRef<Value> norms);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, momentum, epsilon, coefficient, weightDecay;
  /// Known once the norms are.
  Value ratio;
  bool useNesterov;
};

class AdagradRule : public ElementwiseRule {
public:
  using Op = AdagradUpdateOp;
  AdagradRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr;
  bool updateSlots;
};

class RMSPropRule : public ElementwiseRule {
public:
  using Op = RMSPropUpdateOp;
  RMSPropRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, decay, oneMinusDecay, momentum, epsilon;
  bool centered;
};

class FTRLRule : public ElementwiseRule {
public:
  using Op = FTRLUpdateOp;
  FTRLRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, negLrPower, l1, twoL2;
};

class ProximalAdagradRule : public ElementwiseRule {
public:
  using Op = ProximalAdagradUpdateOp;
  ProximalAdagradRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, l1, l2, one;
};

class AdaMaxRule : public ElementwiseRule {
public:
  using Op = AdaMaxUpdateOp;
  AdaMaxRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  AdamMoments moments;
  Value eps, stepSize;
};

class AdadeltaRule : public ElementwiseRule {
public:
  using Op = AdadeltaUpdateOp;
  AdadeltaRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, rho, oneMinusRho, epsilon;
};

class ASGDRule : public ElementwiseRule {
public:
  using Op = ASGDUpdateOp;
  ASGDRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value eta, paramScale, mu, muIsOne;
};

class RpropRule : public ElementwiseRule {
public:
  using Op = RpropUpdateOp;
  RpropRule(const FloatMath &outside, Op op, Op::Adaptor adaptor);
  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const;

private:
  Value lr, etaminus, etaplus, minStep, maxStep;
  /// i1: this is the first update (t == 1).
  Value isFirstStep;
};

/// The update loop: one elementwise generic with ins(grad) and
/// outs(param, states...), whose body applies `rule` to each element.
template <typename Rule>
SmallVector<Value> buildUpdateGeneric(OpBuilder &b, Location loc,
                                      FloatType computeType, const Rule &rule,
                                      Value grad, Value param,
                                      ValueRange states) {
  SmallVector<Value> outputs = {param};
  llvm::append_range(outputs, states);
  return buildElementwise(
      b, loc, computeType, grad, outputs,
      [&](const FloatMath &math, ArrayRef<Value> inputs,
          ArrayRef<Value> current) -> SmallVector<Value> {
        return llvm::to_vector(
            rule.apply(math, inputs[0], current[0], current.drop_front()));
      });
}

/// The sums of squares a rule with `kNumNorms > 0` needs: one reduction
/// generic over the gradient, the parameter and (where the rule reads them)
/// the states.
template <typename Rule>
SmallVector<Value> buildNormSums(OpBuilder &b, Location loc,
                                 FloatType computeType, const Rule &rule,
                                 Value grad, Value param, ValueRange states) {
  SmallVector<Value> inputs = {grad, param};
  if (Rule::kNormsReadStates)
    llvm::append_range(inputs, states);
  return buildSumsOfSquares(
      b, loc, computeType, inputs, Rule::kNumNorms,
      [&](const FloatMath &math, ArrayRef<Value> elements) {
        return rule.normTerms(math, elements[0], elements[1],
                              elements.drop_front(2));
      });
}

/// The norms themselves: square roots of `buildNormSums`.
template <typename Rule>
SmallVector<Value> buildNorms(OpBuilder &b, Location loc, FloatType computeType,
                              const Rule &rule, Value grad, Value param,
                              ValueRange states) {
  SmallVector<Value> norms =
      buildNormSums(b, loc, computeType, rule, grad, param, states);
  FloatMath outside(b, loc, computeType);
  for (Value &norm : norms)
    norm = outside.sqrt(norm);
  return norms;
}

} // namespace mlir::optim

#endif // LIB_CONVERSION_OPTIMTOLINALG_UPDATERULES_H
