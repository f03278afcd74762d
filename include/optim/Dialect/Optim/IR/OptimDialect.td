//===- OptimDialect.td - the optim dialect -----------------*- tablegen -*-===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMDIALECT_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMDIALECT_TD

include "mlir/IR/OpBase.td"

def Optim_Dialect : Dialect {
  let name = "optim";
  let cppNamespace = "::mlir::optim";
  let summary = "Deep-learning optimizer steps, from declaration to fused code";
  let description = [{
    The `optim` dialect models one step of a deep-learning optimizer with the
    semantics of MindSpore's `nn.Optimizer` base class, at two levels:

    * **Declarative** ops (`optim.optimizer`, `optim.group`, `optim.param`,
      `optim.order_params`) describe an optimizer as its constructor sees it:
      parameters, groups with their own learning rate, weight decay and
      gradient-centralization flag, the update rule with its
      hyper-parameters, the learning-rate schedule and the loss scale. The
      verifier rejects every configuration MindSpore's constructor rejects.
    * **Compute** ops are value-semantic tensor ops of one step: the learning
      rate at a step, `scale_grad`, `decay_weight`, `centralize`, global norm,
      all-finite check, parameter broadcast, sparse `unique`, and one update
      op per rule. Hyper-parameters are scalar SSA operands (runtime data);
      only structure (rule, options, types) is in attributes.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
  // Markers that one pass leaves for a later one. Declared here so that
  // each has one name and generated accessors
  // (`OptimDialect::SequentialAttrHelper`, ...).
  let discardableAttrs = (ins
    // On a function a step calls once per chunk: it runs on one thread
    // (CPU) or one block (GPU) for one chunk.
    "::mlir::UnitAttr":$sequential,
    // On a sequential function a step calls once, between its phases (the
    // combine and the loss-scale update of GradientControlOp): one thread
    // runs it (CPU: the caller's; GPU: a launch of one thread).
    "::mlir::UnitAttr":$single_thread,
    // On a step function that skips a step whose gradients are not all
    // finite (dynamic loss scaling): the index of its status argument.
    "::mlir::IntegerAttr":$skips_nonfinite,
    // On a tiled op that optim-tile-and-vectorize still has to vectorize.
    "::mlir::UnitAttr":$vectorize,
    // On the loop over whole vector tiles of a chunk, and on the loop over
    // its last partial tile (optim-tile-and-vectorize).
    "::mlir::UnitAttr":$vector_loop,
    "::mlir::UnitAttr":$remainder_loop
  );
}

class Optim_Op<string mnemonic, list<Trait> traits = []>
    : Op<Optim_Dialect, mnemonic, traits>;

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMDIALECT_TD
