//===- NCCL.h - NCCL, loaded at run time ------------------------*- C++ -*-===//
//
// The few NCCL entry points a sharded GPU step uses, resolved from
// libnccl.so.2 when first needed. Like the CUDA driver (CUDADriver.h), NCCL
// is never a link-time dependency: a machine without it builds and runs
// everything else, and a GPU sharded step then fails to compile with an
// error that says why (docs/Distributed-gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef LIB_RUNTIME_NCCL_H
#define LIB_RUNTIME_NCCL_H

#include "optim/Runtime/CUDADriver.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <memory>
#include <string>

namespace optim::runtime::nccl {

/// ncclComm_t: a pointer to an incomplete struct.
struct CommObject;
using CommHandle = CommObject *;

/// ncclUniqueId (NCCL_UNIQUE_ID_BYTES), passed by value.
struct UniqueId {
  char internal[128];
};

/// ncclResult_t values the runtime tells apart.
enum : int {
  kSuccess = 0,
  kInProgress = 7,
};

/// ncclDataType_t: bytes.
constexpr int kUint8 = 1;

/// The entry points (NCCL.cpp), with NCCL's signatures; a CUstream is a
/// cudaStream_t.
struct EntryPoints {
  int (*getUniqueId)(UniqueId *) = nullptr;
  int (*commInitRank)(CommHandle *, int, UniqueId, int) = nullptr;
  int (*commDestroy)(CommHandle) = nullptr;
  int (*commAbort)(CommHandle) = nullptr;
  int (*commGetAsyncError)(CommHandle, int *) = nullptr;
  int (*broadcast)(const void *, void *, std::size_t, int, int, CommHandle,
                   cuda::StreamHandle) = nullptr;
  int (*allGather)(const void *, void *, std::size_t, int, CommHandle,
                   cuda::StreamHandle) = nullptr;
  int (*groupStart)() = nullptr;
  int (*groupEnd)() = nullptr;
  const char *(*getErrorString)(int) = nullptr;
};

/// NCCL in this process: loaded once, on the first call to get(), from
/// `$OPTIM_NCCL_LIBRARY` if set and not empty, else `libnccl.so.2`. A
/// failure (no library, a missing entry point) is remembered and returned
/// by every later call.
class Library {
public:
  static llvm::Expected<const Library &> get();
  /// The library get() loads (the override or `libnccl.so.2`).
  static std::string getLibraryPath();

  const EntryPoints &api() const { return entry; }
  llvm::StringRef getLoadedPath() const { return path; }
  /// "ncclSystemError: unhandled system error ..." (NCCL's own text).
  std::string describeResult(int result) const;
  /// An error "<call> failed: <describeResult(result)>".
  llvm::Error makeError(const llvm::Twine &call, int result) const;

private:
  friend struct LibraryLoader;
  std::string path;
  EntryPoints entry;
};

} // namespace optim::runtime::nccl

#endif // LIB_RUNTIME_NCCL_H
