//===- OptimRuleBase.td - the classes of rule records ------*- tablegen -*-===//
//
// The record classes of OptimRules.td: ranges, hyper-parameters, options,
// states and rules. See OptimRules.td for what is generated from them.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMRULEBASE_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMRULEBASE_TD

//===----------------------------------------------------------------------===//
// Ranges of hyper-parameters
//===----------------------------------------------------------------------===//

// A valid range: from `lower` to `upper` (C++ double literals; empty:
// unbounded), each end included or not. The generators derive the check,
// its text ("in [0, 1)") and the bounds the Python layer validates with.
class Optim_HyperRange<string lowerArg, bit lowerClosedArg, string upperArg,
                       bit upperClosedArg> {
  string lower = lowerArg;
  bit lowerClosed = lowerClosedArg;
  string upper = upperArg;
  bit upperClosed = upperClosedArg;
}

def Optim_Any : Optim_HyperRange<"", 0, "", 0>;
def Optim_NonNegative : Optim_HyperRange<"0", 1, "", 0>;
def Optim_Positive : Optim_HyperRange<"0", 0, "", 0>;
def Optim_OpenUnit : Optim_HyperRange<"0", 0, "1", 0>;
def Optim_HalfOpenUnit : Optim_HyperRange<"0", 1, "1", 0>;
def Optim_ClosedUnit : Optim_HyperRange<"0", 1, "1", 1>;
def Optim_NonPositive : Optim_HyperRange<"", 0, "0", 1>;
def Optim_GreaterThanOne : Optim_HyperRange<"1", 0, "", 0>;

//===----------------------------------------------------------------------===//
// Rules
//===----------------------------------------------------------------------===//

// A hyper-parameter: an f32 operand of the update (after `lr`, in the
// record's order), unless `initOnly` (it then only starts a state).
// `default` is a C++ double literal.
class Optim_Hyper<string nameArg, string defaultArg, Optim_HyperRange rangeArg,
                  bit initOnlyArg = 0> {
  string name = nameArg;
  string default = defaultArg;
  Optim_HyperRange range = rangeArg;
  bit initOnly = initOnlyArg;
  // Computed by the torch front end for each group and step, from the
  // group's values and per-parameter scalar states it keeps as torch does
  // (ASGD's `eta` and `mu`, NAdam's `mu_product`): an operand, but no
  // argument of the generated torch class (Optim_ComputedHyper).
  bit computed = 0;
  // The tuple argument of the generated torch class holding it, with the
  // other hyper-parameters of that tuple in the record's order (Rprop's
  // `etas`, Optim_TupleHyper). Empty: an argument of its own name, or
  // `betas` for `beta1`, `beta2`, ...
  string tupleArg = "";
}

class Optim_ComputedHyper<string nameArg, string defaultArg,
                          Optim_HyperRange rangeArg>
    : Optim_Hyper<nameArg, defaultArg, rangeArg> {
  let computed = 1;
}

class Optim_TupleHyper<string nameArg, string defaultArg,
                       Optim_HyperRange rangeArg, string tupleArgArg>
    : Optim_Hyper<nameArg, defaultArg, rangeArg> {
  let tupleArg = tupleArgArg;
}

// A boolean option: a unit attribute of the update op. With `positive`
// (a hyper-parameter's name) the front ends turn it on when that
// hyper-parameter is > 0 (torch's RMSprop keeps a momentum buffer only for
// `momentum > 0`), and take no argument for it; otherwise it is a boolean
// argument of the generated classes.
class Optim_Option<string nameArg, bit defaultArg = 0,
                   string positiveArg = ""> {
  string name = nameArg;
  bit default = defaultArg;
  string positive = positiveArg;
}

// The shape of a state as a function of its parameter's shape. `cppName`
// is its `StateShape` enumerator (Rules.h, getStateShape computes it);
// `name` its name in the rule table and the Python layer; `formula` the
// text the docs give.
class Optim_StateShape<string cppNameArg, string nameArg, string formulaArg> {
  string cppName = cppNameArg;
  string name = nameArg;
  string formula = formulaArg;
}

def Optim_ParamShape : Optim_StateShape<"Param", "param",
    "the parameter's">;
// Adafactor's factored second moments: a matrix's row and column means,
// batched over the leading dimensions. A vector or scalar keeps a
// one-element row state and its whole second moment as the column state.
def Optim_FactoredRowShape : Optim_StateShape<"FactoredRows", "factored_rows",
    "`shape[:-1]` (rank >= 2), else `(1,)`">;
def Optim_FactoredColShape : Optim_StateShape<"FactoredCols", "factored_cols",
    "`shape[:-2] + shape[-1:]` (rank >= 2), else the parameter's">;

// A state buffer of the parameter's element type and of shape `shape` (the
// parameter's by default). It starts at `init` (a C++ double literal), or
// at the value of hyper-parameter `initFrom` ("learning_rate": the group's
// learning rate); it exists only when option `requires` is on, if given.
class Optim_State<string nameArg, string initArg = "0.0",
                  string initFromArg = "",
                  string requiresArg = "",
                  Optim_StateShape shapeArg = Optim_ParamShape> {
  string name = nameArg;
  string init = initArg;
  string initFrom = initFromArg;
  string requires = requiresArg;
  Optim_StateShape shape = shapeArg;
}

// An update rule. `index` is its `RuleKind` value; `cppName` its enum
// symbol and the prefix of its op classes (`<cppName>UpdateOp`);
// `mnemonic` its name in IR (`#optim.rule<mnemonic>`, `optim.<mnemonic>_update`);
// `className` its class in the Python front ends (MindSpore's name for
// MindSpore's rules).
class Optim_Rule<int indexArg, string cppNameArg, string mnemonicArg,
                 string classNameArg> {
  int index = indexArg;
  string cppName = cppNameArg;
  string mnemonic = mnemonicArg;
  string className = classNameArg;
  list<Optim_Hyper> hyperParams = [];
  list<Optim_Option> options = [];
  list<Optim_State> states = [];
  // The update takes the 1-based update count `step` (i64, last operand).
  bit usesStep = 0;
  // The group's weight decay is an operand of the update (after the
  // hyper-parameters) instead of being applied by `optim.decay_weight`.
  bit decayInRule = 0;
  // The gradient arrives as rows (indices, values).
  bit sparseGrad = 0;
  // > 0: the update needs that many norms of whole tensors (trust ratios),
  // computed over chunks by `optim.<mnemonic>_norms`.
  int numNorms = 0;
  // The update reads whole tensors beyond per-tensor norms (Adafactor's
  // row and column means, the RMS of its update): the multi-tensor step
  // gives it every parameter as one chunk, viewed as (B, R, C) =
  // (prod(shape[:-2]), shape[-2], shape[-1]) ((1, 1, n) for a vector), and
  // runs its update in one call per parameter, in parallel over
  // parameters.
  bit wholeTensor = 0;
  // The update op's description (its formula), and the norms op's.
  string description = "";
  string normsDescription = "";
  // The formula, for a dense rule without per-tensor norms: the body of a
  // function computing one element, in arith and math ops on `f32` (the
  // compute type; it becomes f64 for f64 parameters). Its arguments are
  // named after the operands: `%grad`, `%param`, one per state (the
  // state's name; 0 for a state its options leave out), `%lr`, one per
  // operand hyper-parameter, `%weight_decay` (decayInRule), `%step` (i64,
  // usesStep) and one i1 per option; it returns the new parameter and
  // every state, in order (the results of left-out states are dropped). Empty: the rule's lowering is
  // written in C++ (UpdateRules.cpp).
  string formula = "";
  // The Python front ends build the rule's classes from its record at
  // import time (`optim_mlir.nn.<className>`, `optim_mlir.torch.<className>`)
  // instead of writing them by hand: the constructor arguments are the
  // learning rate (`defaultLearningRate`), the operand hyper-parameters
  // with their defaults and ranges, and the weight decay; the states start
  // at their `init`. Only a dense rule without norms can have them; only
  // a torch-only one (`genNNClass = 0`) may also have options, init-only or
  // computed hyper-parameters, tuple arguments, and states that start from
  // a hyper-parameter or need an option (optim-tblgen refuses the others;
  // docs/Writing-a-rule.md).
  bit genPythonClasses = 0;
  // With genPythonClasses: the learning rate's default (a C++ double
  // literal), and the classes' docstring: one paragraph for users, in
  // words that hold for both front ends (they append the arguments and
  // states).
  string defaultLearningRate = "";
  string classDescription = "";
  // With genPythonClasses: whether `optim_mlir.nn` gets the class too. Off
  // for a torch rule whose class name a MindSpore rule's class already
  // has (torch's Adadelta next to MindSpore's): only `optim_mlir.torch`
  // gets it.
  bit genNNClass = 1;
  // With genPythonClasses: whether `optim_mlir.torch` gets the class too.
  // Off for a MindSpore rule torch has no optimizer for (MindSpore's
  // ApplyPowerSign, ApplyAdagradDA, ...): only `optim_mlir.nn` gets it, and
  // its hyper-parameters need not follow torch's `betas` convention. A rule
  // with genPythonClasses keeps at least one of the two.
  bit genTorchClass = 1;
}

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMRULEBASE_TD
