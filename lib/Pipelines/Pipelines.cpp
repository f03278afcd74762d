//===- Pipelines.cpp - named optim-mlir pipelines -------------------------===//

#include "optim/Pipelines/Pipelines.h"

#include "optim/Conversion/Passes.h"

#include <cstdlib>
#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"
#include "optim/Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/GPUCommon/GPUCommonPass.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/Extensions/InlinerExtension.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/ConvertToLLVM/ToLLVMPass.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/OpenMPToLLVM/ConvertOpenMPToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Linalg/Transforms/TilingInterfaceImpl.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/IR/TensorTilingInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/Transforms/SubsetOpInterfaceImpl.h"
#include "mlir/Dialect/Linalg/Transforms/SubsetInsertionOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/SubsetInsertionOpInterfaceImpl.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void optim::buildOptimStepPipeline(OpPassManager &pm,
                                   const StepPipelineOptions &options) {
  pm.addPass(createOptimResolveGroups());
  OptimBuildStepBoundaryOptions boundary;
  boundary.constantHyperParams = options.constantHyperParams;
  boundary.shareUpdateFunctions = options.shareUpdateFunctions;
  pm.addPass(createOptimBuildStepBoundary(boundary));
  OptimScheduleStepOptions schedule;
  schedule.chunkSize = options.chunkSize;
  pm.addPass(createOptimScheduleStep(schedule));
}

/// Everything up to buffers on the caller's memory, shared by both targets:
/// the step, lowered to linalg, fused, tiled and vectorized, bufferized in
/// place.
static void
buildStepToBuffers(OpPassManager &pm,
                   const optim::StepPipelineOptions &stepOptions,
                   const optim::OptimTileAndVectorizeOptions &tileOptions) {
  optim::buildOptimStepPipeline(pm, stepOptions);
  pm.addPass(optim::createConvertOptimToLinalg());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(optim::createOptimFuseElementwise());
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(optim::createOptimTileAndVectorize(tileOptions));
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = false;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(bufferization::createBufferLoopHoistingPass());
  bufferization::PromoteBuffersToStackPassOptions stackOptions;
  stackOptions.maxAllocSizeInBytes = 4096;
  stackOptions.maxRankOfAllocatedMemRef = 2;
  pm.addNestedPass<func::FuncOp>(
      bufferization::createPromoteBuffersToStackPass(stackOptions));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
}

void optim::buildOptimCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  StepPipelineOptions resolveOptions;
  resolveOptions.constantHyperParams = options.constantHyperParams;
  resolveOptions.shareUpdateFunctions = options.shareUpdateFunctions;
  resolveOptions.chunkSize = options.chunkSize;
  // Chunks for threads, vector tiles with the remainder peeled.
  OptimTileAndVectorizeOptions tileOptions;
  tileOptions.chunkSize = options.chunkSize;
  tileOptions.vectorBytes = options.vectorBytes;
  tileOptions.unroll = options.unroll;
  buildStepToBuffers(pm, resolveOptions, tileOptions);
  // One read stream per operand in the reductions: prefetch ahead of it.
  OptimPrefetchReadsOptions prefetchOptions;
  prefetchOptions.distanceBytes = options.prefetchBytes;
  pm.addNestedPass<func::FuncOp>(createOptimPrefetchReads(prefetchOptions));

  // Threads, LLVM.
  pm.addPass(createForallToParallelLoopPass());
  ConvertSCFToOpenMPPassOptions ompOptions;
  ompOptions.numThreads = options.numThreads;
  pm.addPass(createConvertSCFToOpenMPPass(ompOptions));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void optim::buildOptimGPUPipeline(OpPassManager &pm,
                                  const GPUPipelineOptions &options) {
  std::string features = options.features;
  if (features.empty())
    features = getDefaultPTXFeatures(options.chip);
  // Before anything: a chip/PTX pair LLVM would abort on stops here.
  OptimVerifyNVPTXTargetOptions targetOptions;
  targetOptions.chip = options.chip;
  targetOptions.features = options.features;
  targetOptions.format = options.format;
  pm.addPass(createOptimVerifyNVPTXTarget(targetOptions));

  // The same step structure as on the CPU: one block per chunk, 16-byte
  // vector tiles (128-bit loads), no unrolling (the threads of a warp read
  // consecutive tiles).
  StepPipelineOptions resolveOptions;
  resolveOptions.constantHyperParams = options.constantHyperParams;
  resolveOptions.chunkSize = options.chunkSize;
  OptimTileAndVectorizeOptions tileOptions;
  tileOptions.chunkSize = options.chunkSize;
  tileOptions.vectorBytes = 16;
  tileOptions.unroll = 1;
  // Tiles at multiples of a tile from each chunk: distributed to threads
  // and aligned as the runtime's 16-byte buffers are.
  tileOptions.alignToVector = false;
  buildStepToBuffers(pm, resolveOptions, tileOptions);

  // Chunk functions on the threads of a block, phases as launches, one
  // kernel per phase.
  pm.addPass(createLowerAffinePass());
  // The global step in device memory: a captured step replays with the
  // right count.
  pm.addPass(createOptimStepCounterToMemory());
  pm.addNestedPass<func::FuncOp>(createOptimDistributeToThreads());
  OptimMapStepToGPUOptions mapOptions;
  mapOptions.blockSize = options.blockSize;
  pm.addPass(createOptimMapStepToGPU(mapOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createOptimMergeKernelModules());

  // Device code: NVVM. (The block reductions split blocks: structured
  // control flow is lowered first.)
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createOptimLowerBlockReductions());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  GpuNVVMAttachTargetOptions attach;
  attach.chip = options.chip;
  attach.features = features;
  attach.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(attach));
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.indexBitwidth = 64;
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps(nvvm));
  // Correctly rounded square roots, as on the CPU.
  pm.addNestedPass<gpu::GPUModuleOp>(createOptimCorrectlyRoundedSqrt());
  // What the NVVM conversion leaves of vectors (broadcasts), with memory
  // spaces already converted.
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertVectorToLLVMPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());

  // Host code: the launches.
  if (options.lowerHost) {
    pm.addPass(createFinalizeMemRefToLLVMConversionPass());
    pm.addPass(createGpuToLLVMConversionPass());
    pm.addPass(createConvertToLLVMPass());
    pm.addPass(createReconcileUnrealizedCastsPass());
    pm.addPass(createCanonicalizerPass());
  }

  // Kernels to PTX (LLVM's NVPTX backend) or cubin (the toolkit's ptxas).
  GpuModuleToBinaryPassOptions binary;
  binary.toolkitPath = options.toolkit;
  if (binary.toolkitPath.empty()) {
    const char *cudaHome = std::getenv("CUDA_HOME");
    binary.toolkitPath = cudaHome && *cudaHome ? cudaHome : "/usr/local/cuda";
  }
  binary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

std::optional<std::string>
optim::checkCPUPipelineOptions(const CPUPipelineOptions &options) {
  if (options.numThreads > kMaxPipelineThreads)
    return "num-threads must be in [0, " +
           std::to_string(kMaxPipelineThreads) + "] (0: the OpenMP "
           "runtime's default), got " +
           std::to_string(options.numThreads.getValue());
  return std::nullopt;
}

void optim::registerOptimPipelines() {
  PassPipelineRegistration<StepPipelineOptions>(
      "optim-build-step",
      "Turn declarative optimizers into compute-level step functions: "
      "optim-resolve-groups, optim-build-step-boundary, optim-schedule-step",
      buildOptimStepPipeline);
  // As PassPipelineRegistration, with the options no pass checks checked.
  registerPassPipeline(
      "optim-lower-to-cpu",
      "Lower optim IR to the LLVM dialect for the host CPU: fused, "
      "vectorized loops over the caller's buffers, parallel with OpenMP",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        CPUPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        if (std::optional<std::string> error = checkCPUPipelineOptions(options))
          return errorHandler("optim-lower-to-cpu: " + *error);
        buildOptimCPUPipeline(pm, options);
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optionHandler) {
        optionHandler(CPUPipelineOptions());
      });
  PassPipelineRegistration<GPUPipelineOptions>(
      "optim-lower-to-gpu",
      "Lower optim IR to NVIDIA GPU kernels (one per phase of the "
      "multi-tensor step, serialized to PTX or cubin) and the LLVM-dialect "
      "host code that launches them",
      buildOptimGPUPipeline);
}

void optim::registerOptimDialects(DialectRegistry &registry) {
  registry.insert<OptimDialect, func::FuncDialect, arith::ArithDialect,
                  math::MathDialect, tensor::TensorDialect,
                  linalg::LinalgDialect, memref::MemRefDialect,
                  scf::SCFDialect, bufferization::BufferizationDialect,
                  vector::VectorDialect, affine::AffineDialect,
                  omp::OpenMPDialect, cf::ControlFlowDialect,
                  index::IndexDialect, ub::UBDialect, LLVM::LLVMDialect>();
  // The code of the learning-rate attributes (the lowering's).
  registerLearningRateLoweringModels(registry);
  // Tiling and bufferization models of the upstream ops we lower through.
  linalg::registerTilingInterfaceExternalModels(registry);
  tensor::registerTilingInterfaceExternalModels(registry);
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  vector::registerBufferizableOpInterfaceExternalModels(registry);
  // memref.alloc as an allocation: buffer hoisting and stack promotion.
  memref::registerAllocationOpInterfaceExternalModels(registry);
  // Subset models: empty-tensor elimination and loop subset hoisting.
  linalg::registerSubsetOpInterfaceExternalModels(registry);
  tensor::registerSubsetOpInterfaceExternalModels(registry);
  vector::registerSubsetOpInterfaceExternalModels(registry);
  // `convert-to-llvm` patterns.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  registerConvertOpenMPToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  vector::registerConvertVectorToLLVMInterface(registry);
  // LLVM IR translation for the JIT and object files.
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  // GPU: kernels, NVVM, serialization.
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect>();
  func::registerInlinerExtension(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}
