//===- JIT.cpp - JIT-compiled step modules --------------------------------===//

#include "JIT.h"

#include "Threads.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"

#include <mutex>

using namespace optim::runtime;
using namespace optim::runtime::detail;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static void initializeLLVMOnce() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

const HostTarget &detail::getHostTarget() {
  static const HostTarget *host = [] {
    auto *result = new HostTarget();
    result->cpu = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    llvm::SmallVector<std::string> enabled;
    for (const auto &feature : features)
      if (feature.getValue())
        enabled.push_back("+" + feature.getKey().str());
    llvm::sort(enabled);
    result->features = llvm::join(enabled, ",");
    auto avx512 = features.find("avx512f");
    result->vectorBytes =
        avx512 != features.end() && avx512->getValue() ? 64 : 32;
    return result;
  }();
  return *host;
}

JITModule::JITModule() = default;
JITModule::~JITModule() = default;
JITModule::JITModule(JITModule &&) = default;
JITModule &JITModule::operator=(JITModule &&) = default;

static std::string getPackedName(StringRef symbol, StringRef suffix) {
  // ExecutionEngine::packFunctionArguments wraps every function `f` of the
  // module in `_mlir_f(void **)`; the step's C interface is
  // `_mlir_ciface_<symbol>_<suffix>`.
  return ("_mlir__mlir_ciface_" + symbol + "_" + suffix).str();
}

/// The host target machine (CPU name and features detected).
static Expected<llvm::orc::JITTargetMachineBuilder> getHostMachineBuilder() {
  initializeLLVMOnce();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return builder;
}

Expected<JITModule> detail::compileStepModule(mlir::ModuleOp module,
                                              StringRef symbol,
                                              bool keepObject) {
  if (Error error = loadOpenMPRuntime())
    return error;
  auto tmBuilder = getHostMachineBuilder();
  if (!tmBuilder)
    return tmBuilder.takeError();
  auto targetMachine = tmBuilder->createTargetMachine();
  if (!targetMachine)
    return targetMachine.takeError();
  auto transformer = mlir::makeOptimizingTransformer(
      /*optLevel=*/3, /*sizeLevel=*/0, targetMachine->get());

  llvm::SmallVector<StringRef> libs{getOpenMPLibraryPath()};
  mlir::ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  engineOptions.sharedLibPaths = libs;
  engineOptions.enableObjectDump = keepObject;
  auto engine = mlir::ExecutionEngine::create(module, engineOptions,
                                              std::move(*targetMachine));
  if (!engine)
    return engine.takeError();

  JITModule result;
  result.engine = std::move(*engine);
  // Looking the entry points up compiles the module.
  auto step = result.engine->lookup(getPackedName(symbol, "step"));
  if (!step)
    return step.takeError();
  auto lr = result.engine->lookup(getPackedName(symbol, "lr"));
  if (!lr)
    return lr.takeError();
  result.step = reinterpret_cast<void (*)(void **)>(*step);
  result.learningRates = reinterpret_cast<void (*)(void **)>(*lr);

  if (keepObject) {
    // The ExecutionEngine hands its object out only as a file.
    int fd;
    llvm::SmallString<128> path;
    if (!llvm::sys::fs::createTemporaryFile("optim-step", "o", fd, path)) {
      llvm::sys::fs::closeFile(fd);
      result.engine->dumpToObjectFile(path);
      if (auto buffer =
              llvm::MemoryBuffer::getFile(path, /*IsText=*/false, false))
        result.object = (*buffer)->getBuffer().str();
      llvm::sys::fs::remove(path);
    }
  }
  return result;
}

Expected<JITModule> detail::loadStepObject(const llvm::MemoryBuffer &object,
                                           StringRef symbol) {
  if (Error error = loadOpenMPRuntime())
    return error;
  auto tmBuilder = getHostMachineBuilder();
  if (!tmBuilder)
    return tmBuilder.takeError();
  // Link as the ExecutionEngine does (RuntimeDyld, section memory manager),
  // so that the object loads the same way in both paths.
  auto jit =
      llvm::orc::LLJITBuilder()
          .setJITTargetMachineBuilder(std::move(*tmBuilder))
          .setObjectLinkingLayerCreator(
              [](llvm::orc::ExecutionSession &session)
                  -> Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
                return std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                    session, [](const llvm::MemoryBuffer &) {
                      return std::make_unique<llvm::SectionMemoryManager>();
                    });
              })
          .create();
  if (!jit)
    return jit.takeError();
  // Errors reach us through lookup(); keep the session from printing them.
  (*jit)->getExecutionSession().setErrorReporter(
      [](Error error) { llvm::consumeError(std::move(error)); });

  llvm::orc::JITDylib &mainJD = (*jit)->getMainJITDylib();
  char prefix = (*jit)->getDataLayout().getGlobalPrefix();
  auto omp = llvm::orc::DynamicLibrarySearchGenerator::Load(
      getOpenMPLibraryPath().str().c_str(), prefix);
  if (!omp)
    return omp.takeError();
  mainJD.addGenerator(std::move(*omp));
  auto process =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix);
  if (!process)
    return process.takeError();
  mainJD.addGenerator(std::move(*process));

  if (Error error = (*jit)->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(
          object.getBuffer(), object.getBufferIdentifier())))
    return error;

  JITModule result;
  auto toMessage = [](Error error) {
    // The error may refer to strings the JIT owns: copy it out first.
    return makeError(llvm::toString(std::move(error)));
  };
  auto step = (*jit)->lookup(getPackedName(symbol, "step"));
  if (!step)
    return toMessage(step.takeError());
  auto lr = (*jit)->lookup(getPackedName(symbol, "lr"));
  if (!lr)
    return toMessage(lr.takeError());
  result.step = step->toPtr<void (*)(void **)>();
  result.learningRates = lr->toPtr<void (*)(void **)>();
  result.jit = std::move(*jit);
  return result;
}
