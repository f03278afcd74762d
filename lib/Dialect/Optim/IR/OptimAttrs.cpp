//===- OptimAttrs.cpp - optim attributes ----------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace mlir;
using namespace mlir::optim;

//===----------------------------------------------------------------------===//
// Parameter parsers and printers
//===----------------------------------------------------------------------===//

/// The length of the decimal number at `text` as users of the frameworks
/// write one (`0.001`, `1e-3`, `1`, `-2.5E+4`), 0 if there is none.
static size_t scanDecimal(const char *text) {
  const char *p = text;
  if (*p == '-')
    ++p;
  const char *digits = p;
  while (std::isdigit(static_cast<unsigned char>(*p)))
    ++p;
  if (p == digits)
    return 0;
  if (*p == '.') {
    ++p;
    while (std::isdigit(static_cast<unsigned char>(*p)))
      ++p;
  }
  if (*p == 'e' || *p == 'E') {
    const char *exponent = p + 1;
    if (*exponent == '-' || *exponent == '+')
      ++exponent;
    if (std::isdigit(static_cast<unsigned char>(*exponent))) {
      p = exponent;
      while (std::isdigit(static_cast<unsigned char>(*p)))
        ++p;
    }
  }
  return p - text;
}

FailureOr<double> mlir::optim::detail::parseF64(AsmParser &parser) {
  // MLIR's lexer needs a '.' in a float and splits `1e-3` into the integer
  // 1, the identifier `e` and -3: read the number from the text, then step
  // over the tokens it spans.
  SMLoc start = parser.getCurrentLocation();
  const char *text = start.getPointer();
  // MLIR's hexadecimal bit pattern (how printF64 writes inf and NaN).
  if (StringRef(text).starts_with("0x")) {
    double value;
    if (parser.parseFloat(value))
      return failure();
    return value;
  }
  size_t length = scanDecimal(text);
  if (length == 0)
    return parser.emitError(start,
                            "expected a number (such as 0.001, 1e-3 or 1)");
  const char *end = text + length;
  // The number ends where a word would not go on (not `12abc`).
  if (std::isalnum(static_cast<unsigned char>(*end)) || *end == '_' ||
      *end == '.')
    return parser.emitError(start,
                            "expected a number (such as 0.001, 1e-3 or 1)");
  double value = std::strtod(std::string(text, length).c_str(), nullptr);
  // The first token: an MLIR float where the mantissa has a '.' (`0.01`,
  // `-2.5E+4`), else an integer (`1`, the `-1` of `-1e-3`).
  StringRef mantissa(text, length);
  mantissa = mantissa.take_until([](char c) { return c == 'e' || c == 'E'; });
  if (mantissa.contains('.')) {
    double token;
    if (parser.parseFloat(token))
      return failure();
  } else {
    APInt integer;
    if (parser.parseInteger(integer))
      return failure();
  }
  while (parser.getCurrentLocation().getPointer() < end) {
    StringRef keyword;
    int64_t integer;
    if (succeeded(parser.parseOptionalKeyword(&keyword)) ||
        succeeded(parser.parseOptionalPlus()))
      continue;
    OptionalParseResult parsed = parser.parseOptionalInteger(integer);
    if (parsed.has_value() && succeeded(*parsed))
      continue;
    return parser.emitError(parser.getCurrentLocation(),
                            "unexpected token in a number");
  }
  // The tokens must end where the number does (not `0x10`, `1.5abc`).
  for (const char *p = end; p < parser.getCurrentLocation().getPointer(); ++p)
    if (!std::isspace(static_cast<unsigned char>(*p)))
      return parser.emitError(start,
                              "expected a number (such as 0.001, 1e-3 or 1)");
  return value;
}

bool mlir::optim::detail::startsWithNumber(AsmParser &parser) {
  return scanDecimal(parser.getCurrentLocation().getPointer()) > 0;
}

FailureOr<APFloat> mlir::optim::detail::parseAPFloat(AsmParser &parser) {
  FailureOr<double> value = parseF64(parser);
  if (failed(value))
    return failure();
  return APFloat(*value);
}

/// Prints the shortest decimal form that reads back to the same double, in
/// MLIR's float-literal syntax (which needs a '.').
void mlir::optim::detail::printF64(AsmPrinter &printer, double value) {
  if (!std::isfinite(value)) {
    printer.printFloat(llvm::APFloat(value));
    return;
  }
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  std::string text(buffer);
  if (text.find_first_of(".") == std::string::npos) {
    size_t exponent = text.find_first_of("eE");
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  printer << text;
}

FailureOr<bool> mlir::optim::detail::parseBool(AsmParser &parser) {
  if (succeeded(parser.parseOptionalKeyword("true")))
    return true;
  if (succeeded(parser.parseOptionalKeyword("false")))
    return false;
  return parser.emitError(parser.getCurrentLocation(),
                          "expected 'true' or 'false'");
}

FailureOr<DenseF64ArrayAttr>
mlir::optim::detail::parseF64Array(AsmParser &parser) {
  SmallVector<double> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        if (static_cast<int64_t>(values.size()) >= kMaxLearningRateListLength)
          return LogicalResult(parser.emitError(parser.getCurrentLocation())
                             << "too many values: a list has at most 2^20 ("
                             << kMaxLearningRateListLength << ")");
        FailureOr<double> value = parseF64(parser);
        if (failed(value))
          return failure();
        values.push_back(*value);
        return success();
      }))
    return failure();
  return DenseF64ArrayAttr::get(parser.getContext(), values);
}

void mlir::optim::detail::printF64Array(AsmPrinter &printer, ArrayRef<double> values) {
  printer << '[';
  llvm::interleaveComma(values, printer,
                        [&](double value) { printF64(printer, value); });
  printer << ']';
}

FailureOr<SmallVector<int64_t>>
mlir::optim::detail::parseI64Array(AsmParser &parser) {
  SmallVector<int64_t> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        if (static_cast<int64_t>(values.size()) >= kMaxLearningRateListLength)
          return LogicalResult(parser.emitError(parser.getCurrentLocation())
                             << "too many values: a list has at most 2^20 ("
                             << kMaxLearningRateListLength << ")");
        int64_t value;
        if (parser.parseInteger(value))
          return failure();
        values.push_back(value);
        return success();
      }))
    return failure();
  return values;
}

//===----------------------------------------------------------------------===//
// Learning-rate helpers
//===----------------------------------------------------------------------===//

namespace {
double f(const APFloat &value) { return value.convertToDouble(); }

LogicalResult checkPositive(function_ref<InFlightDiagnostic()> emitError,
                            StringRef name, double value) {
  if (!(value > 0.0))
    return emitError() << "'" << name << "' must be positive, got " << value;
  return success();
}

LogicalResult checkNonNegative(function_ref<InFlightDiagnostic()> emitError,
                               StringRef name, double value) {
  if (!(value >= 0.0))
    return emitError() << "'" << name << "' must be non-negative, got "
                       << value;
  return success();
}
} // namespace

static LogicalResult
verifyDecaySchedule(function_ref<InFlightDiagnostic()> emitError,
                    double learningRate, double decayRate, int64_t decaySteps) {
  if (failed(checkPositive(emitError, "learning_rate", learningRate)) ||
      failed(checkPositive(emitError, "decay_rate", decayRate)))
    return failure();
  if (decaySteps <= 0)
    return emitError() << "'decay_steps' must be positive, got " << decaySteps;
  return success();
}

LogicalResult
ExponentialDecayAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                             APFloat learningRate, APFloat decayRate,
                             int64_t decaySteps, bool) {
  return verifyDecaySchedule(emitError, f(learningRate), f(decayRate),
                             decaySteps);
}

LogicalResult
NaturalExpDecayAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                            APFloat learningRate, APFloat decayRate,
                            int64_t decaySteps, bool) {
  return verifyDecaySchedule(emitError, f(learningRate), f(decayRate),
                             decaySteps);
}

LogicalResult
InverseDecayAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         APFloat learningRate, APFloat decayRate,
                         int64_t decaySteps, bool) {
  return verifyDecaySchedule(emitError, f(learningRate), f(decayRate),
                             decaySteps);
}

LogicalResult
CosineDecayAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        APFloat minLrValue, APFloat maxLrValue,
                        int64_t decaySteps) {
  double minLr = f(minLrValue), maxLr = f(maxLrValue);
  if (failed(checkNonNegative(emitError, "min_lr", minLr)) ||
      failed(checkPositive(emitError, "max_lr", maxLr)))
    return failure();
  if (minLr >= maxLr)
    return emitError() << "'min_lr' (" << minLr
                       << ") must be smaller than 'max_lr' (" << maxLr << ")";
  if (decaySteps <= 0)
    return emitError() << "'decay_steps' must be positive, got " << decaySteps;
  return success();
}

LogicalResult
PolynomialDecayAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                            APFloat learningRateValue,
                            APFloat endLearningRateValue, int64_t decaySteps,
                            APFloat powerValue, bool) {
  double learningRate = f(learningRateValue);
  double endLearningRate = f(endLearningRateValue), power = f(powerValue);
  if (failed(checkPositive(emitError, "learning_rate", learningRate)) ||
      failed(checkNonNegative(emitError, "end_learning_rate",
                              endLearningRate)) ||
      failed(checkPositive(emitError, "power", power)))
    return failure();
  if (decaySteps <= 0)
    return emitError() << "'decay_steps' must be positive, got " << decaySteps;
  return success();
}

LogicalResult WarmUpAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 APFloat learningRate, int64_t warmupSteps) {
  if (failed(checkPositive(emitError, "learning_rate", f(learningRate))))
    return failure();
  if (warmupSteps <= 0)
    return emitError() << "'warmup_steps' must be positive, got "
                       << warmupSteps;
  return success();
}

LogicalResult
DynamicLossScaleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                             APFloat growthFactor, APFloat backoffFactor,
                             int64_t growthInterval, APFloat minScale) {
  double growth = f(growthFactor), backoff = f(backoffFactor),
         least = f(minScale);
  if (!(growth >= 1.0) || std::isinf(growth))
    return emitError() << "'growth_factor' must be at least 1 and finite, got "
                       << growth;
  if (!(backoff > 0.0 && backoff <= 1.0))
    return emitError() << "'backoff_factor' must be in (0, 1], got "
                       << backoff;
  if (growthInterval <= 0)
    return emitError() << "'growth_interval' must be positive, got "
                       << growthInterval;
  if (!(least >= 0.0) || std::isinf(least))
    return emitError() << "'min_scale' must be non-negative and finite, got "
                       << least;
  return success();
}

LogicalResult PerStepAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  DenseF64ArrayAttr valuesAttr) {
  ArrayRef<double> values = valuesAttr.asArrayRef();
  if (values.empty())
    return emitError() << "a per-step learning-rate list must not be empty";
  if (static_cast<int64_t>(values.size()) > kMaxLearningRateListLength)
    return emitError() << "a per-step learning-rate list has at most 2^20 ("
                       << kMaxLearningRateListLength << ") values, got "
                       << values.size();
  for (auto [i, value] : llvm::enumerate(values))
    if (!(value >= 0.0))
      return emitError() << "learning rate at step " << i
                         << " must be non-negative, got " << value;
  return success();
}

std::optional<int64_t> PerStepAttr::getListLength() const {
  return static_cast<int64_t>(getValues().size());
}

LogicalResult
PiecewiseConstantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              ArrayRef<int64_t> milestones,
                              DenseF64ArrayAttr valuesAttr) {
  ArrayRef<double> values = valuesAttr.asArrayRef();
  if (milestones.empty() || milestones.size() != values.size())
    return emitError() << "'milestones' and 'values' must be non-empty and of "
                          "the same length, got "
                       << milestones.size() << " and " << values.size();
  if (static_cast<int64_t>(values.size()) > kMaxLearningRateListLength)
    return emitError() << "a piecewise learning rate has at most 2^20 ("
                       << kMaxLearningRateListLength << ") pieces, got "
                       << values.size();
  int64_t previous = 0;
  for (int64_t milestone : milestones) {
    if (milestone <= previous)
      return emitError()
             << "'milestones' must be positive and strictly increasing";
    previous = milestone;
  }
  for (double value : values)
    if (!(value >= 0.0))
      return emitError() << "learning rates must be non-negative, got "
                         << value;
  return success();
}

LogicalResult
mlir::optim::verifyLearningRate(function_ref<InFlightDiagnostic()> emitError,
                                Attribute attr) {
  if (auto floatAttr = dyn_cast<FloatAttr>(attr)) {
    if (!(floatAttr.getValueAsDouble() >= 0.0))
      return emitError() << "learning rate must be non-negative, got "
                         << floatAttr.getValueAsDouble();
    return success();
  }
  if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    if (dense.getType().getRank() > 1)
      return emitError() << "learning-rate tensor must have rank 0 or 1, got "
                            "rank "
                         << dense.getType().getRank();
    // The element count before any value is read: a splat may declare
    // billions.
    std::optional<int64_t> count =
        getCheckedNumElements(dense.getType().getShape());
    if (!count)
      return emitError() << "learning-rate tensor must have a static shape, "
                            "got "
                         << dense.getType();
    if (*count == 0)
      return emitError() << "a per-step learning-rate list must not be empty";
    if (*count > kMaxLearningRateListLength)
      return emitError() << "a per-step learning-rate list has at most 2^20 ("
                         << kMaxLearningRateListLength << ") values, got "
                         << *count;
    if (dense.isSplat()) {
      APFloat value = dense.getSplatValue<APFloat>();
      if ((value.isNegative() && !value.isZero()) || value.isNaN())
        return emitError() << "learning rate must be non-negative, got "
                           << value.convertToDouble();
      return success();
    }
    for (const APFloat &value : dense.getValues<APFloat>())
      if ((value.isNegative() && !value.isZero()) || value.isNaN())
        return emitError() << "learning rate must be non-negative, got "
                           << value.convertToDouble();
    return success();
  }
  if (isa<LearningRateAttrInterface>(attr))
    return success();
  return emitError() << "expected a learning rate (a float, a dense float "
                        "tensor, a per-step list or a schedule), got "
                     << attr;
}

std::optional<int64_t> mlir::optim::getLearningRateListLength(Attribute attr) {
  if (auto dense = dyn_cast<DenseFPElementsAttr>(attr))
    if (dense.getType().getRank() == 1)
      return dense.getNumElements();
  if (auto lr = dyn_cast<LearningRateAttrInterface>(attr))
    return lr.getListLength();
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// RuleAttr
//===----------------------------------------------------------------------===//

const RuleSpec &RuleAttr::getSpec() const { return getRuleSpec(getKind()); }

double RuleAttr::getHyperParam(StringRef name) const {
  if (auto value = getValues().getAs<FloatAttr>(name))
    return value.getValueAsDouble();
  const HyperParamSpec *hyper = getSpec().findHyperParam(name);
  assert(hyper && "unknown hyper-parameter");
  return hyper->defaultValue;
}

bool RuleAttr::getOption(StringRef name) const {
  if (auto value = getValues().getAs<BoolAttr>(name))
    return value.getValue();
  const OptionSpec *option = getSpec().findOption(name);
  assert(option && "unknown option");
  return option->defaultValue;
}

Attribute RuleAttr::parse(AsmParser &parser, Type) {
  MLIRContext *ctx = parser.getContext();
  StringRef kindName;
  SMLoc kindLoc = parser.getCurrentLocation();
  if (parser.parseLess() || parser.parseKeyword(&kindName))
    return {};
  std::optional<RuleKind> kind = symbolizeRuleKind(kindName);
  if (!kind) {
    parser.emitError(kindLoc) << "unknown update rule '" << kindName << "'";
    return {};
  }
  const RuleSpec &spec = getRuleSpec(*kind);
  NamedAttrList values;
  while (succeeded(parser.parseOptionalComma())) {
    StringRef key;
    SMLoc keyLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return {};
    if (values.get(key)) {
      parser.emitError(keyLoc) << "'" << key << "' is given twice";
      return {};
    }
    if (succeeded(parser.parseOptionalKeyword("true"))) {
      values.set(key, BoolAttr::get(ctx, true));
    } else if (succeeded(parser.parseOptionalKeyword("false"))) {
      values.set(key, BoolAttr::get(ctx, false));
    } else {
      if (!detail::startsWithNumber(parser)) {
        parser.emitError(parser.getCurrentLocation(),
                         "expected true, false or a number (such as 0.001, "
                         "1e-3 or 1)");
        return {};
      }
      FailureOr<double> value = detail::parseF64(parser);
      if (failed(value))
        return {};
      values.set(key, FloatAttr::get(Float64Type::get(ctx), *value));
    }
  }
  if (parser.parseGreater())
    return {};
  // Fill in MindSpore's defaults so that equal rules are equal attributes.
  for (const HyperParamSpec &hyper : spec.hyperParams)
    if (!values.get(hyper.name))
      values.set(hyper.name, FloatAttr::get(Float64Type::get(ctx),
                                            hyper.defaultValue));
  for (const OptionSpec &option : spec.options)
    if (!values.get(option.name))
      values.set(option.name, BoolAttr::get(ctx, option.defaultValue));
  return parser.getChecked<RuleAttr>(ctx, *kind,
                                     values.getDictionary(ctx));
}

void RuleAttr::print(AsmPrinter &printer) const {
  const RuleSpec &spec = getSpec();
  printer << '<' << stringifyRuleKind(getKind());
  for (const HyperParamSpec &hyper : spec.hyperParams) {
    printer << ", " << hyper.name << " = ";
    optim::detail::printF64(printer, getHyperParam(hyper.name));
  }
  for (const OptionSpec &option : spec.options)
    printer << ", " << option.name << " = "
            << (getOption(option.name) ? "true" : "false");
  printer << '>';
}

LogicalResult RuleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               RuleKind kind, DictionaryAttr values) {
  const RuleSpec &spec = getRuleSpec(kind);
  for (NamedAttribute entry : values) {
    StringRef key = entry.getName().strref();
    if (const HyperParamSpec *hyper = spec.findHyperParam(key)) {
      auto value = dyn_cast<FloatAttr>(entry.getValue());
      if (!value)
        return emitError() << "hyper-parameter '" << key << "' of "
                           << spec.className << " must be a float";
      double x = value.getValueAsDouble();
      if (!isInRange(hyper->range, x))
        return emitError() << "hyper-parameter '" << key << "' of "
                           << spec.className << " must be "
                           << describeRange(hyper->range) << ", got " << x;
      continue;
    }
    if (spec.findOption(key)) {
      if (!isa<BoolAttr>(entry.getValue()))
        return emitError() << "option '" << key << "' of " << spec.className
                           << " must be true or false";
      continue;
    }
    return emitError() << "unknown hyper-parameter '" << key << "' for "
                       << spec.className;
  }
  // Constraints between values, as MindSpore's constructors check them.
  auto get = [&](StringRef name) {
    auto value = values.getAs<FloatAttr>(name);
    return value ? value.getValueAsDouble()
                 : spec.findHyperParam(name)->defaultValue;
  };
  if (kind == RuleKind::SGD) {
    auto nesterov = values.getAs<BoolAttr>("nesterov");
    if (nesterov && nesterov.getValue() &&
        (get("momentum") <= 0.0 || get("dampening") != 0.0))
      return emitError() << "SGD with nesterov requires momentum > 0 and "
                            "dampening == 0";
  }
  if (kind == RuleKind::Rprop) {
    double minStep = get("min_step"), maxStep = get("max_step");
    if (minStep > maxStep)
      return emitError() << "Rprop's 'min_step' (" << minStep
                         << ") must not exceed 'max_step' (" << maxStep << ")";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// TableGen'd definitions
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/OptimAttrInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "optim/Dialect/Optim/IR/OptimAttrs.cpp.inc"

void OptimDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "optim/Dialect/Optim/IR/OptimAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// The table of schedules (generated from OptimAttrs.td)
//===----------------------------------------------------------------------===//

namespace mlir::optim {
#include "optim/Dialect/Optim/IR/OptimSchedules.cpp.inc"
} // namespace mlir::optim

ArrayRef<optim::ScheduleSpec> optim::getScheduleSpecs() {
  return kScheduleSpecs;
}
