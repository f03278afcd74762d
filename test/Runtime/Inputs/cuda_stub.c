/* A fake CUDA driver (libcuda.so.1) for the runtime's tests on machines
 * without a GPU. It exports the entry points the runtime resolves, prints
 * each call it receives ("stub: ...") and keeps "device memory" in host
 * memory, so that copies and the one kernel it knows (`scale`) really run.
 *
 * Variants, chosen when compiling:
 *   (none)                one device, compute capability 9.0
 *   -DSTUB_NO_DEVICE      cuInit fails with CUDA_ERROR_NO_DEVICE
 *   -DSTUB_ZERO_DEVICES   cuInit succeeds, cuDeviceGetCount reports 0
 *   -DSTUB_NO_LAUNCH      no cuLaunchKernel and no cuMemFree_v2
 *
 * Every call that needs a context fails with CUDA_ERROR_INVALID_CONTEXT
 * unless the primary context is current, as the real driver does. The
 * optimStub* functions let a test read the stub's counters.
 *
 * Kernels other than `scale` are the `.entry` functions of a loaded PTX
 * image: a launch of one records its name, shape and parameter values (as
 * many 64-bit values as the entry declares `.param`s) without running it;
 * optimStubLaunch* and optimStubLastImage give them to the test.
 *
 * Work runs when it is enqueued, so streams and events are always complete,
 * unless a library sharing the process (a fake NCCL) has registered a hook
 * with optimStubSetPendingHook: while it returns non-zero, cuEventQuery
 * reports CUDA_ERROR_NOT_READY (collectives still in flight). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct StubContext *CUcontext;
typedef struct StubModule *CUmodule;
typedef struct StubFunction *CUfunction;
typedef struct StubStream *CUstream;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_NOT_READY = 600,
};

struct StubContext {
  int device;
};
struct StubFunction {
  const char *name;
  /* PTX entries: the name's storage and the number of `.param`s. */
  char buffer[128];
  int numParams;
};
#define STUB_MAX_ENTRIES 32
struct StubModule {
  struct StubFunction scale;
  struct StubFunction entries[STUB_MAX_ENTRIES];
  int numEntries;
};

/* Launches of PTX entries, recorded. */
#define STUB_MAX_LAUNCHES 64
#define STUB_MAX_PARAMS 64
static struct {
  char name[128];
  unsigned grid[3], block[3];
  int numParams;
  CUdeviceptr params[STUB_MAX_PARAMS];
} launches[STUB_MAX_LAUNCHES];
static long numLaunches;
static long numHtoDCopies;
static long numDtoDCopies;
static char *lastImage;
struct StubStream {
  int id;
};

static struct StubContext primaryContext = {0};
static int initialized;
static int primaryRetains;
static long liveAllocations;
static long liveModules;
static long liveStreams;
/* The context stack of the calling thread. */
static _Thread_local CUcontext contextStack[16];
static _Thread_local int contextDepth;

#define EXPORT __attribute__((visibility("default")))

static CUcontext currentContext(void) {
  return contextDepth ? contextStack[contextDepth - 1] : NULL;
}

/* Fails calls made before cuInit or without the primary context current. */
static CUresult checkContext(const char *call) {
  if (!initialized)
    return CUDA_ERROR_NOT_INITIALIZED;
  if (currentContext() != &primaryContext) {
    printf("stub: %s without a current context\n", call);
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  return CUDA_SUCCESS;
}

static const struct {
  CUresult code;
  const char *name;
  const char *text;
} errors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED",
     "initialization error"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE",
     "no CUDA-capable device is detected"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE",
     "invalid device ordinal"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE",
     "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT",
     "invalid device context"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
};

/* As the real driver: an unknown code fails with a NULL string. */
static CUresult describe(CUresult error, int text, const char **out) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); ++i) {
    if (errors[i].code == error) {
      *out = text ? errors[i].text : errors[i].name;
      return CUDA_SUCCESS;
    }
  }
  *out = NULL;
  return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  return describe(error, 0, name);
}

EXPORT CUresult cuGetErrorString(CUresult error, const char **text) {
  return describe(error, 1, text);
}

EXPORT CUresult cuInit(unsigned flags) {
  printf("stub: cuInit %u\n", flags);
#ifdef STUB_NO_DEVICE
  return CUDA_ERROR_NO_DEVICE;
#else
  initialized = 1;
  return CUDA_SUCCESS;
#endif
}

EXPORT CUresult cuDriverGetVersion(int *version) {
  *version = 13000;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *count) {
  if (!initialized)
    return CUDA_ERROR_NOT_INITIALIZED;
#ifdef STUB_ZERO_DEVICES
  *count = 0;
#else
  *count = 1;
#endif
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *device = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetName(char *name, int length, CUdevice device) {
  if (device != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  snprintf(name, (size_t)length, "%s", "optim stub GPU");
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute,
                                     CUdevice device) {
  if (device != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  if (attribute == 75) /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
    *value = 9;
  else if (attribute == 76) /* ..._MINOR */
    *value = 0;
  else
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  if (device != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  ++primaryRetains;
  printf("stub: cuDevicePrimaryCtxRetain device %d (retains %d)\n", device,
         primaryRetains);
  *context = &primaryContext;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetCurrent(CUcontext *context) {
  *context = currentContext();
  return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSetCurrent(CUcontext context) {
  if (contextDepth == 0) {
    if (context)
      contextStack[contextDepth++] = context;
  } else if (context) {
    contextStack[contextDepth - 1] = context;
  } else {
    --contextDepth;
  }
  return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPushCurrent_v2(CUcontext context) {
  if (!context || contextDepth == 16)
    return CUDA_ERROR_INVALID_VALUE;
  contextStack[contextDepth++] = context;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *context) {
  if (contextDepth == 0)
    return CUDA_ERROR_INVALID_CONTEXT;
  --contextDepth;
  if (context)
    *context = contextStack[contextDepth];
  return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  CUresult result = checkContext("cuModuleLoadData");
  if (result)
    return result;
  const char *bytes = (const char *)image;
  if (memcmp(bytes, "\177ELF", 4) == 0) {
    printf("stub: cuModuleLoadData cubin image\n");
  } else {
    /* PTX: the driver reads up to the terminating NUL. */
    printf("stub: cuModuleLoadData PTX of %zu bytes: %s\n", strlen(bytes),
           bytes);
    /* Comment lines and blank space may precede the `.version` line, as
     * in LLVM's output. */
    const char *text = bytes;
    for (;;) {
      text += strspn(text, " \t\r\n");
      if (strncmp(text, "//", 2) != 0)
        break;
      text += strcspn(text, "\n");
    }
    if (strncmp(text, ".version", 8) != 0)
      return CUDA_ERROR_INVALID_IMAGE;
  }
  struct StubModule *loaded = calloc(1, sizeof(struct StubModule));
  loaded->scale.name = "scale";
  if (memcmp(bytes, "\177ELF", 4) != 0) {
    /* Records the PTX and its `.entry NAME(...)` functions. */
    free(lastImage);
    lastImage = strdup(bytes);
    for (const char *entry = strstr(bytes, ".entry ");
         entry && loaded->numEntries < STUB_MAX_ENTRIES;
         entry = strstr(entry + 1, ".entry ")) {
      const char *name = entry + 7;
      size_t length = strcspn(name, "( \t\n");
      if (name[length] != '(' || length == 0 || length >= 128)
        continue;
      struct StubFunction *function = &loaded->entries[loaded->numEntries++];
      memcpy(function->buffer, name, length);
      function->buffer[length] = 0;
      function->name = function->buffer;
      const char *open = name + length;
      const char *close = strchr(open, ')');
      for (const char *param = strstr(open, ".param");
           param && close && param < close; param = strstr(param + 1, ".param"))
        ++function->numParams;
    }
  }
  *module = loaded;
  ++liveModules;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *function, CUmodule module,
                                    const char *name) {
  CUresult result = checkContext("cuModuleGetFunction");
  if (result)
    return result;
  printf("stub: cuModuleGetFunction '%s'\n", name);
  if (strcmp(name, "scale") == 0) {
    *function = &module->scale;
    return CUDA_SUCCESS;
  }
  for (int i = 0; i < module->numEntries; ++i) {
    if (strcmp(name, module->entries[i].name) == 0) {
      *function = &module->entries[i];
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_NOT_FOUND;
}

EXPORT CUresult cuModuleUnload(CUmodule module) {
  CUresult result = checkContext("cuModuleUnload");
  if (result)
    return result;
  --liveModules;
  printf("stub: cuModuleUnload (modules %ld)\n", liveModules);
  free(module);
  return CUDA_SUCCESS;
}

#ifndef STUB_NO_LAUNCH
/* Runs `scale(float *data, float factor, int n)` on the host: data[i] *=
 * factor for i < n. */
EXPORT CUresult cuLaunchKernel(CUfunction function, unsigned gridX,
                               unsigned gridY, unsigned gridZ, unsigned blockX,
                               unsigned blockY, unsigned blockZ,
                               unsigned sharedBytes, CUstream stream,
                               void **args, void **extra) {
  CUresult result = checkContext("cuLaunchKernel");
  if (result)
    return result;
  printf("stub: cuLaunchKernel %s grid %ux%ux%u block %ux%ux%u shared %u "
         "stream %d extra %p\n",
         function->name, gridX, gridY, gridZ, blockX, blockY, blockZ,
         sharedBytes, stream ? stream->id : 0, (void *)extra);
  /* Every launch is recorded; those of PTX entries with their parameters,
   * each read as 64 bits, and they do not run. */
  int index = (int)(numLaunches % STUB_MAX_LAUNCHES);
  ++numLaunches;
  snprintf(launches[index].name, sizeof(launches[index].name), "%s",
           function->name);
  launches[index].grid[0] = gridX;
  launches[index].grid[1] = gridY;
  launches[index].grid[2] = gridZ;
  launches[index].block[0] = blockX;
  launches[index].block[1] = blockY;
  launches[index].block[2] = blockZ;
  launches[index].numParams = function->numParams;
  if (strcmp(function->name, "scale") != 0) {
    printf("stub: params %d:", function->numParams);
    for (int i = 0; i < function->numParams && i < STUB_MAX_PARAMS; ++i) {
      launches[index].params[i] = *(CUdeviceptr *)args[i];
      printf(" %llu", launches[index].params[i]);
    }
    printf("\n");
    return CUDA_SUCCESS;
  }
  printf("stub: args %p %p %p\n", args[0], args[1], args[2]);
  float *data = (float *)(uintptr_t)*(CUdeviceptr *)args[0];
  float factor = *(float *)args[1];
  int n = *(int *)args[2];
  printf("stub: values data %p factor %g n %d\n", (void *)data, factor, n);
  for (int i = 0; i < n; ++i)
    data[i] *= factor;
  return CUDA_SUCCESS;
}
#endif

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t bytes) {
  CUresult result = checkContext("cuMemAlloc_v2");
  if (result)
    return result;
  if (bytes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (bytes > ((size_t)1 << 40))
    return CUDA_ERROR_OUT_OF_MEMORY;
  void *memory = malloc(bytes);
  *pointer = (CUdeviceptr)(uintptr_t)memory;
  ++liveAllocations;
  printf("stub: cuMemAlloc_v2 %zu bytes at %p (allocations %ld)\n", bytes,
         memory, liveAllocations);
  return CUDA_SUCCESS;
}

#ifndef STUB_NO_LAUNCH
EXPORT CUresult cuMemFree_v2(CUdeviceptr pointer) {
  CUresult result = checkContext("cuMemFree_v2");
  if (result)
    return result;
  free((void *)(uintptr_t)pointer);
  --liveAllocations;
  printf("stub: cuMemFree_v2 %p (allocations %ld)\n",
         (void *)(uintptr_t)pointer, liveAllocations);
  return CUDA_SUCCESS;
}
#endif

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr destination,
                                     const void *source, size_t bytes,
                                     CUstream stream) {
  CUresult result = checkContext("cuMemcpyHtoDAsync_v2");
  if (result)
    return result;
  ++numHtoDCopies;
  printf("stub: cuMemcpyHtoDAsync_v2 %zu bytes to %p stream %d\n", bytes,
         (void *)(uintptr_t)destination, stream ? stream->id : 0);
  memcpy((void *)(uintptr_t)destination, source, bytes);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *destination, CUdeviceptr source,
                                     size_t bytes, CUstream stream) {
  CUresult result = checkContext("cuMemcpyDtoHAsync_v2");
  if (result)
    return result;
  printf("stub: cuMemcpyDtoHAsync_v2 %zu bytes from %p stream %d\n", bytes,
         (void *)(uintptr_t)source, stream ? stream->id : 0);
  memcpy(destination, (const void *)(uintptr_t)source, bytes);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD8Async(CUdeviceptr destination, unsigned char value,
                                size_t bytes, CUstream stream) {
  CUresult result = checkContext("cuMemsetD8Async");
  if (result)
    return result;
  printf("stub: cuMemsetD8Async %zu bytes of %u stream %d\n", bytes, value,
         stream ? stream->id : 0);
  memset((void *)(uintptr_t)destination, value, bytes);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD16Async(CUdeviceptr destination, unsigned short value,
                                 size_t count, CUstream stream) {
  CUresult result = checkContext("cuMemsetD16Async");
  if (result)
    return result;
  printf("stub: cuMemsetD16Async %zu values of 0x%04x stream %d\n", count,
         value, stream ? stream->id : 0);
  unsigned short *out = (unsigned short *)(uintptr_t)destination;
  for (size_t i = 0; i < count; ++i)
    out[i] = value;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr destination, unsigned int value,
                                 size_t count, CUstream stream) {
  CUresult result = checkContext("cuMemsetD32Async");
  if (result)
    return result;
  printf("stub: cuMemsetD32Async %zu values of 0x%08x stream %d\n", count,
         value, stream ? stream->id : 0);
  unsigned int *out = (unsigned int *)(uintptr_t)destination;
  for (size_t i = 0; i < count; ++i)
    out[i] = value;
  return CUDA_SUCCESS;
}

/* Stream capture, as the tests set it (optimStubSetCapturing). */
static int capturing;
EXPORT void optimStubSetCapturing(int on) { capturing = on; }

EXPORT CUresult cuStreamIsCapturing(CUstream stream, int *status) {
  CUresult result = checkContext("cuStreamIsCapturing");
  if (result)
    return result;
  (void)stream;
  *status = capturing ? 1 : 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamCreate(CUstream *stream, unsigned flags) {
  CUresult result = checkContext("cuStreamCreate");
  if (result)
    return result;
  static int nextId = 1;
  struct StubStream *created = calloc(1, sizeof(struct StubStream));
  created->id = nextId++;
  *stream = created;
  ++liveStreams;
  printf("stub: cuStreamCreate flags %u -> stream %d\n", flags, created->id);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(CUstream stream) {
  CUresult result = checkContext("cuStreamDestroy_v2");
  if (result)
    return result;
  printf("stub: cuStreamDestroy_v2 stream %d\n", stream->id);
  free(stream);
  --liveStreams;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream stream) {
  CUresult result = checkContext("cuStreamSynchronize");
  if (result)
    return result;
  printf("stub: cuStreamSynchronize stream %d\n", stream ? stream->id : 0);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr destination,
                                     CUdeviceptr source, size_t bytes,
                                     CUstream stream) {
  CUresult result = checkContext("cuMemcpyDtoDAsync_v2");
  if (result)
    return result;
  ++numDtoDCopies;
  printf("stub: cuMemcpyDtoDAsync_v2 %zu bytes from %p to %p stream %d\n",
         bytes, (void *)(uintptr_t)source, (void *)(uintptr_t)destination,
         stream ? stream->id : 0);
  memmove((void *)(uintptr_t)destination, (const void *)(uintptr_t)source,
          bytes);
  return CUDA_SUCCESS;
}

/* Events: work runs when enqueued, so an event is complete once recorded,
 * unless the pending hook says that collectives are still in flight. */
struct StubEvent {
  int id;
  int recorded;
};
typedef struct StubEvent *CUevent;
static int (*pendingHook)(void);
static long liveEvents;
EXPORT void optimStubSetPendingHook(int (*hook)(void)) { pendingHook = hook; }

EXPORT CUresult cuEventCreate(CUevent *event, unsigned flags) {
  CUresult result = checkContext("cuEventCreate");
  if (result)
    return result;
  static int nextId = 1;
  struct StubEvent *created = calloc(1, sizeof(struct StubEvent));
  created->id = nextId++;
  *event = created;
  ++liveEvents;
  printf("stub: cuEventCreate flags %u -> event %d\n", flags, created->id);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuEventDestroy_v2(CUevent event) {
  CUresult result = checkContext("cuEventDestroy_v2");
  if (result)
    return result;
  printf("stub: cuEventDestroy_v2 event %d\n", event->id);
  free(event);
  --liveEvents;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord(CUevent event, CUstream stream) {
  CUresult result = checkContext("cuEventRecord");
  if (result)
    return result;
  printf("stub: cuEventRecord event %d stream %d\n", event->id,
         stream ? stream->id : 0);
  event->recorded = 1;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuEventQuery(CUevent event) {
  CUresult result = checkContext("cuEventQuery");
  if (result)
    return result;
  if (!event->recorded)
    return CUDA_SUCCESS;
  return pendingHook && pendingHook() ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

/* Counters for the tests. */
EXPORT long optimStubLiveAllocations(void) { return liveAllocations; }
EXPORT long optimStubLiveModules(void) { return liveModules; }
EXPORT long optimStubLiveStreams(void) { return liveStreams; }
EXPORT long optimStubContextDepth(void) { return contextDepth; }

/* Recorded launches (every cuLaunchKernel) and host-to-device copies. */
EXPORT long optimStubLaunches(void) { return numLaunches; }
EXPORT long optimStubHtoDCopies(void) { return numHtoDCopies; }
EXPORT long optimStubDtoDCopies(void) { return numDtoDCopies; }
EXPORT long optimStubLiveEvents(void) { return liveEvents; }
/* The PTX of the last module loaded from PTX, or NULL. */
EXPORT const char *optimStubLastImage(void) { return lastImage; }
/* Launch `index` (0 = the first; the last 64 are kept): its name, or NULL when there is no such launch. */
EXPORT const char *optimStubLaunchName(long index) {
  if (index < 0 || index >= numLaunches ||
      index + STUB_MAX_LAUNCHES < numLaunches)
    return NULL;
  return launches[index % STUB_MAX_LAUNCHES].name;
}
EXPORT unsigned optimStubLaunchGridX(long index) {
  return launches[index % STUB_MAX_LAUNCHES].grid[0];
}
EXPORT unsigned optimStubLaunchBlockX(long index) {
  return launches[index % STUB_MAX_LAUNCHES].block[0];
}
/* The `.param`s the launched entry declares. */
EXPORT int optimStubLaunchNumParams(long index) {
  return launches[index % STUB_MAX_LAUNCHES].numParams;
}
/* Parameter `param` of launch `index`, read as 64 bits. */
EXPORT unsigned long long optimStubLaunchParam(long index, int param) {
  if (param < 0 || param >= STUB_MAX_PARAMS)
    return 0;
  return launches[index % STUB_MAX_LAUNCHES].params[param];
}
