/* A fake NCCL (libnccl.so.2) for the sharded GPU step's tests on machines
 * without a GPU: the collectives run over MPI on the fake CUDA driver's
 * "device memory" (host memory, Inputs/cuda_stub.c), and every call prints
 * a line ("nccl stub: ...").
 *
 * Collectives are started when their group ends (or at once outside a
 * group) as non-blocking MPI collectives on a duplicate of MPI_COMM_WORLD.
 * The fake driver is told through optimStubSetPendingHook that they are
 * in flight: until MPI completes them, cuEventQuery reports
 * CUDA_ERROR_NOT_READY. A rank that never joins a collective therefore
 * leaves the others' events pending, as a stalled GPU peer would.
 *
 * Variants, chosen when compiling:
 *   (none)               every entry point the runtime resolves
 *   -DSTUB_NO_ABORT      no ncclCommAbort
 * With OPTIM_NCCL_STUB_ASYNC_ERROR=R, rank R's collectives never complete
 * and ncclCommGetAsyncError reports ncclRemoteError there. */
#include <dlfcn.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef int ncclResult_t;
enum {
  ncclSuccess = 0,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
};
typedef struct {
  char internal[128];
} ncclUniqueId;
struct StubComm {
  MPI_Comm comm;
  int rank, nranks;
};
typedef struct StubComm *ncclComm_t;

#define MAX_OPS 64
static struct {
  int allgather;
  const void *send;
  void *recv;
  size_t bytes;
  int root;
  ncclComm_t comm;
} ops[MAX_OPS];
static int numOps;
static int groupDepth;
static MPI_Request requests[MAX_OPS];
static int numRequests;
static int asyncErrorHere;

static size_t typeSize(int type) {
  switch (type) {
  case 0: /* ncclInt8 */
  case 1: /* ncclUint8 */
    return 1;
  case 6: /* ncclFloat16 */
  case 9: /* ncclBfloat16 */
    return 2;
  case 2:
  case 3:
  case 7: /* ncclFloat32 */
    return 4;
  case 4:
  case 5:
  case 8: /* ncclFloat64 */
    return 8;
  default:
    return 0;
  }
}

/* Whether collectives are in flight (the fake driver's pending hook). */
static int pending(void) {
  if (asyncErrorHere)
    return 1;
  if (numRequests == 0)
    return 0;
  int done = 0;
  MPI_Testall(numRequests, requests, &done, MPI_STATUSES_IGNORE);
  if (done)
    numRequests = 0;
  return !done;
}

static ncclResult_t startOps(void) {
  for (int i = 0; i < numOps; ++i) {
    ncclComm_t comm = ops[i].comm;
    int code;
    if (numRequests == MAX_OPS)
      return ncclInternalError;
    if (ops[i].allgather) {
      char *mine = (char *)ops[i].recv + (size_t)comm->rank * ops[i].bytes;
      if (ops[i].send != mine)
        memcpy(mine, ops[i].send, ops[i].bytes);
      code = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, ops[i].recv,
                            (int)ops[i].bytes, MPI_BYTE, comm->comm,
                            &requests[numRequests++]);
    } else {
      if (comm->rank == ops[i].root && ops[i].send != ops[i].recv)
        memcpy(ops[i].recv, ops[i].send, ops[i].bytes);
      code = MPI_Ibcast(ops[i].recv, (int)ops[i].bytes, MPI_BYTE, ops[i].root,
                        comm->comm, &requests[numRequests++]);
    }
    if (code != MPI_SUCCESS)
      return ncclSystemError;
  }
  numOps = 0;
  return ncclSuccess;
}

EXPORT const char *ncclGetErrorString(ncclResult_t result) {
  switch (result) {
  case ncclSuccess:
    return "no error";
  case ncclSystemError:
    return "unhandled system error";
  case ncclInternalError:
    return "internal error";
  case ncclInvalidArgument:
    return "invalid argument";
  case ncclInvalidUsage:
    return "invalid usage";
  case ncclRemoteError:
    return "remote process exited or there was a network error";
  default:
    return "unknown result code";
  }
}

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  memset(id, 0, sizeof(*id));
  snprintf(id->internal, sizeof(id->internal), "optim nccl stub id of pid %ld",
           (long)getpid());
  printf("nccl stub: ncclGetUniqueId\n");
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks,
                                     ncclUniqueId id, int rank) {
  int initialised = 0, size = 0, worldRank = 0;
  MPI_Initialized(&initialised);
  if (!initialised)
    return ncclInvalidUsage;
  void (*setHook)(int (*)(void)) =
      (void (*)(int (*)(void)))dlsym(RTLD_DEFAULT, "optimStubSetPendingHook");
  if (!setHook)
    return ncclSystemError;
  struct StubComm *created = calloc(1, sizeof(struct StubComm));
  MPI_Comm_dup(MPI_COMM_WORLD, &created->comm);
  MPI_Comm_size(created->comm, &size);
  MPI_Comm_rank(created->comm, &worldRank);
  /* Every rank must have received rank 0's id. */
  char *ids = malloc((size_t)size * sizeof(id.internal));
  MPI_Allgather(id.internal, sizeof(id.internal), MPI_BYTE, ids,
                sizeof(id.internal), MPI_BYTE, created->comm);
  int same = 1;
  for (int r = 0; r < size; ++r)
    same &= memcmp(ids + r * sizeof(id.internal), id.internal,
                   sizeof(id.internal)) == 0;
  free(ids);
  printf("nccl stub: ncclCommInitRank rank %d of %d, same id on every rank %d,"
         " id from rank 0 %d\n",
         rank, nranks, same,
         strncmp(id.internal, "optim nccl stub id", 18) == 0);
  if (!same || size != nranks || worldRank != rank)
    return ncclInvalidArgument;
  created->rank = rank;
  created->nranks = nranks;
  const char *error = getenv("OPTIM_NCCL_STUB_ASYNC_ERROR");
  asyncErrorHere = error && atoi(error) == rank;
  setHook(pending);
  *comm = created;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  printf("nccl stub: ncclCommDestroy rank %d\n", comm->rank);
  /* The duplicate communicator is left to MPI_Finalize. */
  free(comm);
  return ncclSuccess;
}

#ifndef STUB_NO_ABORT
EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm) {
  /* MPI cannot cancel collectives: they are abandoned. */
  printf("nccl stub: ncclCommAbort rank %d, collectives in flight %d\n",
         comm->rank, pending());
  numRequests = 0;
  asyncErrorHere = 0;
  free(comm);
  return ncclSuccess;
}
#endif

EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm,
                                          ncclResult_t *error) {
  (void)comm;
  *error = asyncErrorHere ? ncclRemoteError : ncclSuccess;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclGroupStart(void) {
  ++groupDepth;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclGroupEnd(void) {
  if (groupDepth == 0)
    return ncclInvalidUsage;
  if (--groupDepth > 0)
    return ncclSuccess;
  printf("nccl stub: ncclGroupEnd starts %d collectives\n", numOps);
  return startOps();
}

static ncclResult_t enqueue(int allgather, const void *send, void *recv,
                            size_t count, int type, int root, ncclComm_t comm,
                            void *stream) {
  (void)stream;
  size_t size = typeSize(type);
  if (!comm || !size || (count && (!send || !recv)) || numOps == MAX_OPS)
    return ncclInvalidArgument;
  if (!allgather && (root < 0 || root >= comm->nranks))
    return ncclInvalidArgument;
  ops[numOps].allgather = allgather;
  ops[numOps].send = send;
  ops[numOps].recv = recv;
  ops[numOps].bytes = count * size;
  ops[numOps].root = root;
  ops[numOps].comm = comm;
  ++numOps;
  return groupDepth ? ncclSuccess : startOps();
}

EXPORT ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count,
                                  int type, int root, ncclComm_t comm,
                                  void *stream) {
  printf("nccl stub: ncclBroadcast %zu bytes root %d in place %d\n",
         count * typeSize(type), root, send == recv);
  return enqueue(0, send, recv, count, type, root, comm, stream);
}

EXPORT ncclResult_t ncclAllGather(const void *send, void *recv, size_t count,
                                  int type, ncclComm_t comm, void *stream) {
  printf("nccl stub: ncclAllGather %zu bytes per rank in place %d\n",
         count * typeSize(type),
         comm && send == (const char *)recv +
                             (size_t)comm->rank * count * typeSize(type));
  return enqueue(1, send, recv, count, type, 0, comm, stream);
}
