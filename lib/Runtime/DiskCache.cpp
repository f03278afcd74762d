//===- DiskCache.cpp - compiled steps kept across processes ---------------===//
//
// An entry is one file `<key>.o`: a fixed header, the SHA-256 of the key and
// the object, then the object. A file whose digest does not match (a crash
// of the file system, a stray edit, a copy from another key) is ignored and
// overwritten by the next compilation.
//
//===----------------------------------------------------------------------===//

#include "DiskCache.h"

#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <cstdlib>
#include <cstring>

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/stat.h>

using namespace optim::runtime;
using namespace optim::runtime::detail;

#ifndef OPTIM_VERSION
#define OPTIM_VERSION "unknown"
#endif

/// Changes whenever the entry layout or the way objects are produced does.
static constexpr llvm::StringLiteral kEntryMagic = "optim-mlir object 1\n";

std::optional<std::string> detail::getDiskCacheDirectory() {
  const char *disable = std::getenv("OPTIM_MLIR_DISABLE_DISK_CACHE");
  if (disable && *disable && llvm::StringRef(disable) != "0")
    return std::nullopt;
  if (const char *dir = std::getenv("OPTIM_MLIR_CACHE_DIR"); dir && *dir)
    return std::string(dir);
  llvm::SmallString<256> path;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    path = xdg;
  } else {
    const char *home = std::getenv("HOME");
    if (!home || !*home)
      return std::nullopt;
    path = home;
    llvm::sys::path::append(path, ".cache");
  }
  llvm::sys::path::append(path, "optim-mlir");
  return std::string(path);
}

namespace {
struct BuildIdSearch {
  uintptr_t base;
  std::string id;
};

int findBuildId(dl_phdr_info *object, size_t, void *data) {
  auto *search = static_cast<BuildIdSearch *>(data);
  uintptr_t lowest = UINTPTR_MAX;
  for (int i = 0; i < object->dlpi_phnum; ++i)
    if (object->dlpi_phdr[i].p_type == PT_LOAD)
      lowest = std::min<uintptr_t>(lowest, object->dlpi_phdr[i].p_vaddr);
  if (lowest == UINTPTR_MAX || object->dlpi_addr + lowest != search->base)
    return 0;
  for (int i = 0; i < object->dlpi_phnum; ++i) {
    const ElfW(Phdr) &segment = object->dlpi_phdr[i];
    if (segment.p_type != PT_NOTE)
      continue;
    const char *note =
        reinterpret_cast<const char *>(object->dlpi_addr + segment.p_vaddr);
    const char *end = note + segment.p_memsz;
    while (note + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) header;
      std::memcpy(&header, note, sizeof(header));
      const char *name = note + sizeof(header);
      const char *desc = name + ((header.n_namesz + 3) & ~3u);
      const char *next = desc + ((header.n_descsz + 3) & ~3u);
      if (next > end)
        break;
      if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        search->id = llvm::toHex(llvm::StringRef(desc, header.n_descsz));
        return 1;
      }
      note = next;
    }
  }
  return 1;
}

/// Identifies the build of the shared object holding `address`: its GNU
/// build id, else its path, size and modification time.
std::string getBuildIdentity(const void *address) {
  Dl_info info;
  if (!dladdr(address, &info) || !info.dli_fbase)
    return "?";
  BuildIdSearch search{reinterpret_cast<uintptr_t>(info.dli_fbase), ""};
  dl_iterate_phdr(findBuildId, &search);
  if (!search.id.empty())
    return search.id;
  struct stat status;
  if (!info.dli_fname || stat(info.dli_fname, &status) != 0)
    return "?";
  return std::string(info.dli_fname) + ":" + std::to_string(status.st_size) +
         ":" + std::to_string(status.st_mtim.tv_sec) + "." +
         std::to_string(status.st_mtim.tv_nsec);
}

/// The compiler: versions and the builds of the libraries that compile.
const std::string &getCompilerIdentity() {
  static const std::string identity = [] {
    std::string result =
        "optim-mlir " OPTIM_VERSION " llvm " LLVM_VERSION_STRING;
    result +=
        " runtime " +
        getBuildIdentity(reinterpret_cast<const void *>(&getCompilerIdentity));
    result += " llvm " + getBuildIdentity(reinterpret_cast<const void *>(
                             &llvm::sys::getHostCPUName));
    using Translate = std::unique_ptr<llvm::Module> (*)(
        mlir::Operation *, llvm::LLVMContext &, llvm::StringRef, bool);
    Translate translate = &mlir::translateModuleToLLVMIR;
    result +=
        " mlir " + getBuildIdentity(reinterpret_cast<const void *>(translate));
    return result;
  }();
  return identity;
}

std::string getEntryPath(llvm::StringRef directory, llvm::StringRef key) {
  llvm::SmallString<256> path(directory);
  llvm::sys::path::append(path, key + ".o");
  return std::string(path);
}

std::array<uint8_t, 32> digestEntry(llvm::StringRef key,
                                    llvm::StringRef object) {
  llvm::SHA256 hash;
  hash.update(key);
  hash.update(object);
  return hash.final();
}
} // namespace

std::string detail::computeDiskCacheKey(llvm::StringRef source,
                                        llvm::StringRef options,
                                        llvm::StringRef target) {
  llvm::SHA256 hash;
  // Each part is preceded by its length, so no two lists of parts hash the
  // same bytes.
  auto add = [&](llvm::StringRef part) {
    uint64_t size = part.size();
    hash.update(llvm::ArrayRef<uint8_t>(reinterpret_cast<uint8_t *>(&size),
                                        sizeof(size)));
    hash.update(part);
  };
  add(kEntryMagic);
  add(getCompilerIdentity());
  add(target);
  add(options);
  add(source);
  std::array<uint8_t, 32> digest = hash.final();
  return llvm::toHex(llvm::ArrayRef<uint8_t>(digest), /*LowerCase=*/true);
}

DiskCacheLookup detail::loadFromDiskCache(llvm::StringRef directory,
                                          llvm::StringRef key) {
  DiskCacheLookup result;
  auto file = llvm::MemoryBuffer::getFile(getEntryPath(directory, key),
                                          /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return result;
  llvm::StringRef contents = (*file)->getBuffer();
  size_t headerSize = kEntryMagic.size() + 32;
  if (contents.size() <= headerSize || !contents.starts_with(kEntryMagic)) {
    result.rejected = true;
    return result;
  }
  llvm::StringRef object = contents.drop_front(headerSize);
  std::array<uint8_t, 32> digest = digestEntry(key, object);
  if (std::memcmp(digest.data(), contents.data() + kEntryMagic.size(), 32)) {
    result.rejected = true;
    return result;
  }
  result.object = llvm::MemoryBuffer::getMemBufferCopy(object, key);
  return result;
}

bool detail::storeInDiskCache(llvm::StringRef directory, llvm::StringRef key,
                              llvm::StringRef object) {
  if (llvm::sys::fs::create_directories(directory))
    return false;
  llvm::SmallString<256> model(directory);
  llvm::sys::path::append(model, key + ".%%%%%%%%.tmp");
  int fd;
  llvm::SmallString<256> tempPath;
  if (llvm::sys::fs::createUniqueFile(model, fd, tempPath))
    return false;
  std::array<uint8_t, 32> digest = digestEntry(key, object);
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << kEntryMagic
       << llvm::StringRef(reinterpret_cast<const char *>(digest.data()),
                          digest.size())
       << object;
    os.close();
    if (os.has_error()) {
      os.clear_error();
      llvm::sys::fs::remove(tempPath);
      return false;
    }
  }
  if (llvm::sys::fs::rename(tempPath, getEntryPath(directory, key))) {
    llvm::sys::fs::remove(tempPath);
    return false;
  }
  return true;
}
