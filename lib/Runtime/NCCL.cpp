//===- NCCL.cpp - NCCL, loaded at run time --------------------------------===//
//
// The entry points are declared here (NCCL.h) rather than taken from
// nccl.h, so that the build has one path whether or not NCCL is installed;
// the signatures and values are those of NCCL 2's nccl.h.
//
//===----------------------------------------------------------------------===//

#include "NCCL.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/DynamicLibrary.h"

#include <cstdlib>
#include <type_traits>

using namespace optim::runtime::nccl;

namespace {
constexpr const char *kDefaultLibrary = "libnccl.so.2";

llvm::Error makeStringError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
} // namespace

namespace optim::runtime::nccl {
/// Loads NCCL once; Library::get() hands out the result.
struct LibraryLoader {
  /// Never destroyed: communicators may outlive static objects.
  Library *library = nullptr;
  std::string error;

  static const LibraryLoader &get() {
    static const LibraryLoader *loaded = [] {
      auto *result = new LibraryLoader();
      auto library = load(Library::getLibraryPath());
      if (library)
        result->library = library->release();
      else
        result->error = llvm::toString(library.takeError());
      return result;
    }();
    return *loaded;
  }

  static llvm::Expected<std::unique_ptr<Library>> load(const std::string &path) {
    std::string dlError;
    // Never closed: NCCL keeps threads that outlive any object of ours.
    llvm::sys::DynamicLibrary handle =
        llvm::sys::DynamicLibrary::getPermanentLibrary(path.c_str(), &dlError);
    if (!handle.isValid())
      return makeStringError("cannot load NCCL (" + path + "): " +
                             (dlError.empty() ? "unknown error" : dlError));
    auto library = std::make_unique<Library>();
    library->path = path;
    EntryPoints &api = library->entry;
    llvm::SmallVector<const char *> missing;
    auto resolve = [&](auto &slot, const char *name) {
      void *address = handle.getAddressOfSymbol(name);
      if (!address)
        missing.push_back(name);
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(address);
    };
    resolve(api.getUniqueId, "ncclGetUniqueId");
    resolve(api.commInitRank, "ncclCommInitRank");
    resolve(api.commDestroy, "ncclCommDestroy");
    resolve(api.commAbort, "ncclCommAbort");
    resolve(api.commGetAsyncError, "ncclCommGetAsyncError");
    resolve(api.broadcast, "ncclBroadcast");
    resolve(api.allGather, "ncclAllGather");
    resolve(api.groupStart, "ncclGroupStart");
    resolve(api.groupEnd, "ncclGroupEnd");
    resolve(api.getErrorString, "ncclGetErrorString");
    if (!missing.empty()) {
      std::string names;
      for (const char *name : missing)
        names += (names.empty() ? "" : ", ") + std::string(name);
      return makeStringError("NCCL (" + path + ") has no entry point" +
                             (missing.size() > 1 ? "s " : " ") + names);
    }
    return library;
  }
};
} // namespace optim::runtime::nccl

llvm::Expected<const Library &> Library::get() {
  const LibraryLoader &loaded = LibraryLoader::get();
  if (!loaded.library)
    return makeStringError(loaded.error);
  return *loaded.library;
}

std::string Library::getLibraryPath() {
  const char *override = std::getenv("OPTIM_NCCL_LIBRARY");
  return override && *override ? override : kDefaultLibrary;
}

std::string Library::describeResult(int result) const {
  const char *text = entry.getErrorString(result);
  std::string description = "NCCL error " + std::to_string(result);
  if (text && *text)
    description += std::string(" (") + text + ")";
  return description;
}

llvm::Error Library::makeError(const llvm::Twine &call, int result) const {
  return makeStringError(call + " failed: " + describeResult(result));
}
