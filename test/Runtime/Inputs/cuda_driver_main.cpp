// The CUDA driver layer (CUDADriver.h) and its C API on a machine without a
// GPU, against a fake driver (cuda_stub.c) or none at all.
//
//   cuda_driver_main errors   every entry point reports the load failure
//   cuda_driver_main stub     loads, launches, copies and frees on the stub
//
// Output goes through printf only, so that it interleaves in order with the
// stub's own lines.

#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/optim-c.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>

using namespace optim::runtime::cuda;

namespace {
void printError(const char *what, llvm::Error error) {
  std::printf("%s: error: %s\n", what,
              llvm::toString(std::move(error)).c_str());
}

template <typename T> bool check(const char *what, llvm::Expected<T> &value) {
  if (value)
    return true;
  printError(what, value.takeError());
  return false;
}

void expectError(const char *what, llvm::Error error) {
  if (error)
    printError(what, std::move(error));
  else
    std::printf("%s: unexpected success\n", what);
}

/// The C API's two functions.
void reportCApi() {
  char *error = nullptr;
  int status = optimCudaDriverAvailable(&error);
  std::printf("optimCudaDriverAvailable: %d %s\n", status,
              status ? error : "available");
  optimFreeError(error);
  error = nullptr;
  char *description = nullptr;
  status = optimCudaDriverDescribe(&description, &error);
  std::printf("optimCudaDriverDescribe: %d\n%s\n", status,
              status ? error : description);
  optimFreeError(error);
  optimFreeError(description);
  // A NULL `error` is allowed.
  std::printf("optimCudaDriverAvailable(NULL): %d\n",
              optimCudaDriverAvailable(nullptr));
}

int runErrors() {
  // The failure is remembered: the second call says the same.
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto driver = Driver::get();
    if (driver) {
      std::printf("get %d: available\n", attempt);
      continue;
    }
    printError(("get " + std::to_string(attempt)).c_str(), driver.takeError());
  }
  reportCApi();
  return 0;
}

long readStubCounter(const char *name) {
  // The runtime opens the driver with RTLD_GLOBAL.
  auto *counter = reinterpret_cast<long (*)()>(dlsym(RTLD_DEFAULT, name));
  return counter ? counter() : -1;
}

int runStub() {
  reportCApi();
  auto driver = Driver::get();
  if (!check("get", driver))
    return 1;
  std::printf("devices %d version %d\n", driver->getDeviceCount(),
              driver->getVersion());

  auto name = driver->getDeviceName(1);
  if (!name)
    printError("device name 1", name.takeError());
  auto capability = driver->getComputeCapability(-1);
  if (!capability)
    printError("capability -1", capability.takeError());
  auto badContext = driver->getPrimaryContext(2);
  if (!badContext)
    printError("context 2", badContext.takeError());

  auto context = driver->getPrimaryContext(0);
  if (!check("context", context))
    return 1;
  auto again = driver->getPrimaryContext(0);
  if (!check("context again", again))
    return 1;
  std::printf("same context: %d\n", *again == *context);
  std::printf("description: %s\n", driver->describeResult(100).c_str());
  std::printf("unknown result: %s\n", driver->describeResult(12345).c_str());

  // Images: empty, not PTX, a cubin, and a PTX text without its NUL.
  {
    auto empty = Module::load(*driver, *context, "");
    if (!empty)
      printError("empty image", empty.takeError());
    auto garbage = Module::load(*driver, *context, "not ptx");
    if (!garbage)
      printError("bad image", garbage.takeError());
    static const char cubin[] = "\x7f"
                                "ELF\2\1\1";
    auto binary =
        Module::load(*driver, *context, llvm::StringRef(cubin, sizeof(cubin)));
    if (!check("cubin", binary))
      return 1;
    llvm::Error unloaded = binary->unload();
    std::printf("explicit unload: %s\n", unloaded ? "error" : "ok");
    llvm::consumeError(std::move(unloaded));
  }

  std::string ptxFile = ".version 8.0\n.target sm_90\n.entry scale()\n";
  // A slice ending inside the text: the driver must see exactly the slice.
  llvm::StringRef ptx = llvm::StringRef(ptxFile).drop_back(1);
  {
    auto stream = driver->createStream(*context);
    if (!check("stream", stream))
      return 1;

    auto module = Module::load(*driver, *context, ptx);
    if (!check("module", module))
      return 1;
    auto missing = module->getFunction("missing");
    if (!missing)
      printError("function missing", missing.takeError());
    auto function = module->getFunction("scale");
    if (!check("function", function))
      return 1;

    float host[4] = {1, 2, 3, 4};
    auto buffer = DeviceBuffer::allocate(*driver, *context, sizeof(host));
    if (!check("buffer", buffer))
      return 1;
    std::printf("buffer %p size %zu\n", reinterpret_cast<void *>(buffer->get()),
                buffer->size());
    if (llvm::Error error =
            buffer->copyFromHostAsync(host, sizeof(host), *stream)) {
      printError("copy to device", std::move(error));
      return 1;
    }

    DevicePtr data = buffer->get();
    float factor = 2.5f;
    int n = 3;
    void *args[] = {&data, &factor, &n};
    std::printf("host args %p %p %p\n", args[0], args[1], args[2]);
    if (llvm::Error error = driver->launch(
            *function, Dim3{2, 3, 1}, Dim3{128, 1, 1}, 64, *stream, args)) {
      printError("launch", std::move(error));
      return 1;
    }
    float result[4] = {};
    if (llvm::Error error =
            buffer->copyToHostAsync(result, sizeof(result), *stream)) {
      printError("copy to host", std::move(error));
      return 1;
    }
    if (llvm::Error error = driver->synchronize(*context, *stream)) {
      printError("synchronize", std::move(error));
      return 1;
    }
    std::printf("result %g %g %g %g\n", result[0], result[1], result[2],
                result[3]);

    // Errors the layer catches before calling the driver.
    expectError("copy too large",
                buffer->copyFromHostAsync(host, sizeof(host), *stream, 4));
    expectError("read past the end",
                buffer->copyToHostAsync(result, 4, *stream, 16 + 4));
    expectError("empty grid", driver->launch(*function, Dim3{0, 1, 1}, Dim3{},
                                             0, nullptr, args));
    expectError("null function",
                driver->launch(Function{}, Dim3{}, Dim3{}, 0, nullptr, args));
    expectError("null context", driver->synchronize(nullptr, nullptr));
    auto huge = DeviceBuffer::allocate(*driver, *context, std::size_t(1) << 41);
    if (!huge)
      printError("huge buffer", huge.takeError());
    auto none = DeviceBuffer::allocate(*driver, *context, 0);
    if (check("empty buffer", none))
      std::printf("empty buffer %llu\n",
                  static_cast<unsigned long long>(none->get()));

    // memset on the legacy default stream, then read back.
    if (llvm::Error error = buffer->memsetAsync(0, nullptr)) {
      printError("memset", std::move(error));
      return 1;
    }
    if (llvm::Error error =
            buffer->copyToHostAsync(result, sizeof(result), nullptr)) {
      printError("copy to host", std::move(error));
      return 1;
    }
    std::printf("after memset %g %g %g %g\n", result[0], result[1], result[2],
                result[3]);

    // A context already current is not pushed again.
    {
      auto scope = ContextScope::enter(*driver, *context);
      if (!check("scope", scope))
        return 1;
      std::printf("depth in a scope: %ld\n",
                  readStubCounter("optimStubContextDepth"));
      auto inner = ContextScope::enter(*driver, *context);
      if (!check("inner scope", inner))
        return 1;
      if (llvm::Error error = driver->synchronize(*context, nullptr)) {
        printError("synchronize", std::move(error));
        return 1;
      }
      std::printf("depth in a nested scope: %ld\n",
                  readStubCounter("optimStubContextDepth"));
    }
    std::printf("depth after the scope: %ld\n",
                readStubCounter("optimStubContextDepth"));

    // A moved-from buffer frees nothing; the moved-to one frees once.
    DeviceBuffer moved = std::move(*buffer);
    std::printf("moved: %d %d\n", buffer->get() == 0, moved.get() == data);

    if (llvm::Error error = driver->destroyStream(*context, *stream)) {
      printError("destroy stream", std::move(error));
      return 1;
    }
    std::printf("context depth before the destructors: %ld\n",
                readStubCounter("optimStubContextDepth"));
  }
  std::printf("live: allocations %ld modules %ld streams %ld context depth "
              "%ld\n",
              readStubCounter("optimStubLiveAllocations"),
              readStubCounter("optimStubLiveModules"),
              readStubCounter("optimStubLiveStreams"),
              readStubCounter("optimStubContextDepth"));
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  if (argc == 2 && std::strcmp(argv[1], "errors") == 0)
    return runErrors();
  if (argc == 2 && std::strcmp(argv[1], "stub") == 0)
    return runStub();
  std::fprintf(stderr, "usage: %s errors|stub\n", argv[0]);
  return 2;
}
