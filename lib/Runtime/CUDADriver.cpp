//===- CUDADriver.cpp - the CUDA driver API, loaded at run time -----------===//
//
// The driver is a shared library found at run time, never a link-time
// dependency: the runtime must load on machines without a GPU. The entry
// points are declared here rather than taken from cuda.h so that the build
// has one path whether or not a CUDA toolkit is installed; the names are the
// symbols CUDA 13's cuda.h maps its API names to (cuMemAlloc is
// cuMemAlloc_v2, ...), with the legacy default stream (not the _ptsz
// per-thread variants).
//
//===----------------------------------------------------------------------===//

#include "optim/Runtime/CUDADriver.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/DynamicLibrary.h"

#include <cstdlib>
#include <type_traits>

using namespace optim::runtime::cuda;

namespace {
// The driver's types, as cuda.h declares them.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
static_assert(sizeof(CUdeviceptr) == sizeof(DevicePtr),
              "CUdeviceptr is 64 bits on every 64-bit host");

constexpr CUresult kSuccess = 0;
// CUdevice_attribute values.
constexpr int kAttributeComputeCapabilityMajor = 75;
constexpr int kAttributeComputeCapabilityMinor = 76;
// CUstream_flags.
constexpr unsigned kStreamNonBlocking = 1;
// CUevent_flags.
constexpr unsigned kEventDisableTiming = 2;
constexpr CUresult kNotReady = 600;

constexpr const char *kDefaultLibrary = "libcuda.so.1";

llvm::Error makeStringError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
} // namespace

/// One pointer per driver entry point the runtime calls.
struct optim::runtime::cuda::EntryPoints {
  CUresult (*getErrorName)(CUresult, const char **) = nullptr;
  CUresult (*getErrorString)(CUresult, const char **) = nullptr;
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*driverGetVersion)(int *) = nullptr;
  CUresult (*deviceGetCount)(int *) = nullptr;
  CUresult (*deviceGet)(CUdevice *, int) = nullptr;
  CUresult (*deviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*deviceGetAttribute)(int *, int, CUdevice) = nullptr;
  CUresult (*devicePrimaryCtxRetain)(ContextHandle *, CUdevice) = nullptr;
  CUresult (*ctxGetCurrent)(ContextHandle *) = nullptr;
  CUresult (*ctxSetCurrent)(ContextHandle) = nullptr;
  CUresult (*ctxPushCurrent)(ContextHandle) = nullptr;
  CUresult (*ctxPopCurrent)(ContextHandle *) = nullptr;
  CUresult (*moduleLoadData)(ModuleHandle *, const void *) = nullptr;
  CUresult (*moduleGetFunction)(FunctionHandle *, ModuleHandle,
                                const char *) = nullptr;
  CUresult (*moduleUnload)(ModuleHandle) = nullptr;
  CUresult (*launchKernel)(FunctionHandle, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, unsigned, StreamHandle,
                           void **, void **) = nullptr;
  CUresult (*memAlloc)(CUdeviceptr *, std::size_t) = nullptr;
  CUresult (*memFree)(CUdeviceptr) = nullptr;
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void *, std::size_t,
                              StreamHandle) = nullptr;
  CUresult (*memcpyDtoHAsync)(void *, CUdeviceptr, std::size_t,
                              StreamHandle) = nullptr;
  CUresult (*memsetD8Async)(CUdeviceptr, unsigned char, std::size_t,
                            StreamHandle) = nullptr;
  CUresult (*memsetD16Async)(CUdeviceptr, unsigned short, std::size_t,
                             StreamHandle) = nullptr;
  CUresult (*memsetD32Async)(CUdeviceptr, unsigned int, std::size_t,
                             StreamHandle) = nullptr;
  /// CUstreamCaptureStatus: 0 none, 1 active, 2 invalidated.
  CUresult (*streamIsCapturing)(StreamHandle, int *) = nullptr;
  CUresult (*streamCreate)(StreamHandle *, unsigned) = nullptr;
  CUresult (*streamDestroy)(StreamHandle) = nullptr;
  CUresult (*streamSynchronize)(StreamHandle) = nullptr;
  CUresult (*memcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, std::size_t,
                              StreamHandle) = nullptr;
  CUresult (*eventCreate)(EventHandle *, unsigned) = nullptr;
  CUresult (*eventDestroy)(EventHandle) = nullptr;
  CUresult (*eventRecord)(EventHandle, StreamHandle) = nullptr;
  CUresult (*eventQuery)(EventHandle) = nullptr;
};

namespace optim::runtime::cuda {
/// Loads the driver once; Driver::get() hands out the result.
struct DriverLoader {
  /// Never destroyed: modules and buffers in static objects may still call
  /// the driver while the process exits.
  Driver *driver = nullptr;
  std::string error;

  static const DriverLoader &get() {
    static const DriverLoader *loaded = [] {
      auto *result = new DriverLoader();
      auto driver = load(Driver::getLibraryPath());
      if (driver)
        result->driver = driver->release();
      else
        result->error = llvm::toString(driver.takeError());
      return result;
    }();
    return *loaded;
  }

  static llvm::Expected<std::unique_ptr<Driver>> load(const std::string &path);
};
} // namespace optim::runtime::cuda

llvm::Expected<std::unique_ptr<Driver>>
DriverLoader::load(const std::string &path) {
  std::string dlError;
  // dlopen(RTLD_GLOBAL), never closed: the driver keeps threads and state
  // that outlive any object of ours.
  llvm::sys::DynamicLibrary library =
      llvm::sys::DynamicLibrary::getPermanentLibrary(path.c_str(), &dlError);
  if (!library.isValid())
    return makeStringError("cannot load the CUDA driver (" + path + "): " +
                           (dlError.empty() ? "unknown error" : dlError));

  auto api = std::make_unique<EntryPoints>();
  llvm::SmallVector<const char *> missing;
  auto resolve = [&](auto &slot, const char *name) {
    void *address = library.getAddressOfSymbol(name);
    if (!address)
      missing.push_back(name);
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(address);
  };
  resolve(api->getErrorName, "cuGetErrorName");
  resolve(api->getErrorString, "cuGetErrorString");
  resolve(api->init, "cuInit");
  resolve(api->driverGetVersion, "cuDriverGetVersion");
  resolve(api->deviceGetCount, "cuDeviceGetCount");
  resolve(api->deviceGet, "cuDeviceGet");
  resolve(api->deviceGetName, "cuDeviceGetName");
  resolve(api->deviceGetAttribute, "cuDeviceGetAttribute");
  resolve(api->devicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  resolve(api->ctxGetCurrent, "cuCtxGetCurrent");
  resolve(api->ctxSetCurrent, "cuCtxSetCurrent");
  resolve(api->ctxPushCurrent, "cuCtxPushCurrent_v2");
  resolve(api->ctxPopCurrent, "cuCtxPopCurrent_v2");
  resolve(api->moduleLoadData, "cuModuleLoadData");
  resolve(api->moduleGetFunction, "cuModuleGetFunction");
  resolve(api->moduleUnload, "cuModuleUnload");
  resolve(api->launchKernel, "cuLaunchKernel");
  resolve(api->memAlloc, "cuMemAlloc_v2");
  resolve(api->memFree, "cuMemFree_v2");
  resolve(api->memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  resolve(api->memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  resolve(api->memsetD8Async, "cuMemsetD8Async");
  resolve(api->memsetD16Async, "cuMemsetD16Async");
  resolve(api->memsetD32Async, "cuMemsetD32Async");
  resolve(api->streamIsCapturing, "cuStreamIsCapturing");
  resolve(api->streamCreate, "cuStreamCreate");
  resolve(api->streamDestroy, "cuStreamDestroy_v2");
  resolve(api->streamSynchronize, "cuStreamSynchronize");
  resolve(api->memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
  resolve(api->eventCreate, "cuEventCreate");
  resolve(api->eventDestroy, "cuEventDestroy_v2");
  resolve(api->eventRecord, "cuEventRecord");
  resolve(api->eventQuery, "cuEventQuery");
  if (!missing.empty()) {
    std::string names;
    for (const char *name : missing)
      names += (names.empty() ? "" : ", ") + std::string(name);
    return makeStringError("the CUDA driver (" + path + ") has no entry point" +
                           (missing.size() > 1 ? "s " : " ") + names);
  }

  std::unique_ptr<Driver> driver(new Driver(path, std::move(api)));
  const EntryPoints &entry = driver->getEntryPoints();
  if (CUresult result = entry.init(0))
    return driver->makeError("cuInit", result);
  if (CUresult result = entry.driverGetVersion(&driver->version))
    return driver->makeError("cuDriverGetVersion", result);
  if (CUresult result = entry.deviceGetCount(&driver->deviceCount))
    return driver->makeError("cuDeviceGetCount", result);
  if (driver->deviceCount <= 0)
    return makeStringError("no CUDA device: the CUDA driver (" + path +
                           ") reports 0 devices");
  driver->primaryContexts.assign(driver->deviceCount, nullptr);
  return driver;
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

Driver::Driver(std::string path, std::unique_ptr<EntryPoints> api)
    : path(std::move(path)), api(std::move(api)) {}

Driver::~Driver() = default;

llvm::Expected<Driver &> Driver::get() {
  const DriverLoader &loaded = DriverLoader::get();
  if (!loaded.driver)
    return makeStringError(loaded.error);
  return *loaded.driver;
}

std::string Driver::getLibraryPath() {
  const char *override = std::getenv("OPTIM_CUDA_DRIVER");
  return override && *override ? override : kDefaultLibrary;
}

std::string Driver::describeResult(int result) const {
  const char *name = nullptr;
  if (api->getErrorName(result, &name) != kSuccess || !name)
    return "CUDA error " + std::to_string(result);
  std::string description = name;
  const char *text = nullptr;
  if (api->getErrorString(result, &text) == kSuccess && text)
    description += std::string(" (") + text + ")";
  return description;
}

llvm::Error Driver::makeError(const llvm::Twine &call, int result) const {
  return makeStringError(call + " failed: " + describeResult(result));
}

/// The CUdevice of ordinal `device`, checked against the device count.
static llvm::Expected<CUdevice> getDevice(const Driver &driver, int device) {
  if (device < 0 || device >= driver.getDeviceCount())
    return makeStringError("CUDA device " + llvm::Twine(device) +
                           " is out of range [0, " +
                           llvm::Twine(driver.getDeviceCount()) + ")");
  CUdevice handle = 0;
  if (CUresult result = driver.getEntryPoints().deviceGet(&handle, device))
    return driver.makeError("cuDeviceGet", result);
  return handle;
}

llvm::Expected<std::string> Driver::getDeviceName(int device) const {
  auto handle = getDevice(*this, device);
  if (!handle)
    return handle.takeError();
  char name[256] = {};
  if (CUresult result =
          api->deviceGetName(name, static_cast<int>(sizeof(name) - 1), *handle))
    return makeError("cuDeviceGetName", result);
  return std::string(name);
}

llvm::Expected<ComputeCapability>
Driver::getComputeCapability(int device) const {
  auto handle = getDevice(*this, device);
  if (!handle)
    return handle.takeError();
  ComputeCapability capability;
  if (CUresult result = api->deviceGetAttribute(
          &capability.major, kAttributeComputeCapabilityMajor, *handle))
    return makeError("cuDeviceGetAttribute", result);
  if (CUresult result = api->deviceGetAttribute(
          &capability.minor, kAttributeComputeCapabilityMinor, *handle))
    return makeError("cuDeviceGetAttribute", result);
  return capability;
}

llvm::Expected<ContextHandle> Driver::getPrimaryContext(int device) {
  auto handle = getDevice(*this, device);
  if (!handle)
    return handle.takeError();
  std::lock_guard<std::mutex> lock(contextsMutex);
  ContextHandle &context = primaryContexts[device];
  if (!context) {
    ContextHandle retained = nullptr;
    if (CUresult result = api->devicePrimaryCtxRetain(&retained, *handle))
      return makeError("cuDevicePrimaryCtxRetain", result);
    context = retained;
  }
  return context;
}

/// Runs `call`, a driver call returning a CUresult, with `context` current;
/// a failure becomes "<name> failed: ...".
template <typename Call>
static llvm::Error callInContext(const Driver &driver, ContextHandle context,
                                 const llvm::Twine &name, Call call) {
  auto scope = ContextScope::enter(driver, context);
  if (!scope)
    return scope.takeError();
  if (CUresult result = call())
    return driver.makeError(name, result);
  return llvm::Error::success();
}

llvm::Error Driver::launch(const Function &function, Dim3 grid, Dim3 block,
                           unsigned sharedBytes, StreamHandle stream,
                           void **args) {
  if (!function.handle)
    return makeStringError("cannot launch a null CUDA function");
  if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
    return makeStringError(
        "cannot launch a CUDA kernel with an empty grid or block (grid " +
        llvm::Twine(grid.x) + "x" + llvm::Twine(grid.y) + "x" +
        llvm::Twine(grid.z) + ", block " + llvm::Twine(block.x) + "x" +
        llvm::Twine(block.y) + "x" + llvm::Twine(block.z) + ")");
  return callInContext(*this, function.context, "cuLaunchKernel", [&] {
    return api->launchKernel(function.handle, grid.x, grid.y, grid.z, block.x,
                             block.y, block.z, sharedBytes, stream, args,
                             /*extra=*/nullptr);
  });
}

llvm::Expected<StreamHandle> Driver::createStream(ContextHandle context) {
  StreamHandle stream = nullptr;
  if (llvm::Error error = callInContext(*this, context, "cuStreamCreate", [&] {
        return api->streamCreate(&stream, kStreamNonBlocking);
      }))
    return error;
  return stream;
}

llvm::Error Driver::destroyStream(ContextHandle context, StreamHandle stream) {
  if (!stream)
    return llvm::Error::success();
  return callInContext(*this, context, "cuStreamDestroy_v2",
                       [&] { return api->streamDestroy(stream); });
}

llvm::Error Driver::synchronize(ContextHandle context, StreamHandle stream) {
  return callInContext(*this, context, "cuStreamSynchronize",
                       [&] { return api->streamSynchronize(stream); });
}

llvm::Expected<DevicePtr> Driver::allocate(ContextHandle context,
                                           std::size_t bytes) {
  if (bytes == 0)
    return DevicePtr(0);
  CUdeviceptr pointer = 0;
  if (llvm::Error error = callInContext(
          *this, context, "cuMemAlloc_v2 of " + llvm::Twine(bytes) + " bytes",
          [&] { return api->memAlloc(&pointer, bytes); }))
    return error;
  return DevicePtr(pointer);
}

llvm::Error Driver::free(ContextHandle context, DevicePtr pointer) {
  if (!pointer)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemFree_v2",
                       [&] { return api->memFree(pointer); });
}

llvm::Error Driver::copyToDeviceAsync(ContextHandle context,
                                      DevicePtr destination, const void *source,
                                      std::size_t bytes, StreamHandle stream) {
  if (bytes == 0)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemcpyHtoDAsync_v2", [&] {
    return api->memcpyHtoDAsync(destination, source, bytes, stream);
  });
}

llvm::Error Driver::copyToHostAsync(ContextHandle context, void *destination,
                                    DevicePtr source, std::size_t bytes,
                                    StreamHandle stream) {
  if (bytes == 0)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemcpyDtoHAsync_v2", [&] {
    return api->memcpyDtoHAsync(destination, source, bytes, stream);
  });
}

llvm::Error Driver::memsetAsync(ContextHandle context, DevicePtr destination,
                                std::uint8_t value, std::size_t bytes,
                                StreamHandle stream) {
  if (bytes == 0)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemsetD8Async", [&] {
    return api->memsetD8Async(destination, value, bytes, stream);
  });
}

llvm::Error Driver::memsetD16Async(ContextHandle context, DevicePtr destination,
                                   std::uint16_t value, std::size_t count,
                                   StreamHandle stream) {
  if (count == 0)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemsetD16Async", [&] {
    return api->memsetD16Async(destination, value, count, stream);
  });
}

llvm::Error Driver::memsetD32Async(ContextHandle context, DevicePtr destination,
                                   std::uint32_t value, std::size_t count,
                                   StreamHandle stream) {
  if (count == 0)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemsetD32Async", [&] {
    return api->memsetD32Async(destination, value, count, stream);
  });
}

llvm::Error Driver::copyDeviceToDeviceAsync(ContextHandle context,
                                            DevicePtr destination,
                                            DevicePtr source,
                                            std::size_t bytes,
                                            StreamHandle stream) {
  if (bytes == 0)
    return llvm::Error::success();
  return callInContext(*this, context, "cuMemcpyDtoDAsync_v2", [&] {
    return api->memcpyDtoDAsync(destination, source, bytes, stream);
  });
}

llvm::Expected<EventHandle> Driver::createEvent(ContextHandle context) {
  EventHandle event = nullptr;
  if (llvm::Error error = callInContext(*this, context, "cuEventCreate", [&] {
        return api->eventCreate(&event, kEventDisableTiming);
      }))
    return error;
  return event;
}

llvm::Error Driver::destroyEvent(ContextHandle context, EventHandle event) {
  if (!event)
    return llvm::Error::success();
  return callInContext(*this, context, "cuEventDestroy_v2",
                       [&] { return api->eventDestroy(event); });
}

llvm::Error Driver::recordEvent(ContextHandle context, EventHandle event,
                                StreamHandle stream) {
  return callInContext(*this, context, "cuEventRecord",
                       [&] { return api->eventRecord(event, stream); });
}

llvm::Expected<bool> Driver::queryEvent(ContextHandle context,
                                        EventHandle event) {
  bool complete = false;
  if (llvm::Error error = callInContext(*this, context, "cuEventQuery", [&] {
        CUresult result = api->eventQuery(event);
        if (result == kNotReady)
          return kSuccess;
        complete = result == kSuccess;
        return result;
      }))
    return error;
  return complete;
}

llvm::Expected<bool> Driver::isCapturing(ContextHandle context,
                                         StreamHandle stream) {
  int status = 0;
  if (llvm::Error error =
          callInContext(*this, context, "cuStreamIsCapturing", [&] {
            return api->streamIsCapturing(stream, &status);
          }))
    return error;
  return status != 0;
}

//===----------------------------------------------------------------------===//
// ContextScope
//===----------------------------------------------------------------------===//

llvm::Expected<ContextScope> ContextScope::enter(const Driver &driver,
                                                 ContextHandle context) {
  if (!context)
    return makeStringError("no CUDA context (null context handle)");
  const EntryPoints &api = driver.getEntryPoints();
  ContextHandle current = nullptr;
  if (CUresult result = api.ctxGetCurrent(&current))
    return driver.makeError("cuCtxGetCurrent", result);
  if (current == context)
    return ContextScope(nullptr);
  if (CUresult result = api.ctxPushCurrent(context))
    return driver.makeError("cuCtxPushCurrent_v2", result);
  return ContextScope(&driver);
}

ContextScope::ContextScope(ContextScope &&other) noexcept
    : driver(other.driver) {
  other.driver = nullptr;
}

ContextScope::~ContextScope() {
  if (!driver)
    return;
  ContextHandle popped = nullptr;
  // Cannot fail for the context pushed on this thread by enter().
  (void)driver->getEntryPoints().ctxPopCurrent(&popped);
}

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

/// Whether `image` is a binary (cubin, fatbin) rather than PTX text.
static bool isBinaryImage(llvm::StringRef image) {
  static constexpr char kElfMagic[] = {0x7f, 'E', 'L', 'F'};
  // The fatbin header's magic 0xBA55ED50, little-endian.
  static constexpr unsigned char kFatbinMagic[] = {0x50, 0xED, 0x55, 0xBA};
  return image.starts_with(llvm::StringRef(kElfMagic, sizeof(kElfMagic))) ||
         image.starts_with(
             llvm::StringRef(reinterpret_cast<const char *>(kFatbinMagic),
                             sizeof(kFatbinMagic)));
}

llvm::Expected<Module> Module::load(Driver &driver, ContextHandle context,
                                    llvm::StringRef image) {
  if (image.empty())
    return makeStringError("cannot load an empty CUDA module image");
  // The driver finds the end of PTX text by its NUL.
  std::string terminated;
  const void *data = image.data();
  if (!isBinaryImage(image) && image.back() != '\0') {
    terminated = image.str();
    data = terminated.c_str();
  }
  ModuleHandle handle = nullptr;
  if (llvm::Error error =
          callInContext(driver, context, "cuModuleLoadData", [&] {
            return driver.getEntryPoints().moduleLoadData(&handle, data);
          }))
    return error;
  Module module;
  module.driver = &driver;
  module.context = context;
  module.handle = handle;
  return module;
}

Module::Module(Module &&other) noexcept
    : driver(other.driver), context(other.context), handle(other.handle) {
  other.handle = nullptr;
}

Module &Module::operator=(Module &&other) noexcept {
  if (this != &other) {
    llvm::consumeError(unload());
    driver = other.driver;
    context = other.context;
    handle = other.handle;
    other.handle = nullptr;
  }
  return *this;
}

Module::~Module() { llvm::consumeError(unload()); }

llvm::Expected<Function> Module::getFunction(llvm::StringRef name) const {
  if (!handle)
    return makeStringError("no kernel '" + name + "': the module is empty");
  std::string terminated = name.str();
  FunctionHandle function = nullptr;
  if (llvm::Error error = callInContext(
          *driver, context, "cuModuleGetFunction of '" + name + "'", [&] {
            return driver->getEntryPoints().moduleGetFunction(
                &function, handle, terminated.c_str());
          }))
    return error;
  return Function{function, context};
}

llvm::Error Module::unload() {
  if (!handle)
    return llvm::Error::success();
  ModuleHandle unloading = handle;
  handle = nullptr;
  return callInContext(*driver, context, "cuModuleUnload", [&] {
    return driver->getEntryPoints().moduleUnload(unloading);
  });
}

//===----------------------------------------------------------------------===//
// DeviceBuffer
//===----------------------------------------------------------------------===//

llvm::Expected<DeviceBuffer> DeviceBuffer::allocate(Driver &driver,
                                                    ContextHandle context,
                                                    std::size_t bytes) {
  auto pointer = driver.allocate(context, bytes);
  if (!pointer)
    return pointer.takeError();
  DeviceBuffer buffer;
  buffer.driver = &driver;
  buffer.context = context;
  buffer.pointer = *pointer;
  buffer.bytes = bytes;
  return buffer;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : driver(other.driver), context(other.context), pointer(other.pointer),
      bytes(other.bytes) {
  other.pointer = 0;
  other.bytes = 0;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    llvm::consumeError(release());
    driver = other.driver;
    context = other.context;
    pointer = other.pointer;
    bytes = other.bytes;
    other.pointer = 0;
    other.bytes = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() { llvm::consumeError(release()); }

llvm::Error DeviceBuffer::checkRange(llvm::StringRef what, std::size_t count,
                                     std::size_t offset) const {
  if (offset > bytes || count > bytes - offset)
    return makeStringError(what + " of " + llvm::Twine(count) +
                           " bytes at offset " + llvm::Twine(offset) +
                           " exceeds a device buffer of " + llvm::Twine(bytes) +
                           " bytes");
  return llvm::Error::success();
}

llvm::Error DeviceBuffer::copyFromHostAsync(const void *source,
                                            std::size_t count,
                                            StreamHandle stream,
                                            std::size_t offset) {
  if (llvm::Error error = checkRange("a copy to the device", count, offset))
    return error;
  if (count == 0)
    return llvm::Error::success();
  return driver->copyToDeviceAsync(context, pointer + offset, source, count,
                                   stream);
}

llvm::Error DeviceBuffer::copyToHostAsync(void *destination, std::size_t count,
                                          StreamHandle stream,
                                          std::size_t offset) const {
  if (llvm::Error error = checkRange("a copy to the host", count, offset))
    return error;
  if (count == 0)
    return llvm::Error::success();
  return driver->copyToHostAsync(context, destination, pointer + offset, count,
                                 stream);
}

llvm::Error DeviceBuffer::memsetAsync(std::uint8_t value, StreamHandle stream) {
  if (bytes == 0)
    return llvm::Error::success();
  return driver->memsetAsync(context, pointer, value, bytes, stream);
}

llvm::Error DeviceBuffer::release() {
  if (!pointer)
    return llvm::Error::success();
  DevicePtr freeing = pointer;
  pointer = 0;
  bytes = 0;
  return driver->free(context, freeing);
}
