//===- CUDADriver.h - the CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// The few CUDA driver entry points a GPU step needs, resolved from
// libcuda.so.1 when first used. Neither this header nor the runtime library
// depends on the CUDA toolkit or links libcuda: a machine without a driver
// builds and runs everything else, and every call here then returns an
// error that says why (docs/GPU.md, "CUDA driver").
//
// Every operation returns llvm::Error / llvm::Expected; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_CUDADRIVER_H
#define OPTIM_RUNTIME_CUDADRIVER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace optim::runtime::cuda {

// Opaque handles with the driver's ABI (CUcontext, CUmodule, CUfunction,
// CUstream are pointers to incomplete structs; CUdeviceptr is 64 bits).
struct ContextObject;
struct ModuleObject;
struct FunctionObject;
struct StreamObject;
struct EventObject;
using ContextHandle = ContextObject *;
using ModuleHandle = ModuleObject *;
using FunctionHandle = FunctionObject *;
/// nullptr is the legacy default stream.
using StreamHandle = StreamObject *;
using EventHandle = EventObject *;
using DevicePtr = std::uint64_t;

/// A grid or block shape of a launch.
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct ComputeCapability {
  int major = 0;
  int minor = 0;
};

/// A kernel of a loaded Module, with the context it belongs to.
struct Function {
  FunctionHandle handle = nullptr;
  ContextHandle context = nullptr;
};

/// The driver's entry points, resolved by name (CUDADriver.cpp).
struct EntryPoints;

/// The CUDA driver of this process: loaded, initialised and checked for a
/// device once, on the first call to get().
///
/// Driver calls act on the context current on the calling thread. The
/// operations below that take a context make it current for their
/// duration (ContextScope), so callers need not manage contexts themselves.
class Driver {
public:
  /// Loads the driver on first use: `$OPTIM_CUDA_DRIVER` if set and not
  /// empty, else `libcuda.so.1`; resolves its entry points, calls cuInit
  /// and counts the devices. Thread-safe. A failure (no library, a missing
  /// entry point, cuInit failing, no device) is remembered and returned by
  /// every later call.
  static llvm::Expected<Driver &> get();

  /// The library get() loads (the override or `libcuda.so.1`).
  static std::string getLibraryPath();

  ~Driver();
  Driver(const Driver &) = delete;
  Driver &operator=(const Driver &) = delete;

  /// The path the driver was loaded from.
  llvm::StringRef getLoadedPath() const { return path; }
  /// cuDriverGetVersion: 1000 * major + 10 * minor (13000 for CUDA 13.0).
  int getVersion() const { return version; }
  /// At least 1.
  int getDeviceCount() const { return deviceCount; }

  llvm::Expected<std::string> getDeviceName(int device) const;
  llvm::Expected<ComputeCapability> getComputeCapability(int device) const;

  /// The primary context of `device`, retained on first use and kept until
  /// the process ends.
  llvm::Expected<ContextHandle> getPrimaryContext(int device);

  /// "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)".
  std::string describeResult(int result) const;

  // Kernels. The function's context is made current for the launch.

  /// cuLaunchKernel: `args[i]` points to the value of kernel parameter i
  /// (the driver copies the values before returning). `args` may be null
  /// for a kernel without parameters.
  llvm::Error launch(const Function &function, Dim3 grid, Dim3 block,
                     unsigned sharedBytes, StreamHandle stream, void **args);

  // Streams.

  /// A non-blocking stream of `context`; release it with destroyStream.
  llvm::Expected<StreamHandle> createStream(ContextHandle context);
  llvm::Error destroyStream(ContextHandle context, StreamHandle stream);
  llvm::Error synchronize(ContextHandle context, StreamHandle stream);

  // Device memory. DeviceBuffer owns an allocation; these are the raw calls.

  /// 0 bytes give the null pointer without a driver call.
  llvm::Expected<DevicePtr> allocate(ContextHandle context, std::size_t bytes);
  /// Freeing the null pointer does nothing.
  llvm::Error free(ContextHandle context, DevicePtr pointer);
  llvm::Error copyToDeviceAsync(ContextHandle context, DevicePtr destination,
                                const void *source, std::size_t bytes,
                                StreamHandle stream);
  llvm::Error copyToHostAsync(ContextHandle context, void *destination,
                              DevicePtr source, std::size_t bytes,
                              StreamHandle stream);
  llvm::Error memsetAsync(ContextHandle context, DevicePtr destination,
                          std::uint8_t value, std::size_t bytes,
                          StreamHandle stream);
  /// Sets `count` 16-bit (32-bit) values from `destination` (2-byte or
  /// 4-byte aligned) to `value`.
  llvm::Error memsetD16Async(ContextHandle context, DevicePtr destination,
                             std::uint16_t value, std::size_t count,
                             StreamHandle stream);
  llvm::Error memsetD32Async(ContextHandle context, DevicePtr destination,
                             std::uint32_t value, std::size_t count,
                             StreamHandle stream);
  /// Copies `bytes` between device buffers, in order on `stream`.
  llvm::Error copyDeviceToDeviceAsync(ContextHandle context,
                                      DevicePtr destination, DevicePtr source,
                                      std::size_t bytes, StreamHandle stream);

  // Events (without timing), for polling a stream's progress.

  llvm::Expected<EventHandle> createEvent(ContextHandle context);
  llvm::Error destroyEvent(ContextHandle context, EventHandle event);
  /// cuEventRecord: the event completes when the work enqueued on `stream`
  /// before it has.
  llvm::Error recordEvent(ContextHandle context, EventHandle event,
                          StreamHandle stream);
  /// cuEventQuery: true when complete, false while not ready.
  llvm::Expected<bool> queryEvent(ContextHandle context, EventHandle event);

  /// Whether `stream` is capturing work into a CUDA graph (or its capture
  /// was invalidated).
  llvm::Expected<bool> isCapturing(ContextHandle context, StreamHandle stream);

  /// The resolved entry points (CUDADriver.cpp).
  const EntryPoints &getEntryPoints() const { return *api; }

  /// An error "<call> failed: <describeResult(result)>".
  llvm::Error makeError(const llvm::Twine &call, int result) const;

private:
  Driver(std::string path, std::unique_ptr<EntryPoints> api);
  friend struct DriverLoader;

  std::string path;
  std::unique_ptr<EntryPoints> api;
  int version = 0;
  int deviceCount = 0;
  std::mutex contextsMutex;
  /// Retained primary contexts, by device (null until first used).
  std::vector<ContextHandle> primaryContexts;
};

/// Makes a context current on this thread for the scope's lifetime:
/// pushes it unless it already is current, and pops it again on
/// destruction.
class ContextScope {
public:
  static llvm::Expected<ContextScope> enter(const Driver &driver,
                                            ContextHandle context);
  ContextScope(ContextScope &&other) noexcept;
  ContextScope &operator=(ContextScope &&) = delete;
  ContextScope(const ContextScope &) = delete;
  ~ContextScope();

private:
  explicit ContextScope(const Driver *driver) : driver(driver) {}
  /// Null when nothing was pushed.
  const Driver *driver;
};

/// A loaded PTX or cubin image, unloaded (with its context current) on
/// destruction.
class Module {
public:
  /// cuModuleLoadData in `context`. `image` is PTX text (copied to add the
  /// terminating NUL the driver needs when it is missing) or a cubin or
  /// fatbin image (recognised by its magic number).
  static llvm::Expected<Module> load(Driver &driver, ContextHandle context,
                                     llvm::StringRef image);

  Module() = default;
  Module(Module &&other) noexcept;
  Module &operator=(Module &&other) noexcept;
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  /// Unloads, ignoring a failure (call unload() to see it).
  ~Module();

  /// The kernel named `name` (an `.entry` of the PTX).
  llvm::Expected<Function> getFunction(llvm::StringRef name) const;
  /// cuModuleUnload now; the module is then empty.
  llvm::Error unload();

  ModuleHandle getHandle() const { return handle; }
  ContextHandle getContext() const { return context; }

private:
  Driver *driver = nullptr;
  ContextHandle context = nullptr;
  ModuleHandle handle = nullptr;
};

/// Device memory of one context, freed (with its context current) on
/// destruction.
class DeviceBuffer {
public:
  static llvm::Expected<DeviceBuffer>
  allocate(Driver &driver, ContextHandle context, std::size_t bytes);

  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  /// Frees, ignoring a failure (call release() to see it).
  ~DeviceBuffer();

  DevicePtr get() const { return pointer; }
  std::size_t size() const { return bytes; }
  ContextHandle getContext() const { return context; }

  /// Copies `count` bytes from the host to the buffer at `offset`. The
  /// range must lie inside the buffer.
  llvm::Error copyFromHostAsync(const void *source, std::size_t count,
                                StreamHandle stream, std::size_t offset = 0);
  /// Copies `count` bytes at `offset` of the buffer to the host.
  llvm::Error copyToHostAsync(void *destination, std::size_t count,
                              StreamHandle stream,
                              std::size_t offset = 0) const;
  /// Sets every byte of the buffer to `value`.
  llvm::Error memsetAsync(std::uint8_t value, StreamHandle stream);
  /// cuMemFree now; the buffer is then empty.
  llvm::Error release();

private:
  llvm::Error checkRange(llvm::StringRef what, std::size_t count,
                         std::size_t offset) const;

  Driver *driver = nullptr;
  ContextHandle context = nullptr;
  DevicePtr pointer = 0;
  std::size_t bytes = 0;
};

} // namespace optim::runtime::cuda

#endif // OPTIM_RUNTIME_CUDADRIVER_H
