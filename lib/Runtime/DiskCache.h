//===- DiskCache.h - compiled steps kept across processes -------*- C++ -*-===//
//
// Object code of compiled steps, stored in a directory keyed by a SHA-256 of
// everything that determines it, so that a restarted process skips
// compilation. Every failure (no directory, unwritable, a damaged file) makes
// the cache miss; none is reported as an error. See
// docs/Threads-and-caches.md.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_LIB_RUNTIME_DISKCACHE_H
#define OPTIM_LIB_RUNTIME_DISKCACHE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <optional>
#include <string>

namespace optim::runtime::detail {

/// The cache directory: $OPTIM_MLIR_CACHE_DIR, else
/// $XDG_CACHE_HOME/optim-mlir, else ~/.cache/optim-mlir; none when
/// OPTIM_MLIR_DISABLE_DISK_CACHE is set to anything but "" or "0". Read from
/// the environment at each call; the directory may not exist yet.
std::optional<std::string> getDiskCacheDirectory();

/// Hex SHA-256 of the source, the canonical pipeline options, `target` (the
/// host CPU and its features), the project and LLVM versions and the build
/// ids of the runtime, LLVM and MLIR libraries loaded in this process.
std::string computeDiskCacheKey(llvm::StringRef source, llvm::StringRef options,
                                llvm::StringRef target);

/// What looking up a key found.
struct DiskCacheLookup {
  /// The object, when a valid entry was found.
  std::unique_ptr<llvm::MemoryBuffer> object;
  /// Whether an entry existed but failed its check (damaged or truncated).
  bool rejected = false;
};
DiskCacheLookup loadFromDiskCache(llvm::StringRef directory,
                                  llvm::StringRef key);

/// Stores `object` under `key`: written to a temporary file in `directory`,
/// then renamed over the entry, so that readers see the whole old entry or
/// the whole new one. Returns whether the entry was written.
bool storeInDiskCache(llvm::StringRef directory, llvm::StringRef key,
                      llvm::StringRef object);

} // namespace optim::runtime::detail

#endif // OPTIM_LIB_RUNTIME_DISKCACHE_H
