//===- optim-tblgen.cpp - generators from the optim rule records ----------===//
//
// Reads OptimRules.td (one `Optim_Rule` record per update rule, see there)
// and writes:
//
//   -gen-rule-decls  the HyperRange enum (Rules.h)
//   -gen-rule-defs   isInRange, describeRange and the rule table (Rules.cpp),
//                    which the Python layer reads (`_optim.rule_specs()`)
//   -gen-rule-docs   the reference page of the rules (docs/Rules.md)
//
// and, from OptimAttrs.td, the table of learning-rate schedules
// (`-gen-schedule-table`: each `Optim_ScheduleAttr`'s mnemonic and
// parameters, in order, with their kinds) that the Python layer reads.
//
//===----------------------------------------------------------------------===//

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/TableGen/Error.h"
#include "llvm/TableGen/Main.h"
#include "llvm/TableGen/Record.h"
#include "llvm/TableGen/TableGenBackend.h"

#include <vector>

using namespace llvm;

namespace {

enum class Action { RuleDecls, RuleDefs, RuleDocs, ScheduleTable };

cl::opt<Action> action(
    cl::desc("What to generate:"),
    cl::values(
        clEnumValN(Action::RuleDecls, "gen-rule-decls",
                   "the HyperRange enum"),
        clEnumValN(Action::RuleDefs, "gen-rule-defs",
                   "range checks and the table of update rules"),
        clEnumValN(Action::RuleDocs, "gen-rule-docs",
                   "the reference page of the update rules"),
        clEnumValN(Action::ScheduleTable, "gen-schedule-table",
                   "the table of learning-rate schedules")));

StringRef rangeName(const Record *range) {
  StringRef name = range->getName();
  name.consume_front("Optim_");
  return name;
}

/// The ranges, in name order.
std::vector<const Record *> getRanges(const RecordKeeper &records) {
  ArrayRef<const Record *> ranges =
      records.getAllDerivedDefinitions("Optim_HyperRange");
  return {ranges.begin(), ranges.end()};
}

/// The rules in `index` order, checked to be 0, 1, 2, ...
std::vector<const Record *> getRules(const RecordKeeper &records) {
  ArrayRef<const Record *> all =
      records.getAllDerivedDefinitions("Optim_Rule");
  std::vector<const Record *> rules(all.begin(), all.end());
  llvm::sort(rules, [](const Record *a, const Record *b) {
    return a->getValueAsInt("index") < b->getValueAsInt("index");
  });
  for (auto [i, rule] : llvm::enumerate(rules))
    if (rule->getValueAsInt("index") != static_cast<int64_t>(i))
      PrintFatalError(rule->getLoc(),
                      "rule indices must be 0, 1, 2, ... without gaps; " +
                          rule->getName() + " has " +
                          Twine(rule->getValueAsInt("index")) +
                          ", expected " + Twine(i));
  return rules;
}

std::string quote(StringRef text) { return "\"" + text.str() + "\""; }

/// A bound as a C++ double literal ("1" -> "1.0").
std::string literal(StringRef bound) {
  std::string text = bound.str();
  if (text.find_first_of(".eE") == std::string::npos)
    text += ".0";
  return text;
}

/// "in [0, 1)", "in (0, inf)", "any value".
std::string rangeText(const Record *range) {
  StringRef lower = range->getValueAsString("lower");
  StringRef upper = range->getValueAsString("upper");
  if (lower.empty() && upper.empty())
    return "any value";
  std::string text = "in ";
  if (lower.empty())
    text += "(-inf";
  else
    text += (range->getValueAsBit("lowerClosed") ? "[" : "(") + lower.str();
  text += ", ";
  if (upper.empty())
    text += "inf)";
  else
    text += upper.str() + (range->getValueAsBit("upperClosed") ? "]" : ")");
  return text;
}

/// The C++ check of `x` against the range.
std::string rangePredicate(const Record *range) {
  SmallVector<std::string> terms;
  StringRef lower = range->getValueAsString("lower");
  StringRef upper = range->getValueAsString("upper");
  if (!lower.empty())
    terms.push_back((range->getValueAsBit("lowerClosed") ? "x >= " : "x > ") +
                    literal(lower));
  if (!upper.empty())
    terms.push_back((range->getValueAsBit("upperClosed") ? "x <= " : "x < ") +
                    literal(upper));
  return terms.empty() ? "true" : llvm::join(terms, " && ");
}

/// A description's text without its common indentation.
std::string dedent(StringRef text) {
  SmallVector<StringRef> lines;
  text.split(lines, '\n');
  size_t indent = std::string::npos;
  for (StringRef line : lines)
    if (!line.trim().empty())
      indent = std::min(indent, line.size() - line.ltrim().size());
  std::string result;
  for (StringRef line : lines) {
    if (line.trim().empty()) {
      result += "\n";
      continue;
    }
    result += line.drop_front(std::min(indent, line.size())).rtrim().str();
    result += "\n";
  }
  return StringRef(result).trim().str();
}

/// `text` as a C++ raw string literal.
std::string rawLiteral(const Record *rule, StringRef field, StringRef text) {
  if (text.contains(")optim\""))
    PrintFatalError(rule->getLoc(), "`" + field + "` may not hold )optim\"");
  return ("R\"optim(" + text + ")optim\"").str();
}

/// Refuses `genPythonClasses` on a rule whose classes the front ends cannot
/// build from the table. Both take the learning rate, the operand
/// hyper-parameters and the weight decay, and start every state at a
/// constant; torch's class gathers `beta1`, `beta2`, ... into `betas`.
/// A torch-only class (`genNNClass = 0`) may also have options (boolean
/// arguments, or on for a positive hyper-parameter), init-only
/// hyper-parameters, states that start from a hyper-parameter or need an
/// option, hyper-parameters the torch front end computes, and tuple
/// arguments: `optim_mlir.nn`'s generated classes have none of these.
void checkPythonClasses(const Record *rule) {
  auto refuse = [&](const Twine &why) {
    PrintFatalError(rule->getLoc(), "genPythonClasses: " + why);
  };
  bool nn = rule->getValueAsBit("genNNClass");
  const char *torchOnly = " (only a torch class, genNNClass = 0, may)";
  if (rule->getValueAsBit("sparseGrad") || rule->getValueAsInt("numNorms"))
    refuse("the rule must be dense and without norms");
  if (rule->getValueAsString("defaultLearningRate").trim().empty())
    refuse("the rule needs a `defaultLearningRate`");
  if (rule->getValueAsString("classDescription").trim().empty())
    refuse("the rule needs a `classDescription`");
  auto hypers = rule->getValueAsListOfDefs("hyperParams");
  auto findHyper = [&](StringRef name) -> const Record * {
    for (const Record *hyper : hypers)
      if (hyper->getValueAsString("name") == name)
        return hyper;
    return nullptr;
  };
  for (const Record *option : rule->getValueAsListOfDefs("options")) {
    if (nn)
      refuse(Twine("the rule may not have options") + torchOnly);
    StringRef positive = option->getValueAsString("positive");
    const Record *hyper = positive.empty() ? nullptr : findHyper(positive);
    if (!positive.empty() &&
        (!hyper || hyper->getValueAsBit("initOnly") ||
         hyper->getValueAsBit("computed")))
      refuse("option " + option->getValueAsString("name") +
             " follows `" + positive +
             "`, which must be an operand hyper-parameter set by the user");
  }
  bool torchClass = rule->getValueAsBit("genTorchClass");
  if (!torchClass && !rule->getValueAsBit("genNNClass"))
    refuse("genNNClass and genTorchClass are both off: no class to build");
  unsigned betas = 0;
  for (const Record *hyper : hypers) {
    StringRef name = hyper->getValueAsString("name");
    bool computed = hyper->getValueAsBit("computed");
    StringRef tuple = hyper->getValueAsString("tupleArg");
    if (nn && hyper->getValueAsBit("initOnly"))
      refuse("hyper-parameter " + name + " may not be init only" + torchOnly);
    if (nn && computed)
      refuse("hyper-parameter " + name + " may not be computed" + torchOnly);
    if (nn && !tuple.empty())
      refuse("hyper-parameter " + name + " may not be in a tuple argument" +
             torchOnly);
    if (computed && (!tuple.empty() || hyper->getValueAsBit("initOnly")))
      refuse("computed hyper-parameter " + name +
             " can be neither init only nor in a tuple argument");
    if (llvm::is_contained({"params", "learning_rate", "lr", "betas",
                            "weight_decay", "loss_scale", "target", "maximize"},
                           name) ||
        (!tuple.empty() && findHyper(tuple)))
      refuse("hyper-parameter " + name +
             " has the name of a constructor argument");
    // torch gathers beta1, beta2, ... into `betas`; a rule without a torch
    // class names its hyper-parameters freely.
    if (torchClass && tuple.empty() && name.starts_with("beta") &&
        name != ("beta" + Twine(++betas)).str())
      refuse("hyper-parameter " + name + " must be beta" + Twine(betas) +
             " (torch's betas are beta1, beta2, ... in order)");
  }
  for (const Record *state : rule->getValueAsListOfDefs("states"))
    if (nn && (!state->getValueAsString("initFrom").empty() ||
               !state->getValueAsString("requires").empty()))
      refuse("state " + state->getValueAsString("name") +
             " must start at a constant and exist without options" +
             torchOnly);
}

/// Every state shape, in definition order.
std::vector<const Record *> getStateShapes(const RecordKeeper &records) {
  std::vector<const Record *> shapes =
      records.getAllDerivedDefinitions("Optim_StateShape");
  llvm::sort(shapes, [](const Record *a, const Record *b) {
    return a->getID() < b->getID();
  });
  return shapes;
}

bool emitRuleDecls(raw_ostream &os, const RecordKeeper &records) {
  emitSourceFileHeader("Ranges of update-rule hyper-parameters", os,
                       records);
  os << "/// Valid range of a hyper-parameter.\n";
  os << "enum class HyperRange {\n";
  for (const Record *range : getRanges(records))
    os << "  " << rangeName(range) << ", // " << rangeText(range) << "\n";
  os << "};\n\n";
  os << "/// The shape of a state as a function of its parameter's "
        "(getStateShape).\n";
  os << "enum class StateShape {\n";
  for (const Record *shape : getStateShapes(records))
    os << "  " << shape->getValueAsString("cppName") << ", // "
       << shape->getValueAsString("formula") << "\n";
  os << "};\n";
  return false;
}

bool emitRuleDefs(raw_ostream &os, const RecordKeeper &records) {
  emitSourceFileHeader("The table of update rules", os, records);
  std::vector<const Record *> ranges = getRanges(records);
  os << "bool mlir::optim::isInRange(HyperRange range, double x) {\n"
     << "  switch (range) {\n";
  for (const Record *range : ranges)
    os << "  case HyperRange::" << rangeName(range) << ":\n    return "
       << rangePredicate(range) << ";\n";
  os << "  }\n  return false;\n}\n\n";
  os << "::llvm::StringRef mlir::optim::describeRange(HyperRange range) {\n"
     << "  switch (range) {\n";
  for (const Record *range : ranges)
    os << "  case HyperRange::" << rangeName(range) << ":\n    return "
       << quote(rangeText(range)) << ";\n";
  os << "  }\n  return \"\";\n}\n\n";
  os << "::mlir::optim::RangeBounds mlir::optim::getRangeBounds("
        "HyperRange range) {\n  switch (range) {\n";
  for (const Record *range : ranges) {
    StringRef lower = range->getValueAsString("lower");
    StringRef upper = range->getValueAsString("upper");
    os << "  case HyperRange::" << rangeName(range) << ":\n    return {"
       << (lower.empty() ? std::string("std::nullopt") : literal(lower))
       << ", " << (range->getValueAsBit("lowerClosed") ? "true" : "false")
       << ", "
       << (upper.empty() ? std::string("std::nullopt") : literal(upper))
       << ", " << (range->getValueAsBit("upperClosed") ? "true" : "false")
       << "};\n";
  }
  os << "  }\n  return {};\n}\n\n";

  os << "::llvm::StringRef mlir::optim::stringifyStateShape(StateShape "
        "shape) {\n  switch (shape) {\n";
  for (const Record *shape : getStateShapes(records))
    os << "  case StateShape::" << shape->getValueAsString("cppName")
       << ":\n    return " << quote(shape->getValueAsString("name")) << ";\n";
  os << "  }\n  return \"\";\n}\n\n";
  os << "::llvm::ArrayRef<StateShape> mlir::optim::getAllStateShapes() {\n"
     << "  static const StateShape shapes[] = {";
  for (const Record *shape : getStateShapes(records))
    os << "StateShape::" << shape->getValueAsString("cppName") << ", ";
  os << "};\n  return shapes;\n}\n\n";

  std::vector<const Record *> rules = getRules(records);
  os << "namespace {\n";
  for (const Record *rule : rules) {
    StringRef name = rule->getValueAsString("cppName");
    auto hypers = rule->getValueAsListOfDefs("hyperParams");
    auto options = rule->getValueAsListOfDefs("options");
    auto states = rule->getValueAsListOfDefs("states");
    if (!hypers.empty()) {
      os << "const HyperParamSpec k" << name << "Hyper[] = {\n";
      for (const Record *hyper : hypers)
        os << "    {" << quote(hyper->getValueAsString("name")) << ", "
           << hyper->getValueAsString("default") << ", HyperRange::"
           << rangeName(hyper->getValueAsDef("range")) << ", "
           << (hyper->getValueAsBit("initOnly") ? "true" : "false") << ", "
           << (hyper->getValueAsBit("computed") ? "true" : "false") << ", "
           << quote(hyper->getValueAsString("tupleArg")) << "},\n";
      os << "};\n";
    }
    if (!options.empty()) {
      os << "const OptionSpec k" << name << "Options[] = {\n";
      for (const Record *option : options)
        os << "    {" << quote(option->getValueAsString("name")) << ", "
           << (option->getValueAsBit("default") ? "true" : "false") << ", "
           << quote(option->getValueAsString("positive")) << "},\n";
      os << "};\n";
    }
    if (!states.empty()) {
      os << "const StateSpec k" << name << "States[] = {\n";
      for (const Record *state : states)
        os << "    {" << quote(state->getValueAsString("name")) << ", "
           << state->getValueAsString("init") << ", "
           << quote(state->getValueAsString("initFrom")) << ", "
           << quote(state->getValueAsString("requires")) << ", StateShape::"
           << state->getValueAsDef("shape")->getValueAsString("cppName")
           << "},\n";
      os << "};\n";
    }
  }
  os << "\nconst RuleSpec kRuleSpecs[] = {\n";
  for (const Record *rule : rules) {
    StringRef name = rule->getValueAsString("cppName");
    StringRef mnemonic = rule->getValueAsString("mnemonic");
    int64_t numNorms = rule->getValueAsInt("numNorms");
    auto table = [&](StringRef field, StringRef suffix) {
      return rule->getValueAsListOfDefs(field).empty()
                 ? std::string("{}")
                 : ("k" + name + suffix).str();
    };
    os << "    {RuleKind::" << name << ", "
       << quote(rule->getValueAsString("className")) << ", "
       << quote(("optim." + mnemonic + "_update").str()) << ", "
       << table("hyperParams", "Hyper") << ", "
       << table("options", "Options") << ", " << table("states", "States")
       << ", /*usesStep=*/"
       << (rule->getValueAsBit("usesStep") ? "true" : "false")
       << ", /*decayInRule=*/"
       << (rule->getValueAsBit("decayInRule") ? "true" : "false")
       << ", /*sparseGrad=*/"
       << (rule->getValueAsBit("sparseGrad") ? "true" : "false")
       << ", /*perTensorNorms=*/" << (numNorms > 0 ? "true" : "false")
       << ", "
       << (numNorms > 0 ? quote(("optim." + mnemonic + "_norms").str())
                        : std::string("{}"))
       << ", /*numNorms=*/" << numNorms << ", /*wholeTensor=*/"
       << (rule->getValueAsBit("wholeTensor") ? "true" : "false");
    StringRef formula = rule->getValueAsString("formula");
    bool hasFormula = !formula.trim().empty();
    if (hasFormula && (numNorms > 0 || rule->getValueAsBit("sparseGrad")))
      PrintFatalError(rule->getLoc(),
                      "a formula needs a dense rule without norms");
    bool genPythonClasses = rule->getValueAsBit("genPythonClasses");
    if (genPythonClasses)
      checkPythonClasses(rule);
    else if (!rule->getValueAsString("defaultLearningRate").empty() ||
             !rule->getValueAsString("classDescription").empty())
      PrintFatalError(rule->getLoc(), "defaultLearningRate and "
                                      "classDescription need genPythonClasses");
    if (hasFormula || genPythonClasses)
      os << ",\n     "
         << (hasFormula ? rawLiteral(rule, "formula", formula)
                        : std::string("{}"));
    if (genPythonClasses)
      os << ",\n     /*genPythonClasses=*/true, "
         << rule->getValueAsString("defaultLearningRate") << ",\n     "
         << rawLiteral(rule, "classDescription",
                       dedent(rule->getValueAsString("classDescription")))
         << ", /*genNNClass=*/"
         << (rule->getValueAsBit("genNNClass") ? "true" : "false")
         << ", /*genTorchClass=*/"
         << (rule->getValueAsBit("genTorchClass") ? "true" : "false");
    os << "},\n";
  }
  os << "};\n} // namespace\n";
  return false;
}

bool emitRuleDocs(raw_ostream &os, const RecordKeeper &records) {
  os << "<!-- Generated by optim-tblgen -gen-rule-docs from OptimRules.td. "
        "Do not edit. -->\n\n";
  os << "# Update rules\n\n"
     << "Every rule of the optim dialect, from its record in "
        "`include/optim/Dialect/Optim/IR/OptimRules.td`. In IR a rule is "
        "`#optim.rule<name, hyper = value, ..., option = true>`; "
        "hyper-parameters left out take their default. At run time each "
        "hyper-parameter (except those marked *init only*) is a slot of the "
        "hyper-parameter table, set by name without recompiling, and checked "
        "against its range.\n\n";
  os << "| rule | class | update op | step | weight decay |\n"
     << "|---|---|---|---|---|\n";
  std::vector<const Record *> rules = getRules(records);
  for (const Record *rule : rules) {
    StringRef mnemonic = rule->getValueAsString("mnemonic");
    bool torchOnly = rule->getValueAsBit("genPythonClasses") &&
                     !rule->getValueAsBit("genNNClass");
    os << "| [`" << mnemonic << "`](#" << mnemonic << ") | `"
       << (torchOnly ? "torch." : "") << rule->getValueAsString("className")
       << "` | `optim." << mnemonic
       << "_update` | " << (rule->getValueAsBit("usesStep") ? "yes" : "no")
       << " | "
       << (rule->getValueAsBit("decayInRule") ? "in the rule"
                                               : "`optim.decay_weight`")
       << " |\n";
  }
  for (const Record *rule : rules) {
    StringRef mnemonic = rule->getValueAsString("mnemonic");
    os << "\n## " << mnemonic << "\n\n";
    StringRef className = rule->getValueAsString("className");
    bool generated = rule->getValueAsBit("genPythonClasses");
    bool nnClass = !generated || rule->getValueAsBit("genNNClass");
    bool torchClass = generated && rule->getValueAsBit("genTorchClass");
    if (nnClass)
      os << "`optim_mlir.nn." << className << "`"
         << (torchClass ? " and " : "");
    if (torchClass)
      os << "`optim_mlir.torch." << className << "`";
    os << (generated
               ? formatv(", generated from the record (learning rate {0} by "
                         "default)",
                         rule->getValueAsString("defaultLearningRate"))
                     .str()
               : std::string())
       << (rule->getValueAsBit("sparseGrad")
               ? ", on sparse row gradients"
               : "")
       << (rule->getValueAsInt("numNorms") > 0
               ? formatv(", with {0} per-tensor norms (`optim.{1}_norms`)",
                         rule->getValueAsInt("numNorms"), mnemonic)
                     .str()
               : std::string())
       << ".\n\n";
    auto hypers = rule->getValueAsListOfDefs("hyperParams");
    if (hypers.empty()) {
      os << "Hyper-parameters: none besides the learning rate.\n\n";
    } else {
      os << "| hyper-parameter | default | range |\n|---|---|---|\n";
      for (const Record *hyper : hypers)
        os << "| `" << hyper->getValueAsString("name") << "`"
           << (hyper->getValueAsBit("initOnly") ? " (init only)" : "")
           << (hyper->getValueAsBit("computed")
                   ? " (computed by the torch front end)"
                   : "")
           << (hyper->getValueAsString("tupleArg").empty()
                   ? std::string()
                   : (" (in torch's `" +
                      hyper->getValueAsString("tupleArg") + "`)")
                         .str())
           << " | " << hyper->getValueAsString("default") << " | "
           << rangeText(hyper->getValueAsDef("range"))
           << " |\n";
      os << "\n";
    }
    auto options = rule->getValueAsListOfDefs("options");
    if (!options.empty()) {
      os << "Options:";
      for (const Record *option : options) {
        StringRef positive = option->getValueAsString("positive");
        os << " `" << option->getValueAsString("name") << "` ("
           << (positive.empty() ? std::string("default ") : "the front ends set it when `" +
                                                   positive.str() + "` > 0; default ")
           << (option->getValueAsBit("default") ? "true" : "false") << ")";
      }
      os << ".\n\n";
    }
    os << "States:";
    if (rule->getValueAsListOfDefs("states").empty())
      os << " none";
    for (const Record *state : rule->getValueAsListOfDefs("states")) {
      os << " `" << state->getValueAsString("name") << "` (starts at ";
      StringRef from = state->getValueAsString("initFrom");
      if (from.empty())
        os << state->getValueAsString("init");
      else
        os << "`" << from << "`";
      StringRef requires = state->getValueAsString("requires");
      if (!requires.empty())
        os << "; only with `" << requires << "`";
      const Record *shape = state->getValueAsDef("shape");
      if (shape->getValueAsString("cppName") != "Param")
        os << "; shape " << shape->getValueAsString("formula");
      os << ")";
    }
    os << ".\n\n" << dedent(rule->getValueAsString("description")) << "\n";
    StringRef formula = rule->getValueAsString("formula");
    if (!formula.trim().empty())
      os << "\nFormula (lowered as written, no C++):\n\n```mlir\n"
         << dedent(formula) << "\n```\n";
  }
  return false;
}

/// The kind of a schedule parameter: "Float", "Int" or "Bool".
StringRef parameterKind(const Record *schedule, const Init *parameter) {
  if (const auto *def = dyn_cast<DefInit>(parameter)) {
    const Record *record = def->getDef();
    if (record->isSubClassOf("Optim_F64Parameter"))
      return "Float";
    if (record->isSubClassOf("Optim_BoolParameter"))
      return "Bool";
  }
  if (const auto *text = dyn_cast<StringInit>(parameter))
    if (text->getValue() == "int64_t")
      return "Int";
  PrintFatalError(schedule->getLoc(),
                  "a schedule parameter must be an Optim_F64Parameter, an "
                  "Optim_BoolParameter or int64_t");
}

bool emitScheduleTable(raw_ostream &os, const RecordKeeper &records) {
  emitSourceFileHeader("The table of learning-rate schedules", os, records);
  std::vector<const Record *> schedules;
  for (const Record *record :
       records.getAllDerivedDefinitions("Optim_ScheduleAttr"))
    schedules.push_back(record);
  os << "namespace {\n";
  for (const Record *schedule : schedules) {
    const DagInit *parameters = schedule->getValueAsDag("parameters");
    os << "const ScheduleParamSpec k" << schedule->getName()
       << "Params[] = {\n";
    for (unsigned i = 0; i < parameters->getNumArgs(); ++i)
      os << "    {" << quote(parameters->getArgNameStr(i))
         << ", ScheduleParamKind::"
         << parameterKind(schedule, parameters->getArg(i)) << "},\n";
    os << "};\n";
  }
  os << "const ScheduleSpec kScheduleSpecs[] = {\n";
  for (const Record *schedule : schedules)
    os << "    {" << quote(schedule->getValueAsString("mnemonic")) << ", k"
       << schedule->getName() << "Params},\n";
  os << "};\n} // namespace\n";
  return false;
}

bool generate(raw_ostream &os, const RecordKeeper &records) {
  switch (action) {
  case Action::RuleDecls:
    return emitRuleDecls(os, records);
  case Action::RuleDefs:
    return emitRuleDefs(os, records);
  case Action::RuleDocs:
    return emitRuleDocs(os, records);
  case Action::ScheduleTable:
    return emitScheduleTable(os, records);
  }
  return true;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  cl::ParseCommandLineOptions(argc, argv);
  return TableGenMain(argv[0], &generate);
}
