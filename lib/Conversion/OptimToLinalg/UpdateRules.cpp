//===- UpdateRules.cpp - the math of each update rule ---------------------===//
//
// Each formula is the one in the rule's description in OptimOps.td, built in
// the order it is written there (left to right, usual precedence), so that a
// NumPy transcription of the description rounds the same way. Constructors
// run before the loop; `apply` and `normTerms` build element math.
//
//===----------------------------------------------------------------------===//

#include "UpdateRules.h"

using namespace mlir;
using namespace mlir::optim;

/// True (i1) when the 1-based update count `step` is 1.
static Value isFirstUpdate(const FloatMath &outside, Value step) {
  OpBuilder &b = outside.getBuilder();
  Location loc = outside.getLoc();
  Value one = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, step, one);
}

/// Momentum's step direction (also SGD's and LARS's) from the new momentum
/// buffer `v`: `grad + momentum * v` with Nesterov, else `v`.
static Value momentumDirection(const FloatMath &math, Value momentum,
                               bool nesterov, Value grad, Value v) {
  return nesterov ? math.add(grad, math.mul(momentum, v)) : v;
}

/// LAMB's and LARS's guard: `ratio` when both norms are positive, else 1.
static Value ratioIfNormsPositive(const FloatMath &outside, Value paramNorm,
                                  Value otherNorm, Value ratio) {
  Value zero = outside.constant(0.0);
  Value paramPositive = outside.greater(paramNorm, zero);
  Value otherPositive = outside.greater(otherNorm, zero);
  Value bothPositive = outside.logicalAnd(paramPositive, otherPositive);
  return outside.select(bothPositive, ratio, outside.constant(1.0));
}

//===----------------------------------------------------------------------===//
// AdamMoments
//===----------------------------------------------------------------------===//

AdamMoments::AdamMoments(const FloatMath &outside, Value beta1Operand,
                         Value beta2Operand)
    : beta1(outside.cast(beta1Operand)), oneMinusBeta1(outside.oneMinus(beta1)),
      beta2(outside.cast(beta2Operand)),
      oneMinusBeta2(outside.oneMinus(beta2)) {}

Value AdamMoments::updateFirst(const FloatMath &math, Value grad,
                               Value m) const {
  Value decayed = math.mul(beta1, m);
  Value contribution = math.mul(oneMinusBeta1, grad);
  return math.add(decayed, contribution);
}

Value AdamMoments::updateSecond(const FloatMath &math, Value grad,
                                Value v) const {
  Value decayed = math.mul(beta2, v);
  Value contribution = math.mul(oneMinusBeta2, math.square(grad));
  return math.add(decayed, contribution);
}

//===----------------------------------------------------------------------===//
// SGD, Momentum
//===----------------------------------------------------------------------===//

SGDRule::SGDRule(const FloatMath &outside, Op op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())),
      momentum(outside.cast(adaptor.getMomentum())),
      oneMinusDampening(outside.oneMinus(outside.cast(adaptor.getDampening()))),
      isFirstStep(isFirstUpdate(outside, adaptor.getStep())),
      hasMomentum(outside.greater(momentum, outside.constant(0.0))),
      nesterov(op.getNesterov()) {}

UpdatedElement SGDRule::apply(const FloatMath &math, Value grad, Value param,
                              ArrayRef<Value> states) const {
  // With momentum: accum = grad on the first update, else
  // momentum * accum + (1 - dampening) * grad, and the step follows
  // Momentum's. Without (momentum == 0, plain SGD): accum is left as it is
  // and param -= lr * grad, as MindSpore's SGD kernel does.
  Value decayed = math.mul(momentum, states[0]);
  Value contribution = math.mul(oneMinusDampening, grad);
  Value accumulated = math.add(decayed, contribution);
  Value accum = math.select(
      hasMomentum, math.select(isFirstStep, grad, accumulated), states[0]);
  Value direction = math.select(
      hasMomentum, momentumDirection(math, momentum, nesterov, grad, accum),
      grad);
  return {math.sub(param, math.mul(lr, direction)), accum};
}

MomentumRule::MomentumRule(const FloatMath &outside, Op op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())),
      momentum(outside.cast(adaptor.getMomentum())),
      useNesterov(op.getUseNesterov()) {}

UpdatedElement MomentumRule::apply(const FloatMath &math, Value grad,
                                   Value param, ArrayRef<Value> states) const {
  Value moments = math.add(math.mul(momentum, states[0]), grad);
  Value direction =
      momentumDirection(math, momentum, useNesterov, grad, moments);
  return {math.sub(param, math.mul(lr, direction)), moments};
}

//===----------------------------------------------------------------------===//
// Adam family
//===----------------------------------------------------------------------===//

AdamRule::AdamRule(const FloatMath &outside, Op op, Op::Adaptor adaptor)
    : AdamRule(outside, adaptor.getLr(), adaptor.getBeta1(), adaptor.getBeta2(),
               adaptor.getEps(), adaptor.getStep(), op.getUseNesterov(),
               op.getUseAmsgrad()) {}

AdamRule::AdamRule(const FloatMath &outside, Value lr, Value beta1, Value beta2,
                   Value epsOperand, Value step, bool nesterov, bool amsgrad)
    : moments(outside, beta1, beta2), eps(outside.cast(epsOperand)),
      useNesterov(nesterov), useAmsgrad(amsgrad) {
  // lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t).
  Value t = outside.fromSignedInt(step);
  Value correction2 =
      outside.sqrt(outside.oneMinus(outside.pow(moments.getBeta2(), t)));
  Value correction1 = outside.oneMinus(outside.pow(moments.getBeta1(), t));
  stepSize =
      outside.div(outside.mul(outside.cast(lr), correction2), correction1);
}

UpdatedElement AdamRule::apply(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const {
  Value m = moments.updateFirst(math, grad, states[0]);
  Value v = moments.updateSecond(math, grad, states[1]);
  UpdatedElement result = {Value(), m, v};
  Value numerator = m, denominatorSource = v;
  if (useAmsgrad) {
    // MindSpore's ApplyAdamWithAmsgrad: the running maximum replaces v in
    // the denominator, and there is no Nesterov form (use_nesterov is
    // ignored).
    Value vhat = math.max(states[2], v);
    result.push_back(vhat);
    denominatorSource = vhat;
  } else if (useNesterov) {
    // beta1 * m + (1 - beta1) * g, with the new m.
    numerator = moments.updateFirst(math, grad, m);
  }
  Value denominator = math.add(math.sqrt(denominatorSource), eps);
  result[0] =
      math.sub(param, math.div(math.mul(stepSize, numerator), denominator));
  return result;
}

AdamWeightDecayRule::AdamWeightDecayRule(const FloatMath &outside, Op op,
                                         Op::Adaptor adaptor)
    : moments(outside, adaptor.getBeta1(), adaptor.getBeta2()),
      lr(outside.cast(adaptor.getLr())), eps(outside.cast(adaptor.getEps())),
      weightDecay(outside.cast(adaptor.getWeightDecay())),
      useAmsgrad(op.getUseAmsgrad()) {}

UpdatedElement AdamWeightDecayRule::apply(const FloatMath &math, Value grad,
                                          Value param,
                                          ArrayRef<Value> states) const {
  Value m = moments.updateFirst(math, grad, states[0]);
  Value v = moments.updateSecond(math, grad, states[1]);
  UpdatedElement result = {Value(), m, v};
  Value denominatorSource = v;
  if (useAmsgrad) {
    // The running maximum of v replaces v in the denominator.
    Value vhat = math.max(states[2], v);
    result.push_back(vhat);
    denominatorSource = vhat;
  }
  // param -= lr * (m / (sqrt(v) + eps) + weight_decay * param).
  Value sqrtV = math.sqrt(denominatorSource);
  Value denominator = math.add(sqrtV, eps);
  Value adam = math.div(m, denominator);
  Value decay = math.mul(weightDecay, param);
  Value update = math.add(adam, decay);
  Value step = math.mul(lr, update);
  result[0] = math.sub(param, step);
  return result;
}

template <typename OpT>
LambRule::LambRule(const FloatMath &outside, OpT, typename OpT::Adaptor adaptor)
    : moments(outside, adaptor.getBeta1(), adaptor.getBeta2()),
      lr(outside.cast(adaptor.getLr())), eps(outside.cast(adaptor.getEps())),
      weightDecay(outside.cast(adaptor.getWeightDecay())) {
  Value t = outside.fromSignedInt(adaptor.getStep());
  biasCorrection1 = outside.oneMinus(outside.pow(moments.getBeta1(), t));
  biasCorrection2 = outside.oneMinus(outside.pow(moments.getBeta2(), t));
}

template LambRule::LambRule(const FloatMath &, LambUpdateOp,
                            LambUpdateOp::Adaptor);
template LambRule::LambRule(const FloatMath &, LambNormsOp,
                            LambNormsOp::Adaptor);

LambRule::Direction LambRule::computeDirection(const FloatMath &math,
                                               Value grad, Value param,
                                               ArrayRef<Value> states) const {
  // u = m_hat / (sqrt(v_hat) + eps) + weight_decay * param.
  Value m = moments.updateFirst(math, grad, states[0]);
  Value v = moments.updateSecond(math, grad, states[1]);
  Value mHat = math.div(m, biasCorrection1);
  Value vHat = math.div(v, biasCorrection2);
  Value adam = math.div(mHat, math.add(math.sqrt(vHat), eps));
  return {m, v, math.add(adam, math.mul(weightDecay, param))};
}

SmallVector<Value> LambRule::normTerms(const FloatMath &math, Value grad,
                                       Value param,
                                       ArrayRef<Value> states) const {
  // MindSpore's kernel divides by sqrt(v_hat + eps) for the norm, while the
  // update itself uses sqrt(v_hat) + eps.
  Value m = moments.updateFirst(math, grad, states[0]);
  Value v = moments.updateSecond(math, grad, states[1]);
  Value mHat = math.div(m, biasCorrection1);
  Value vHat = math.div(v, biasCorrection2);
  Value adam = math.div(mHat, math.sqrt(math.add(vHat, eps)));
  Value decay = math.mul(weightDecay, param);
  Value direction = math.add(adam, decay);
  return {param, grad, direction};
}

void LambRule::setNorms(const FloatMath &outside, ArrayRef<Value> norms) {
  // ratio = |param| / |direction| when |param| > 0 and |grad| > 0, else 1,
  // clipped to [0, 10] (MindSpore's Lamb).
  Value paramNorm = norms[0], gradNorm = norms[1], directionNorm = norms[2];
  Value ratio = ratioIfNormsPositive(outside, paramNorm, gradNorm,
                                     outside.div(paramNorm, directionNorm));
  Value lowerBound = outside.constant(0.0);
  Value clippedBelow = outside.max(ratio, lowerBound);
  Value upperBound = outside.constant(10.0);
  ratio = outside.min(clippedBelow, upperBound);
  scaledLr = outside.mul(lr, ratio);
}

UpdatedElement LambRule::apply(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const {
  assert(scaledLr && "setNorms must run before apply");
  Direction direction = computeDirection(math, grad, param, states);
  // param -= lr * ratio * u.
  return {math.sub(param, math.mul(scaledLr, direction.u)), direction.m,
          direction.v};
}

//===----------------------------------------------------------------------===//
// LARS
//===----------------------------------------------------------------------===//

template <typename OpT>
LARSRule::LARSRule(const FloatMath &outside, OpT op,
                   typename OpT::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())),
      momentum(outside.cast(adaptor.getMomentum())),
      epsilon(outside.cast(adaptor.getEpsilon())),
      coefficient(outside.cast(adaptor.getCoefficient())),
      weightDecay(outside.cast(adaptor.getWeightDecay())),
      useNesterov(op.getUseNesterov()) {}

template LARSRule::LARSRule(const FloatMath &, LARSUpdateOp,
                            LARSUpdateOp::Adaptor);
template LARSRule::LARSRule(const FloatMath &, LARSNormsOp,
                            LARSNormsOp::Adaptor);

SmallVector<Value> LARSRule::normTerms(const FloatMath &, Value grad,
                                       Value param, ArrayRef<Value>) const {
  return {param, grad};
}

void LARSRule::setNorms(const FloatMath &outside, ArrayRef<Value> norms) {
  // coefficient * w / (n + weight_decay * w + epsilon).
  Value w = norms[0], n = norms[1];
  Value denominator =
      outside.add(outside.add(n, outside.mul(weightDecay, w)), epsilon);
  ratio = ratioIfNormsPositive(
      outside, w, n, outside.div(outside.mul(coefficient, w), denominator));
}

UpdatedElement LARSRule::apply(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const {
  assert(ratio && "setNorms must run before apply");
  // grad' = ratio * (grad + weight_decay * param), then Momentum.
  Value scaledGrad =
      math.mul(ratio, math.add(grad, math.mul(weightDecay, param)));
  Value moments = math.add(math.mul(momentum, states[0]), scaledGrad);
  Value direction =
      momentumDirection(math, momentum, useNesterov, scaledGrad, moments);
  return {math.sub(param, math.mul(lr, direction)), moments};
}

//===----------------------------------------------------------------------===//
// Adagrad family, RMSProp, FTRL
//===----------------------------------------------------------------------===//

AdagradRule::AdagradRule(const FloatMath &outside, Op op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())), updateSlots(op.getUpdateSlots()) {}

UpdatedElement AdagradRule::apply(const FloatMath &math, Value grad,
                                  Value param, ArrayRef<Value> states) const {
  Value accum =
      updateSlots ? math.add(states[0], math.square(grad)) : states[0];
  // param -= lr * grad / sqrt(accum).
  Value scaledGrad = math.mul(lr, grad);
  Value step = math.div(scaledGrad, math.sqrt(accum));
  return {math.sub(param, step), accum};
}

RMSPropRule::RMSPropRule(const FloatMath &outside, Op op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())),
      decay(outside.cast(adaptor.getDecay())),
      oneMinusDecay(outside.oneMinus(decay)),
      momentum(outside.cast(adaptor.getMomentum())),
      epsilon(outside.cast(adaptor.getEpsilon())), centered(op.getCentered()) {}

UpdatedElement RMSPropRule::apply(const FloatMath &math, Value grad,
                                  Value param, ArrayRef<Value> states) const {
  // States: [mean_grad,] mean_square, moment.
  ArrayRef<Value> uncentered = states.drop_front(centered ? 1 : 0);
  Value decayedSquare = math.mul(decay, uncentered[0]);
  Value squareContribution = math.mul(oneMinusDecay, math.square(grad));
  Value meanSquare = math.add(decayedSquare, squareContribution);
  UpdatedElement result = {Value()};
  Value variance = meanSquare;
  if (centered) {
    Value decayedGrad = math.mul(decay, states[0]);
    Value gradContribution = math.mul(oneMinusDecay, grad);
    Value meanGrad = math.add(decayedGrad, gradContribution);
    result.push_back(meanGrad);
    variance = math.sub(meanSquare, math.square(meanGrad));
  }
  // mom = momentum * mom + lr * g / sqrt(ms [- mg^2] + epsilon).
  Value scaledGrad = math.mul(lr, grad);
  Value denominator = math.add(variance, epsilon);
  Value step = math.div(scaledGrad, math.sqrt(denominator));
  Value moment = math.add(math.mul(momentum, uncentered[1]), step);
  Value newParam = math.sub(param, moment);
  if (centered) {
    // MindSpore's centered kernel leaves the moment and the parameter of an
    // element alone when ms - mg^2 + epsilon <= 0.
    Value positive = math.greater(denominator, math.constant(0.0));
    moment = math.select(positive, moment, uncentered[1]);
    newParam = math.select(positive, newParam, param);
  }
  result[0] = newParam;
  result.append({meanSquare, moment});
  return result;
}

FTRLRule::FTRLRule(const FloatMath &outside, Op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())),
      negLrPower(outside.neg(outside.cast(adaptor.getLrPower()))),
      l1(outside.cast(adaptor.getL1())) {
  Value two = outside.constant(2.0);
  Value l2 = outside.cast(adaptor.getL2());
  twoL2 = outside.mul(two, l2);
}

UpdatedElement FTRLRule::apply(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const {
  Value accum = states[0], linear = states[1];
  Value newAccum = math.add(accum, math.square(grad));
  Value newPower = math.pow(newAccum, negLrPower);
  Value oldPower = math.pow(accum, negLrPower);
  // linear += g - (a'^(-lr_power) - accum^(-lr_power)) / lr * param.
  Value sigma = math.div(math.sub(newPower, oldPower), lr);
  Value newLinear = math.add(linear, math.sub(grad, math.mul(sigma, param)));
  // param = |linear| > l1 ? (sign(linear) * l1 - linear) /
  //                         (a'^(-lr_power) / lr + 2 * l2) : 0.
  // copysign(l1, linear) is sign(linear) * l1 wherever it is selected
  // (there |linear| > l1 >= 0, so linear is neither 0 nor NaN).
  Value quadratic = math.add(math.div(newPower, lr), twoL2);
  Value shrunk =
      math.div(math.sub(math.copySign(l1, newLinear), newLinear), quadratic);
  Value outsideL1 = math.greater(math.abs(newLinear), l1);
  Value zero = math.constant(0.0);
  Value newParam = math.select(outsideL1, shrunk, zero);
  return {newParam, newAccum, newLinear};
}

ProximalAdagradRule::ProximalAdagradRule(const FloatMath &outside, Op,
                                         Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())), l1(outside.cast(adaptor.getL1())),
      l2(outside.cast(adaptor.getL2())), one(outside.constant(1.0)) {}

UpdatedElement ProximalAdagradRule::apply(const FloatMath &math, Value grad,
                                          Value param,
                                          ArrayRef<Value> states) const {
  // MindSpore's ApplyProximalAdagrad kernels (CPU and GPU) shrink with the
  // per-element step lr / sqrt(accum), not with lr as the op's docstring
  // writes; users get the kernel's result, so it is followed here.
  Value accum = math.add(states[0], math.square(grad));
  Value stepSize = math.div(lr, math.sqrt(accum));
  Value v = math.sub(param, math.mul(grad, stepSize));
  // sign(v) * max(|v| - step * l1, 0) / (1 + step * l2); the max is >= 0 (or
  // NaN), so copysign equals sign(v) * max (both are 0 when v is 0). With
  // l1 = 0 this is v / (1 + step * l2), the kernel's other branch.
  Value shrunk = math.sub(math.abs(v), math.mul(stepSize, l1));
  Value zero = math.constant(0.0);
  Value magnitude = math.max(shrunk, zero);
  Value denominator = math.add(one, math.mul(l2, stepSize));
  return {math.div(math.copySign(magnitude, v), denominator), accum};
}

//===----------------------------------------------------------------------===//
// AdaMax, Adadelta, ASGD, Rprop
//===----------------------------------------------------------------------===//

AdaMaxRule::AdaMaxRule(const FloatMath &outside, Op, Op::Adaptor adaptor)
    : moments(outside, adaptor.getBeta1(), adaptor.getBeta2()),
      eps(outside.cast(adaptor.getEps())) {
  // lr / (1 - beta1^t).
  Value t = outside.fromSignedInt(adaptor.getStep());
  Value lr = outside.cast(adaptor.getLr());
  Value correction1 = outside.oneMinus(outside.pow(moments.getBeta1(), t));
  stepSize = outside.div(lr, correction1);
}

UpdatedElement AdaMaxRule::apply(const FloatMath &math, Value grad, Value param,
                                 ArrayRef<Value> states) const {
  Value m = moments.updateFirst(math, grad, states[0]);
  Value decayedV = math.mul(moments.getBeta2(), states[1]);
  Value gradMagnitude = math.abs(grad);
  Value v = math.max(decayedV, gradMagnitude);
  // param -= lr / (1 - beta1^t) * m / (v + eps).
  Value scaledM = math.mul(stepSize, m);
  Value denominator = math.add(v, eps);
  Value step = math.div(scaledM, denominator);
  return {math.sub(param, step), m, v};
}

AdadeltaRule::AdadeltaRule(const FloatMath &outside, Op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())), rho(outside.cast(adaptor.getRho())),
      oneMinusRho(outside.oneMinus(rho)),
      epsilon(outside.cast(adaptor.getEpsilon())) {}

UpdatedElement AdadeltaRule::apply(const FloatMath &math, Value grad,
                                   Value param, ArrayRef<Value> states) const {
  Value decayedAccum = math.mul(rho, states[0]);
  Value gradContribution = math.mul(oneMinusRho, math.square(grad));
  Value accum = math.add(decayedAccum, gradContribution);
  // u = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g.
  Value updateRms = math.sqrt(math.add(states[1], epsilon));
  Value gradRms = math.sqrt(math.add(accum, epsilon));
  Value scale = math.div(updateRms, gradRms);
  Value update = math.mul(scale, grad);
  Value decayedUpdate = math.mul(rho, states[1]);
  Value updateContribution = math.mul(oneMinusRho, math.square(update));
  Value accumUpdate = math.add(decayedUpdate, updateContribution);
  return {math.sub(param, math.mul(lr, update)), accum, accumUpdate};
}

ASGDRule::ASGDRule(const FloatMath &outside, Op, Op::Adaptor adaptor) {
  Value lr = outside.cast(adaptor.getLr());
  Value lambd = outside.cast(adaptor.getLambd());
  Value alpha = outside.cast(adaptor.getAlpha());
  Value t0 = outside.cast(adaptor.getT0());
  Value one = outside.constant(1.0);
  Value tMinusOne = outside.sub(outside.fromSignedInt(adaptor.getStep()), one);
  // eta = lr at t == 1, else lr / (1 + lambd * lr * (t - 1))^alpha.
  Value base = outside.add(one, outside.mul(outside.mul(lambd, lr), tMinusOne));
  Value decayed = outside.div(lr, outside.pow(base, alpha));
  eta = outside.select(isFirstUpdate(outside, adaptor.getStep()), lr, decayed);
  // mu = 1 / max(1, t - 1 - t0).
  mu = outside.div(one, outside.max(one, outside.sub(tMinusOne, t0)));
  muIsOne = outside.equal(mu, one);
  paramScale = outside.oneMinus(outside.mul(lambd, eta));
}

UpdatedElement ASGDRule::apply(const FloatMath &math, Value grad, Value param,
                               ArrayRef<Value> states) const {
  // param = param * (1 - lambd * eta) - eta * g.
  Value scaledParam = math.mul(param, paramScale);
  Value step = math.mul(eta, grad);
  Value newParam = math.sub(scaledParam, step);
  // ax = mu == 1 ? param : ax + mu * (param - ax).
  Value ax = states[0];
  Value averaged = math.add(ax, math.mul(mu, math.sub(newParam, ax)));
  return {newParam, math.select(muIsOne, newParam, averaged)};
}

RpropRule::RpropRule(const FloatMath &outside, Op, Op::Adaptor adaptor)
    : lr(outside.cast(adaptor.getLr())),
      etaminus(outside.cast(adaptor.getEtaminus())),
      etaplus(outside.cast(adaptor.getEtaplus())),
      minStep(outside.cast(adaptor.getMinStep())),
      maxStep(outside.cast(adaptor.getMaxStep())) {
  Value t = outside.fromSignedInt(adaptor.getStep());
  Value one = outside.constant(1.0);
  isFirstStep = outside.equal(t, one);
}

UpdatedElement RpropRule::apply(const FloatMath &math, Value grad, Value param,
                                ArrayRef<Value> states) const {
  // MindSpore sets the step size to the learning rate at the first update
  // and clips every element's step size to [min_step, max_step].
  Value prev = states[0];
  Value stepSize = math.select(isFirstStep, lr, states[1]);
  Value zero = math.constant(0.0);
  Value product = math.mul(grad, prev);
  Value grows = math.greater(product, zero);
  Value shrinks = math.less(product, zero);
  Value factor = math.select(grows, etaplus,
                             math.select(shrinks, etaminus,
                                         math.constant(1.0)));
  Value newStepSize =
      math.min(math.max(math.mul(stepSize, factor), minStep), maxStep);
  Value newGrad = math.select(shrinks, zero, grad);
  // param -= sign(g) * step_size; prev = g.
  Value newParam = math.sub(param, math.mul(math.sign(newGrad), newStepSize));
  return {newParam, newGrad, newStepSize};
}
