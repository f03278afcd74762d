//===- OptimModule.cpp - Python bindings of the optim-mlir runtime --------===//
//
// `optim_mlir._optim`: a thin layer over the C++ runtime API. NumPy arrays
// are passed in place (no copies); runtime errors become Python exceptions.
// The GPU section (GPUOptimizer, DeviceBuffer, the driver queries) takes
// device addresses as Python ints and CUDA streams as CUstream addresses.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/IR/Rules.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Runtime/BoundStep.h"
#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/Distributed.h"
#include "optim/Runtime/GPUOptimizer.h"
#include "optim/Runtime/Runtime.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>

namespace py = pybind11;
using namespace optim::runtime;

namespace {

/// Raises a Python exception carrying `error`'s message.
[[noreturn]] void raise(llvm::Error error, PyObject *type = PyExc_ValueError) {
  std::string message = llvm::toString(std::move(error));
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

/// A step status as a Python dict.
py::dict statusToDict(const optim::runtime::StepStatus &status) {
  py::dict d;
  d["loss_scale"] = status.lossScale;
  d["good_steps"] = status.goodSteps;
  d["found_inf"] = status.foundInf;
  d["grad_norm"] = status.gradNorm;
  d["clip_factor"] = status.clipFactor;
  return d;
}

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "float32";
  case DType::F64:
    return "float64";
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "bfloat16";
  }
  return "?";
}

/// NumPy's type number of `dtype` (bfloat16 has none: -1).
int numpyTypeNum(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return 11; // NPY_FLOAT
  case DType::F64:
    return 12; // NPY_DOUBLE
  case DType::F16:
    return 23; // NPY_HALF
  case DType::BF16:
    return -1;
  }
  return -1;
}

/// Whether a NumPy byte-order character means the host's order.
bool isNativeByteOrder(char order) {
  return order == '=' || order == '|' ||
         order == (llvm::sys::IsLittleEndianHost ? '<' : '>');
}

/// Whether `array` holds `dtype` values exactly as the compiled step reads
/// them: NumPy's float32, float64 or float16 in the host's byte order; for
/// bfloat16, which NumPy lacks, the bits as uint16 or ml_dtypes' bfloat16
/// (never float16, int16 or another 2-byte type).
bool hasDType(const py::array &array, DType dtype) {
  const auto *descr = py::detail::array_descriptor_proxy(array.dtype().ptr());
  if (!isNativeByteOrder(descr->byteorder))
    return false;
  if (dtype != DType::BF16)
    return descr->type_num == numpyTypeNum(dtype);
  if (descr->elsize != 2)
    return false;
  return descr->type_num == py::detail::npy_api::NPY_USHORT_ ||
         py::str(array.dtype()).cast<std::string>() == "bfloat16";
}

/// What hasDType() accepts for `dtype`, for error messages.
std::string dtypeDescription(DType dtype) {
  if (dtype == DType::BF16)
    return "bfloat16 (its bits as a uint16 array, or ml_dtypes.bfloat16)";
  return std::string(dtypeName(dtype)) + " (native byte order)";
}

/// Raises TypeError unless `array` holds `dtype` values (hasDType);
/// `what`: the array, as the message names it.
void checkDType(const py::array &array, DType dtype, const std::string &what) {
  if (!hasDType(array, dtype))
    throw py::type_error(what + " must have dtype " + dtypeDescription(dtype) +
                         ", got " +
                         py::str(array.dtype()).cast<std::string>());
}

/// Holds `mutex` for a short access under the GIL: taken at once when it
/// is free, else waited for with the GIL released, since a running step
/// holds it without the GIL (runLocked). A thread never waits for the
/// mutex while holding the GIL, so the two never deadlock.
class ShortLock {
public:
  explicit ShortLock(std::mutex &mutex) : mutex(mutex) {
    if (!mutex.try_lock()) {
      py::gil_scoped_release release;
      mutex.lock();
    }
  }
  ~ShortLock() { mutex.unlock(); }
  ShortLock(const ShortLock &) = delete;
  ShortLock &operator=(const ShortLock &) = delete;

private:
  std::mutex &mutex;
};

/// Runs `body` (which must not touch Python objects) with the GIL released
/// and `mutex` held; the mutex is released before the GIL is taken back.
template <typename Body>
llvm::Error runLocked(std::mutex &mutex, Body body) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(mutex);
  return body();
}

/// The parameters of a compiled step (CPU or GPU) as Python dicts: name,
/// shape, dtype, group, sparse, each state's shape and dtype, master.
py::list paramList(llvm::ArrayRef<ParamInfo> params) {
  py::list result;
  for (const ParamInfo &info : params) {
    py::dict entry;
    entry["name"] = info.name;
    entry["shape"] = py::tuple(py::cast(info.shape));
    py::list stateShapes;
    for (const std::vector<int64_t> &shape : info.stateShapes)
      stateShapes.append(py::tuple(py::cast(shape)));
    entry["state_shapes"] = stateShapes;
    py::list stateDTypes;
    for (DType dtype : info.stateDTypes)
      stateDTypes.append(dtypeName(dtype));
    entry["state_dtypes"] = stateDTypes;
    entry["master"] = info.hasMaster;
    entry["dtype"] = dtypeName(info.dtype);
    entry["group"] = info.group;
    entry["sparse"] = info.sparse;
    result.append(entry);
  }
  return result;
}

/// Checks that `array` can be read (and, if `writable`, written) in place as
/// parameter `info`'s data, and returns its data pointer.
/// (`shape`, `dtype`: the expected shape and dtype; default the
/// parameter's.)
void *checkBuffer(py::handle handle, const ParamInfo &info, const char *what,
                  bool writable, const std::vector<int64_t> *shape = nullptr,
                  const DType *expectedDType = nullptr) {
  const std::vector<int64_t> &expectedShape = shape ? *shape : info.shape;
  DType dtype = expectedDType ? *expectedDType : info.dtype;
  if (!py::isinstance<py::array>(handle))
    throw py::type_error(std::string(what) + " of '" + info.name +
                         "' must be a numpy.ndarray");
  auto array = py::reinterpret_borrow<py::array>(handle);
  checkDType(array, dtype, std::string(what) + " of '" + info.name + "'");
  std::vector<int64_t> arrayShape(array.shape(),
                                  array.shape() + array.ndim());
  if (arrayShape != expectedShape) {
    std::string expected = "(", got = "(";
    for (int64_t d : expectedShape)
      expected += std::to_string(d) + ",";
    for (int64_t d : arrayShape)
      got += std::to_string(d) + ",";
    throw py::value_error(std::string(what) + " of '" + info.name +
                          "' must have shape " + expected + ") , got " + got +
                          ")");
  }
  if (!(array.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " of '" + info.name +
                          "' must be C-contiguous");
  if (!(array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(std::string(what) + " of '" + info.name +
                          "' must be aligned to its element size");
  if (writable && !array.writeable())
    throw py::value_error(std::string(what) + " of '" + info.name +
                          "' must be writeable");
  return const_cast<void *>(array.data());
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string result = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    result += std::to_string(shape[i]) + (shape.size() == 1 ? "," : "") +
              (i + 1 < shape.size() ? ", " : "");
  return result + ")";
}

/// Checks a sparse gradient `(indices, values)` of parameter `info`:
/// indices an int32 1-d array of n entries, values an array of shape
/// (n,) + info.shape[1:] and the parameter's dtype, both C-contiguous.
/// Fills `grad` with pointers into them; `keep` holds the arrays for the
/// step. Index ranges are checked by the runtime.
void checkSparseGrad(py::handle handle, const ParamInfo &info,
                     SparseGrad &grad, std::vector<py::array> &keep) {
  if (!py::isinstance<py::tuple>(handle) || py::len(handle) != 2)
    throw py::type_error("gradient of sparse parameter '" + info.name +
                         "' must be a tuple (indices, values)");
  auto pair = py::reinterpret_borrow<py::tuple>(handle);
  if (!py::isinstance<py::array>(pair[0]) ||
      !py::isinstance<py::array>(pair[1]))
    throw py::type_error("indices and values of the gradient of '" +
                         info.name + "' must be numpy.ndarray");
  auto indices = py::reinterpret_borrow<py::array>(pair[0]);
  auto values = py::reinterpret_borrow<py::array>(pair[1]);
  const auto *indexDescr =
      py::detail::array_descriptor_proxy(indices.dtype().ptr());
  if (indexDescr->type_num != py::detail::npy_api::NPY_INT32_ ||
      !isNativeByteOrder(indexDescr->byteorder))
    throw py::type_error("indices of the gradient of '" + info.name +
                         "' must have dtype int32, got " +
                         py::str(indices.dtype()).cast<std::string>());
  if (indices.ndim() != 1)
    throw py::value_error("indices of the gradient of '" + info.name +
                          "' must be 1-d, got " + std::to_string(indices.ndim()) +
                          " dimensions");
  if (!(indices.flags() & py::array::c_style))
    throw py::value_error("indices of the gradient of '" + info.name +
                          "' must be C-contiguous");
  checkDType(values, info.dtype,
             "values of the gradient of '" + info.name + "'");
  int64_t count = indices.shape(0);
  std::vector<int64_t> expected = info.shape;
  expected[0] = count;
  std::vector<int64_t> shape(values.shape(), values.shape() + values.ndim());
  if (shape != expected)
    throw py::value_error("values of the gradient of '" + info.name +
                          "' must have shape " + shapeString(expected) +
                          " (one row per index), got " + shapeString(shape));
  if (!(values.flags() & py::array::c_style))
    throw py::value_error("values of the gradient of '" + info.name +
                          "' must be C-contiguous");
  if (!(indices.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) ||
      !(values.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error("indices and values of the gradient of '" +
                          info.name + "' must be aligned to their element "
                          "size");
  grad.indices = static_cast<const int32_t *>(indices.data());
  grad.rows = values.data();
  grad.count = count;
  keep.push_back(indices);
  keep.push_back(values);
}

/// The arrays of one step, checked, with their pointers; every array is
/// owned until the step returns (the sequences may change, and drop their
/// arrays, in another thread while the step runs without the GIL).
struct StepArrays {
  std::vector<void *> params, grads, states;
  /// Sparse gradients: pointed to by `grads`, so never reallocated.
  std::vector<SparseGrad> sparse;
  std::vector<py::array> keep;
  std::vector<py::object> owned;

  explicit StepArrays(size_t numParams) : sparse(numParams) {}

  void addParam(py::handle param, py::handle grad, const ParamInfo &info,
                size_t index) {
    owned.push_back(py::reinterpret_borrow<py::object>(param));
    params.push_back(checkBuffer(owned.back(), info, "parameter", true));
    owned.push_back(py::reinterpret_borrow<py::object>(grad));
    if (info.sparse) {
      checkSparseGrad(owned.back(), info, sparse[index], keep);
      grads.push_back(&sparse[index]);
    } else {
      grads.push_back(checkBuffer(owned.back(), info, "gradient", false));
    }
  }

  void addState(py::handle state, const ParamInfo &info, size_t index) {
    owned.push_back(py::reinterpret_borrow<py::object>(state));
    states.push_back(checkBuffer(owned.back(), info, "state", true,
                                 &info.stateShapes[index],
                                 &info.stateDTypes[index]));
  }
};

/// Fills states with their initial values (from the parameters `p` when
/// `withParams`), holding the optimizer's step mutex.
template <typename OptimizerT>
void initStatesLocked(OptimizerT &optimizer, std::mutex &mutex,
                      bool withParams, const std::vector<void *> &p,
                      const std::vector<void *> &s) {
  llvm::Error error = llvm::Error::success();
  {
    ShortLock lock(mutex);
    error = withParams ? optimizer.initStates(p, s) : optimizer.initStates(s);
  }
  if (error)
    raise(std::move(error));
}

class PyOptimizer {
public:
  PyOptimizer(const std::string &source, const std::string &options) {
    CompileOptions compileOptions;
    compileOptions.pipelineOptions = options;
    auto compiled = Optimizer::compile(source, compileOptions);
    if (!compiled)
      raise(compiled.takeError(), PyExc_RuntimeError);
    optimizer = std::move(*compiled);
  }

  py::list params() const { return paramList(optimizer->getParams()); }

  std::vector<std::string> stateNames() const {
    return {optimizer->getStateNames().begin(),
            optimizer->getStateNames().end()};
  }

  double stateInitValue(unsigned param, unsigned state) const {
    if (param >= optimizer->getParams().size() ||
        state >= optimizer->getStateNames().size())
      throw py::index_error("parameter or state index out of range");
    return optimizer->getStateInitValue(param, state);
  }

  void step(py::sequence params, py::sequence grads, py::sequence states) {
    auto infos = optimizer->getParams();
    size_t numStates = optimizer->getStateNames().size();
    if (py::len(params) != infos.size() || py::len(grads) != infos.size())
      throw py::value_error("expected " + std::to_string(infos.size()) +
                            " parameters and gradients, got " +
                            std::to_string(py::len(params)) + " and " +
                            std::to_string(py::len(grads)));
    if (py::len(states) != infos.size() * numStates)
      throw py::value_error("expected " +
                            std::to_string(infos.size() * numStates) +
                            " state arrays, got " +
                            std::to_string(py::len(states)));
    StepArrays arrays(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      arrays.addParam(params[i], grads[i], infos[i], i);
      for (size_t j = 0; j < numStates; ++j)
        arrays.addState(states[i * numStates + j], infos[i], j);
    }
    // One step of this optimizer at a time (stepMutex): steps from several
    // threads run one after the other, as sequential steps would.
    if (llvm::Error error =
            runLocked(stepMutex, [&] {
              return optimizer->step(arrays.params, arrays.grads,
                                     arrays.states);
            }))
      raise(std::move(error), PyExc_RuntimeError);
  }

  void initStates(py::sequence states, py::object params) {
    auto infos = optimizer->getParams();
    size_t numStates = optimizer->getStateNames().size();
    if (py::len(states) != infos.size() * numStates)
      throw py::value_error("expected " +
                            std::to_string(infos.size() * numStates) +
                            " state arrays, got " +
                            std::to_string(py::len(states)));
    std::vector<void *> s, p;
    if (!params.is_none()) {
      if (!py::isinstance<py::sequence>(params))
        throw py::type_error("params must be a sequence of arrays or None");
      auto sequence = py::reinterpret_borrow<py::sequence>(params);
      if (py::len(sequence) != infos.size())
        throw py::value_error("expected " + std::to_string(infos.size()) +
                              " parameter arrays, got " +
                              std::to_string(py::len(sequence)));
      for (size_t i = 0; i < infos.size(); ++i)
        p.push_back(checkBuffer(sequence[i], infos[i], "parameter", false));
    } else if (optimizer->hasMasterWeights()) {
      throw py::value_error(
          "the optimizer keeps float32 master weights, which start as the "
          "parameters: pass params= to init_states");
    }
    for (size_t i = 0; i < infos.size(); ++i)
      for (size_t j = 0; j < numStates; ++j)
        s.push_back(checkBuffer(states[i * numStates + j], infos[i], "state",
                                true, &infos[i].stateShapes[j],
                                &infos[i].stateDTypes[j]));
    initStatesLocked(*optimizer, stepMutex, !params.is_none(), p, s);
  }

  void setHyperParam(unsigned group, const std::string &name, double value) {
    llvm::Error error = llvm::Error::success();
    {
      ShortLock lock(stepMutex);
      error = optimizer->setHyperParam(group, name, value);
    }
    if (error)
      raise(std::move(error));
  }

  py::dict stepStatus() {
    std::optional<llvm::Expected<StepStatus>> status;
    {
      ShortLock lock(stepMutex);
      status.emplace(optimizer->getStepStatus());
    }
    if (!*status)
      raise(status->takeError());
    return statusToDict(**status);
  }

  void setLossScaleState(double lossScale, int64_t goodSteps) {
    llvm::Error error = llvm::Error::success();
    {
      ShortLock lock(stepMutex);
      error = optimizer->setLossScaleState(lossScale, goodSteps);
    }
    if (error)
      raise(std::move(error));
  }

  double getHyperParam(unsigned group, const std::string &name) {
    std::optional<llvm::Expected<double>> value;
    {
      ShortLock lock(stepMutex);
      value.emplace(optimizer->getHyperParam(group, name));
    }
    if (!*value)
      raise(value->takeError());
    return **value;
  }

  std::vector<double> learningRates() {
    std::optional<llvm::Expected<std::vector<double>>> rates;
    {
      ShortLock lock(stepMutex);
      rates.emplace(optimizer->getLearningRates());
    }
    if (!*rates)
      raise(rates->takeError(), PyExc_RuntimeError);
    return **rates;
  }

  int64_t globalStep() {
    ShortLock lock(stepMutex);
    return optimizer->getGlobalStep();
  }

  void setGlobalStep(int64_t step) {
    if (step < 0)
      throw py::value_error("global_step must be non-negative");
    ShortLock lock(stepMutex);
    optimizer->setGlobalStep(step);
  }

  std::unique_ptr<Optimizer> optimizer;
  /// Held by every step of `optimizer` (with the GIL released) and by
  /// every access to its tables (ShortLock): steps of one optimizer from
  /// several threads run one at a time (docs/Threads-and-caches.md).
  std::mutex stepMutex;
};

//===----------------------------------------------------------------------===//
// Bound steps: flat host cost per step
//===----------------------------------------------------------------------===//

/// Runs `bound`'s step with the GIL released and its optimizer's step
/// mutex held; errors become RuntimeError.
void runBound(BoundStep &bound, std::mutex &mutex) {
  if (llvm::Error error = runLocked(mutex, [&] { return bound.step(); }))
    raise(std::move(error), PyExc_RuntimeError);
}

/// `handle` as an ndarray proxy if it is a NumPy array, else null.
const py::detail::PyArray_Proxy *asArray(py::handle handle) {
  if (!py::detail::npy_api::get().PyArray_Check_(handle.ptr()))
    return nullptr;
  return py::detail::array_proxy(handle.ptr());
}

/// Memory the runtime owns, seen from Python as one uint8 array (buffer()).
class PyStateArena {
public:
  explicit PyStateArena(const std::vector<size_t> &sizes) {
    auto created = StateArena::create(sizes);
    if (!created)
      raise(created.takeError(), PyExc_MemoryError);
    arena = std::move(*created);
  }
  explicit PyStateArena(std::shared_ptr<StateArena> arena)
      : arena(std::move(arena)) {}

  std::vector<size_t> offsets() const {
    std::vector<size_t> result;
    for (size_t i = 0; i < arena->getNumBuffers(); ++i)
      result.push_back(arena->getOffset(i));
    return result;
  }

  std::shared_ptr<StateArena> arena;
};

/// A uint8 array over all of `self`'s memory; the array keeps `self` (and
/// so the memory) alive.
py::array arenaBuffer(py::object self) {
  PyStateArena &arena = self.cast<PyStateArena &>();
  return py::array(py::dtype("uint8"),
                   {static_cast<py::ssize_t>(arena.arena->getSize())},
                   {static_cast<py::ssize_t>(1)}, arena.arena->getData(), self);
}

/// A step of a CompiledOptimizer bound to NumPy parameters and states
/// (optim_mlir.nn): those pointers are set once; each step only checks the
/// gradients (type, dtype, shape, C-contiguity, no overlap with the
/// parameter: field reads, no Python calls) and writes their pointers.
class NumpyBoundStep {
public:
  NumpyBoundStep(py::object owner, Optimizer &optimizer, std::mutex &mutex,
                 py::sequence params, py::sequence states,
                 std::vector<int64_t> gradIndices, int64_t numGrads)
      : owner(std::move(owner)), mutex(mutex), bound(optimizer),
        gradIndices(std::move(gradIndices)), numGrads(numGrads) {
    auto infos = optimizer.getParams();
    size_t numStates = bound.getNumStates();
    if (py::len(params) != infos.size() ||
        py::len(states) != infos.size() * numStates ||
        this->gradIndices.size() != infos.size())
      throw py::value_error("bind_numpy: expected " +
                            std::to_string(infos.size()) +
                            " parameters, gradient indices and " +
                            std::to_string(infos.size() * numStates) +
                            " states");
    for (int64_t index : this->gradIndices)
      if (index < 0 || index >= numGrads)
        throw py::index_error("bind_numpy: gradient index out of range");
    for (size_t i = 0; i < infos.size(); ++i) {
      if (infos[i].sparse)
        throw py::value_error("bind_numpy: sparse parameter '" +
                              infos[i].name + "' takes the checked step");
      py::object param = params[i];
      void *data = checkBuffer(param, infos[i], "parameter", true);
      bound.setParam(i, data);
      keep.push_back(param);
      for (size_t s = 0; s < numStates; ++s) {
        py::handle state = states[i * numStates + s];
        bound.setState(i, s,
                       checkBuffer(state, infos[i], "state", true,
                                   &infos[i].stateShapes[s],
                                   &infos[i].stateDTypes[s]));
        keep.push_back(py::reinterpret_borrow<py::object>(state));
      }
      int64_t bytes = infos[i].numElements * getElementSize(infos[i].dtype);
      expected.push_back({numpyTypeNum(infos[i].dtype), infos[i].shape,
                          static_cast<char *>(data), bytes});
    }
  }

  /// Checks the gradients `grads[gradIndices[i]]` and binds them; false
  /// (nothing bound) when one is not a C-contiguous ndarray of its
  /// parameter's dtype and shape, or overlaps it: the caller then takes
  /// the checked path, which raises or copies. The bound gradients are
  /// owned until the next bind_grads. Not for several threads at once:
  /// step() checks, binds and runs as one.
  bool bindGrads(py::handle grads) {
    std::vector<void *> data;
    std::vector<py::object> owned;
    if (!checkGrads(grads, data, owned))
      return false;
    ShortLock lock(mutex);
    for (size_t i = 0; i < data.size(); ++i)
      bound.setGrad(i, data[i]);
    boundGrads = std::move(owned);
    return true;
  }

  void run() { runBound(bound, mutex); }

  /// bind_grads and run as one: false (nothing run) when bind_grads would
  /// refuse the gradients. The gradients are owned for the step, and the
  /// binding and the step happen under the optimizer's step mutex, so
  /// steps from several threads run one after the other, each on its own
  /// gradients.
  bool step(py::handle grads) {
    std::vector<void *> data;
    std::vector<py::object> owned;
    if (!checkGrads(grads, data, owned))
      return false;
    llvm::Error error = runLocked(mutex, [&] {
      for (size_t i = 0; i < data.size(); ++i)
        bound.setGrad(i, data[i]);
      return bound.step();
    });
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
    return true;
  }

  /// The compiled call alone on the last run's tables (host-cost
  /// benchmarks; see BoundStep::stepCompiledOnly).
  void runCompiledOnly() {
    if (llvm::Error error = runLocked(
            mutex, [&] { return bound.stepCompiledOnly(); }))
      raise(std::move(error), PyExc_RuntimeError);
  }

private:
  struct GradSpec {
    int typeNum;
    std::vector<int64_t> shape;
    char *param;
    int64_t bytes;
  };

  /// The data pointers of the gradients `grads[gradIndices[i]]` (and the
  /// gradients, in `owned`), or false when one does not fit (bindGrads).
  bool checkGrads(py::handle grads, std::vector<void *> &data,
                  std::vector<py::object> &owned) const {
    PyObject *seq = grads.ptr();
    bool isTuple = PyTuple_Check(seq);
    if (!isTuple && !PyList_Check(seq))
      return false;
    Py_ssize_t length = isTuple ? PyTuple_GET_SIZE(seq) : PyList_GET_SIZE(seq);
    if (length != numGrads)
      return false;
    data.reserve(expected.size());
    owned.reserve(expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      int64_t index = gradIndices[i];
      PyObject *item = isTuple ? PyTuple_GET_ITEM(seq, index)
                               : PyList_GET_ITEM(seq, index);
      const auto *array = asArray(item);
      const GradSpec &want = expected[i];
      if (!array)
        return false;
      const auto *descr = py::detail::array_descriptor_proxy(array->descr);
      if (descr->type_num != want.typeNum ||
          !isNativeByteOrder(descr->byteorder))
        return false;
      if (array->nd != static_cast<int>(want.shape.size()) ||
          !(array->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) ||
          !(array->flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        return false;
      for (int d = 0; d < array->nd; ++d)
        if (array->dimensions[d] != want.shape[d])
          return false;
      // The compiled step reads the gradient while writing the parameter.
      if (array->data < want.param + want.bytes &&
          want.param < array->data + want.bytes)
        return false;
      data.push_back(array->data);
      owned.push_back(py::reinterpret_borrow<py::object>(item));
    }
    return true;
  }

  py::object owner; // the CompiledOptimizer: keeps the Optimizer alive
  std::mutex &mutex; // its step mutex
  BoundStep bound;
  std::vector<py::object> boundGrads; // the gradients bind_grads bound
  std::vector<int64_t> gradIndices;
  int64_t numGrads;
  std::vector<GradSpec> expected;
  std::vector<py::object> keep;
};

/// The fast path of optim_mlir.torch: every bucket (one compiled call) of a
/// plan built by the checked path, and per parameter what that path saw.
/// check() walks the parameters in C++ and revalidates: the same parameter
/// objects in the same groups, the same grad objects (else their layout,
/// device, dtype, shape and contiguity are read again), the data pointers,
/// the same state tensors at the same pointers, and each bucket's step
/// count. Nothing is written until every check passed; run_bucket() then
/// runs one compiled call and increments the buckets' step tensors in place.
class TorchPlan {
public:
  /// `keep`: the owners of the memory the state tensors view (kept alive
  /// as long as the plan).
  TorchPlan(py::object torch, py::object state, py::list groups,
            py::object keep)
      : state(std::move(state)), groups(std::move(groups)),
        keep(std::move(keep)) {
    strided = torch.attr("strided");
    gradName = py::reinterpret_steal<py::object>(PyUnicode_InternFromString("grad"));
    dataPtrName =
        py::reinterpret_steal<py::object>(PyUnicode_InternFromString("data_ptr"));
    contiguousName = py::reinterpret_steal<py::object>(
        PyUnicode_InternFromString("is_contiguous"));
    for (py::handle group : this->groups)
      groupParams.push_back(group["params"]);
  }

  /// Adds a bucket: its CompiledOptimizer, the step count it runs at, and
  /// how much that count grows per step (1 for torch's `step`, 0 without).
  /// `skipOnInf`: the compiled step scales the loss dynamically, and a step
  /// that found an inf or NaN (its step status) counts for nothing.
  size_t addBucket(py::object compiled, Optimizer &optimizer,
                   std::mutex &mutex, int64_t t0, int64_t increment,
                   bool skipOnInf) {
    if (skipOnInf && !optimizer.hasStepStatus())
      throw py::value_error("skip_on_inf needs a compiled step that scales "
                            "the loss dynamically (it has no step status)");
    if (t0 < 0 || increment < 0)
      throw py::value_error("step counts must be non-negative");
    buckets.push_back(std::make_unique<Bucket>(
        std::move(compiled), optimizer, mutex, t0, increment, skipOnInf));
    return buckets.size() - 1;
  }

  /// Adds parameter `param` of group `group` (in the group's order). With
  /// `bucket` < 0 the parameter has no gradient and must keep none.
  /// `inner`: its state dict (or None); `watched`: (key, expected object)
  /// pairs of that dict (None allowed); `buffers`: the tensors of the
  /// compiled state buffers in order; `step`: the step tensor or None.
  void addParam(size_t group, py::object param, py::object grad,
                int64_t bucket, size_t position, py::object inner,
                py::list watched, py::list buffers, py::object step) {
    if (group >= groups.size())
      throw py::index_error("group out of range");
    Entry entry;
    entry.group = group;
    entry.param = param;
    entry.paramHash = PyObject_Hash(param.ptr());
    if (entry.paramHash == -1)
      throw py::error_already_set();
    entry.dtype = param.attr("dtype");
    entry.shape = param.attr("shape").cast<std::vector<int64_t>>();
    entry.bytes = param.attr("element_size")().cast<int64_t>();
    for (int64_t d : entry.shape)
      entry.bytes *= d;
    entry.bucket = bucket;
    entry.position = position;
    if (bucket >= 0) {
      if (size_t(bucket) >= buckets.size())
        throw py::index_error("bucket out of range");
      Bucket &b = *buckets[bucket];
      if (position >= b.bound.getNumParams() ||
          py::len(buffers) != b.bound.getNumStates())
        throw py::value_error("parameter position or state count does not "
                              "match the bucket's compiled optimizer");
      entry.paramData = dataPtr(param.ptr());
      // A gradient the checked path had to copy (non-contiguous) is not
      // bound: check() then sees a new gradient and revalidates it.
      if (matches(grad.ptr(), entry) &&
          !overlaps(dataPtr(grad.ptr()), entry.paramData, entry.bytes)) {
        entry.grad = grad;
        entry.gradData = dataPtr(grad.ptr());
      }
      b.bound.setParam(position, entry.paramData);
      b.bound.setGrad(position, entry.gradData);
      for (size_t s = 0; s < py::len(buffers); ++s) {
        py::object tensor = buffers[s];
        b.bound.setState(position, s, dataPtr(tensor.ptr()));
        entry.keep.push_back(tensor);
      }
      if (!step.is_none()) {
        entry.step = step;
        entry.stepData = static_cast<float *>(dataPtr(step.ptr()));
      }
    }
    entry.inner = inner;
    for (py::handle pair : watched) {
      auto item = pair.cast<py::tuple>();
      entry.watched.push_back(Watched{item[0], item[1]});
    }
    entries.push_back(std::move(entry));
  }

  /// True when everything the plan was built on still holds (see the class
  /// comment); nothing is written either way but pointer tables.
  bool check() {
    if (!PyDict_Check(state.ptr()))
      return fail("state is not a dict");
    std::vector<size_t> seen(groups.size(), 0);
    for (Entry &entry : entries) {
      // The same parameter object at the same place of its group.
      PyObject *list = groupParams[entry.group].ptr();
      size_t index = seen[entry.group]++;
      if (!PyList_Check(list) ||
          size_t(PyList_GET_SIZE(list)) <= index ||
          PyList_GET_ITEM(list, index) != entry.param.ptr())
        return fail("parameter list changed");
      py::object grad = py::reinterpret_steal<py::object>(
          PyObject_GetAttr(entry.param.ptr(), gradName.ptr()));
      if (!grad)
        throw py::error_already_set();
      if (entry.bucket < 0) {
        if (!grad.is_none())
          return fail("a parameter got a gradient");
        continue;
      }
      if (grad.is_none())
        return fail("a parameter lost its gradient");
      void *gradData = dataPtr(grad.ptr());
      if (grad.ptr() != entry.grad.ptr() || gradData != entry.gradData) {
        if (!matches(grad.ptr(), entry))
          return fail("gradient layout, device, dtype, shape or "
                      "contiguity");
        entry.grad = grad;
        entry.gradData = gradData;
      }
      void *paramData = dataPtr(entry.param.ptr());
      if (paramData != entry.paramData) {
        if (!matches(entry.param.ptr(), entry))
          return fail("parameter layout, device, dtype, shape or "
                      "contiguity");
        entry.paramData = paramData;
      }
      // The compiled step reads the gradient while writing the parameter.
      if (overlaps(entry.gradData, entry.paramData, entry.bytes))
        return fail("gradient overlaps its parameter");
      // The same state dict, holding the same tensors at the same places.
      // The hash taken at bind time: torch's Tensor.__hash__ is a Python
      // function (id-based, so stable) that would cost more than the rest.
      PyObject *inner = _PyDict_GetItem_KnownHash(
          state.ptr(), entry.param.ptr(), entry.paramHash);
      if (!inner && PyErr_Occurred())
        throw py::error_already_set();
      if ((inner ? inner : Py_None) != entry.inner.ptr())
        return fail("state dict replaced");
      for (Watched &w : entry.watched) {
        PyObject *value = PyDict_GetItemWithError(inner, w.key.ptr());
        if (!value && PyErr_Occurred())
          throw py::error_already_set();
        // Identity only: state tensors view runtime-owned memory that
        // `keep` holds, so a state tensor given other storage in place
        // (`.data =`, `set_`) is not seen (docs/Host-cost.md).
        if ((value ? value : Py_None) != w.expected.ptr())
          return fail("state tensor replaced");
      }
      if (entry.stepData &&
          *entry.stepData != static_cast<float>(buckets[entry.bucket]->t0))
        return fail("step count changed");
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      PyObject *list = groupParams[g].ptr();
      if (size_t(PyList_GET_SIZE(list)) != seen[g])
        return fail("parameter list changed");
    }
    for (const Entry &entry : entries) {
      if (entry.bucket < 0)
        continue;
      BoundStep &bound = buckets[entry.bucket]->bound;
      bound.setParam(entry.position, entry.paramData);
      bound.setGrad(entry.position, entry.gradData);
    }
    reason.clear();
    return true;
  }

  /// Runs bucket `b` (after check() and after its hyper-parameters were
  /// set): the global step is its step count; then its parameters' step
  /// tensors and its count grow by the bucket's increment, unless the
  /// bucket skips steps with an inf or NaN and this one found one (the
  /// compiled step then wrote nothing either). Returns whether the step
  /// counted.
  bool runBucket(size_t b) {
    Bucket &bucket = *buckets.at(b);
    if (bucket.t0 > std::numeric_limits<int64_t>::max() - bucket.increment)
      throw py::value_error("the step count " + std::to_string(bucket.t0) +
                            " would overflow int64 at this step");
    // The global step, the step and its status under the step mutex: a
    // step of the same optimizer in another thread cannot come between.
    bool foundInf = false;
    llvm::Error error = runLocked(bucket.mutex, [&]() -> llvm::Error {
      Optimizer &optimizer = bucket.bound.getOptimizer();
      optimizer.setGlobalStep(bucket.t0);
      if (llvm::Error error = bucket.bound.step())
        return error;
      if (!bucket.skipOnInf)
        return llvm::Error::success();
      auto status = optimizer.getStepStatus();
      if (!status)
        return status.takeError();
      foundInf = status->foundInf;
      return llvm::Error::success();
    });
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
    if (foundInf)
      return false;
    if (bucket.increment == 0)
      return true;
    for (Entry &entry : entries)
      if (entry.bucket == int64_t(b) && entry.stepData)
        *entry.stepData += static_cast<float>(bucket.increment);
    bucket.t0 += bucket.increment;
    return true;
  }

  /// The compiled call alone on the tables of bucket `b`'s last run
  /// (measures host cost; see BoundStep::stepCompiledOnly).
  void runBucketCompiledOnly(size_t b) {
    Bucket &bucket = *buckets.at(b);
    if (llvm::Error error = runLocked(
            bucket.mutex, [&] { return bucket.bound.stepCompiledOnly(); }))
      raise(std::move(error), PyExc_RuntimeError);
  }

  int64_t bucketStep(size_t b) const { return buckets.at(b)->t0; }
  size_t numBuckets() const { return buckets.size(); }
  const std::string &getReason() const { return reason; }

private:
  struct Bucket {
    Bucket(py::object compiled, Optimizer &optimizer, std::mutex &mutex,
           int64_t t0, int64_t increment, bool skipOnInf)
        : compiled(std::move(compiled)), mutex(mutex), bound(optimizer),
          t0(t0), increment(increment), skipOnInf(skipOnInf) {}
    py::object compiled; // keeps the Optimizer alive
    std::mutex &mutex;   // its step mutex
    BoundStep bound;
    int64_t t0;
    int64_t increment;
    bool skipOnInf;
  };
  struct Watched {
    py::object key;
    py::object expected;
  };
  struct Entry {
    size_t group = 0;
    py::object param, grad, dtype, inner, step;
    Py_hash_t paramHash = 0;
    std::vector<int64_t> shape;
    int64_t bytes = 0; // of the parameter (and of its gradient)
    int64_t bucket = -1;
    size_t position = 0;
    void *paramData = nullptr;
    void *gradData = nullptr;
    float *stepData = nullptr;
    std::vector<Watched> watched;
    std::vector<py::object> keep;
  };

  /// Whether two spans of `bytes` bytes at `a` and `b` overlap.
  static bool overlaps(const void *a, const void *b, int64_t bytes) {
    auto x = reinterpret_cast<std::uintptr_t>(a);
    auto y = reinterpret_cast<std::uintptr_t>(b);
    return bytes > 0 && x < y + bytes && y < x + bytes;
  }

  bool fail(const char *why) {
    reason = why;
    return false;
  }

  void *dataPtr(PyObject *tensor) const {
    py::object result = py::reinterpret_steal<py::object>(
        PyObject_CallMethodNoArgs(tensor, dataPtrName.ptr()));
    if (!result)
      throw py::error_already_set();
    void *data = PyLong_AsVoidPtr(result.ptr());
    if (!data && PyErr_Occurred())
      throw py::error_already_set();
    return data;
  }

  /// Whether `tensor` is a dense, contiguous CPU tensor of `entry`'s dtype
  /// and shape (the checked path raises or copies otherwise).
  bool matches(PyObject *tensor, const Entry &entry) const {
    py::handle t(tensor);
    if (t.attr("layout").ptr() != strided.ptr() ||
        !t.attr("is_cpu").cast<bool>() ||
        t.attr("dtype").ptr() != entry.dtype.ptr())
      return false;
    py::object shape = t.attr("shape");
    if (!PyTuple_Check(shape.ptr()) ||
        size_t(PyTuple_GET_SIZE(shape.ptr())) != entry.shape.size())
      return false;
    for (size_t d = 0; d < entry.shape.size(); ++d)
      if (PyLong_AsLongLong(PyTuple_GET_ITEM(shape.ptr(), d)) !=
          entry.shape[d])
        return false;
    py::object contiguous = py::reinterpret_steal<py::object>(
        PyObject_CallMethodNoArgs(tensor, contiguousName.ptr()));
    if (!contiguous)
      throw py::error_already_set();
    return contiguous.ptr() == Py_True;
  }

  py::object state;
  py::list groups;
  py::object keep;
  std::vector<py::object> groupParams;
  py::object strided, gradName, dataPtrName, contiguousName;
  std::vector<std::unique_ptr<Bucket>> buckets;
  std::vector<Entry> entries;
  std::string reason = "not checked yet";
};

//===----------------------------------------------------------------------===//
// GPU: kernels on device buffers (GPUOptimizer.h), device memory and the
// CUDA driver (CUDADriver.h)
//===----------------------------------------------------------------------===//

/// Whether `message` is one of the CUDA driver layer's errors (docs/GPU.md,
/// "Error messages"): the driver or a device failed, not an argument.
bool isDriverError(llvm::StringRef message) {
  return message.contains(" failed: CUDA_") ||
         message.contains(" failed: CUDA error ") ||
         message.starts_with("cannot load the CUDA driver") ||
         message.starts_with("the CUDA driver (") ||
         message.starts_with("no CUDA device") ||
         (message.starts_with("CUDA device ") &&
          message.contains(" is out of range"));
}

/// Raises `error` as RuntimeError when the driver or a device failed, else
/// as ValueError (an argument the runtime rejected).
[[noreturn]] void raiseClassified(llvm::Error error) {
  std::string message = llvm::toString(std::move(error));
  PyErr_SetString(isDriverError(message) ? PyExc_RuntimeError
                                         : PyExc_ValueError,
                  message.c_str());
  throw py::error_already_set();
}

/// `handle` (a Python int such as `tensor.data_ptr()` or a CUstream's
/// address) as a pointer.
void *toAddress(py::handle handle, const std::string &what) {
  PyObject *index = PyNumber_Index(handle.ptr());
  if (!index) {
    PyErr_Clear();
    throw py::type_error(what +
                         " must be an int (a device address such as "
                         "tensor.data_ptr()), got " +
                         std::string(Py_TYPE(handle.ptr())->tp_name));
  }
  unsigned long long value = PyLong_AsUnsignedLongLong(index);
  Py_DECREF(index);
  if (value == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::value_error(what + " must be an address in [0, 2**64)");
  }
  return reinterpret_cast<void *>(static_cast<std::uintptr_t>(value));
}

std::string hexAddress(const void *pointer) {
  char text[32];
  std::snprintf(text, sizeof(text), "0x%llx",
                static_cast<unsigned long long>(
                    reinterpret_cast<std::uintptr_t>(pointer)));
  return text;
}

/// Buffers the kernels read and write: non-null and 16-byte aligned (the
/// kernels move 16-byte vectors). ValueError otherwise.
void checkDeviceBuffer(void *pointer, const std::string &what) {
  if (!pointer)
    throw py::value_error(what + " is null");
  if (reinterpret_cast<std::uintptr_t>(pointer) % 16)
    throw py::value_error(what + " is not 16-byte aligned (address " +
                          hexAddress(pointer) +
                          "): the CUDA kernels load and store 16-byte "
                          "vectors");
}

/// The device buffers of one step or initStates (the caller checked their
/// number), each checked for null and alignment before the runtime sees
/// them.
std::vector<void *> deviceBuffers(py::sequence addresses,
                                  llvm::ArrayRef<ParamInfo> infos,
                                  llvm::ArrayRef<std::string> stateNames,
                                  const char *kind) {
  std::vector<void *> result;
  result.reserve(py::len(addresses));
  bool states = std::strcmp(kind, "state") == 0;
  size_t numStates = stateNames.size();
  for (size_t i = 0; i < py::len(addresses); ++i) {
    std::string what = std::string(kind) + " buffer " + std::to_string(i);
    if (states)
      what += " ('" + infos[i / numStates].name + "' state '" +
              stateNames[i % numStates] + "')";
    else
      what += " ('" + infos[i].name + "')";
    void *pointer = toAddress(addresses[i], what);
    // A state of no elements (the master of a parameter without one) is
    // never read or written: it may be null.
    if (states && !pointer &&
        infos[i / numStates].stateNumElements[i % numStates] == 0) {
      result.push_back(pointer);
      continue;
    }
    checkDeviceBuffer(pointer, what);
    result.push_back(pointer);
  }
  return result;
}

/// The CUstream at `stream` (0: the legacy default stream).
void *toStream(py::handle stream) {
  return toAddress(stream, "stream (a CUstream address, e.g. "
                           "torch.cuda.current_stream().cuda_stream)");
}

class PyGPUOptimizer {
public:
  explicit PyGPUOptimizer(std::unique_ptr<GPUOptimizer> optimizer)
      : optimizer(std::move(optimizer)) {}

  static std::unique_ptr<PyGPUOptimizer> compile(const std::string &source,
                                                 const std::string &chip,
                                                 const std::string &options) {
    GPUCompileOptions compileOptions;
    compileOptions.chip = chip;
    compileOptions.pipelineOptions = options;
    std::unique_ptr<GPUOptimizer> compiled;
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      auto result = GPUOptimizer::compile(source, compileOptions);
      if (result)
        compiled = std::move(*result);
      else
        error = result.takeError();
    }
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
    return std::make_unique<PyGPUOptimizer>(std::move(compiled));
  }

  py::list params() const { return paramList(optimizer->getParams()); }

  std::vector<std::string> stateNames() const {
    return {optimizer->getStateNames().begin(),
            optimizer->getStateNames().end()};
  }

  py::list launches() const {
    py::list result;
    for (const GPUKernelLaunch &launch : optimizer->getLaunches()) {
      py::dict entry;
      entry["name"] = launch.name;
      entry["grid"] =
          py::make_tuple(launch.grid[0], launch.grid[1], launch.grid[2]);
      entry["block"] =
          py::make_tuple(launch.block[0], launch.block[1], launch.block[2]);
      entry["arguments"] = py::cast(launch.arguments);
      entry["num_params"] = launch.numParams;
      result.append(entry);
    }
    return result;
  }

  py::object image() const {
    llvm::StringRef image = optimizer->getImage();
    if (image.starts_with("\177ELF"))
      return py::bytes(image.data(), image.size());
    return py::str(image.data(), image.size());
  }

  void load(int device) {
    if (device < 0)
      throw py::value_error("device must be a CUDA device index >= 0, got " +
                            std::to_string(device));
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      error = optimizer->load(device);
    }
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
  }

  void setHyperParam(unsigned group, const std::string &name, double value) {
    if (llvm::Error error = optimizer->setHyperParam(group, name, value))
      raiseClassified(std::move(error));
  }

  py::dict stepStatus() {
    llvm::Expected<optim::runtime::StepStatus> status =
        optim::runtime::StepStatus();
    {
      py::gil_scoped_release release;
      status = optimizer->getStepStatus();
    }
    if (!status)
      raiseClassified(status.takeError());
    return statusToDict(*status);
  }

  void setLossScaleState(double lossScale, int64_t goodSteps) {
    if (llvm::Error error = optimizer->setLossScaleState(lossScale, goodSteps))
      raiseClassified(std::move(error));
  }

  double getHyperParam(unsigned group, const std::string &name) const {
    auto value = optimizer->getHyperParam(group, name);
    if (!value)
      raise(value.takeError());
    return *value;
  }

  int64_t globalStep() {
    int64_t value = 0;
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      auto step = optimizer->getGlobalStep();
      if (step)
        value = *step;
      else
        error = step.takeError();
    }
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
    return value;
  }

  void setGlobalStep(int64_t step) {
    if (step < 0)
      throw py::value_error("the global step must not be negative, got " +
                            std::to_string(step));
    if (llvm::Error error = optimizer->setGlobalStep(step))
      raiseClassified(std::move(error));
  }

  double stateInitValue(unsigned param, unsigned state) const {
    if (param >= optimizer->getParams().size() ||
        state >= optimizer->getStateNames().size())
      throw py::index_error("parameter or state index out of range");
    return optimizer->getStateInitValue(param, state);
  }

  void initStates(py::sequence states, py::handle stream, py::object params) {
    auto infos = optimizer->getParams();
    auto names = optimizer->getStateNames();
    size_t expected = infos.size() * names.size();
    if (py::len(states) != expected)
      throw py::value_error("expected " + std::to_string(expected) +
                            " state buffers, got " +
                            std::to_string(py::len(states)));
    std::vector<void *> s = deviceBuffers(states, infos, names, "state");
    std::vector<void *> p;
    if (!params.is_none()) {
      auto sequence = params.cast<py::sequence>();
      if (py::len(sequence) != infos.size())
        throw py::value_error("expected " + std::to_string(infos.size()) +
                              " parameter buffers, got " +
                              std::to_string(py::len(sequence)));
      p = deviceBuffers(sequence, infos, names, "parameter");
    }
    void *cuStream = toStream(stream);
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      error = params.is_none()
                  ? optimizer->initStates(s, cuStream)
                  : optimizer->initStatesFromParams(p, s, cuStream);
    }
    if (error)
      raiseClassified(std::move(error));
  }

  void step(py::sequence params, py::sequence grads, py::sequence states,
            py::handle stream) {
    auto infos = optimizer->getParams();
    auto names = optimizer->getStateNames();
    if (py::len(params) != infos.size() || py::len(grads) != infos.size())
      throw py::value_error("expected " + std::to_string(infos.size()) +
                            " parameters and gradients, got " +
                            std::to_string(py::len(params)) + " and " +
                            std::to_string(py::len(grads)));
    if (py::len(states) != infos.size() * names.size())
      throw py::value_error(
          "expected " + std::to_string(infos.size() * names.size()) +
          " state buffers, got " + std::to_string(py::len(states)));
    std::vector<void *> p = deviceBuffers(params, infos, names, "parameter");
    std::vector<void *> g = deviceBuffers(grads, infos, names, "gradient");
    std::vector<void *> s = deviceBuffers(states, infos, names, "state");
    void *cuStream = toStream(stream);
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      error = optimizer->step(p, g, s, cuStream);
    }
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
  }

  std::unique_ptr<GPUOptimizer> optimizer;
};

/// The CUDA driver of this process, or RuntimeError with its message.
cuda::Driver &getDriver() {
  auto driver = cuda::Driver::get();
  if (!driver)
    raise(driver.takeError(), PyExc_RuntimeError);
  return *driver;
}

cuda::ContextHandle getContext(cuda::Driver &driver, int device) {
  if (device < 0)
    throw py::value_error("device must be a CUDA device index >= 0, got " +
                          std::to_string(device));
  auto context = driver.getPrimaryContext(device);
  if (!context)
    raise(context.takeError(), PyExc_RuntimeError);
  return *context;
}

/// Device memory of one device's primary context (optim_mlir.nn's device
/// copies of NumPy arrays), freed when the object goes away.
class PyDeviceBuffer {
public:
  PyDeviceBuffer(size_t bytes, int device) : device(device) {
    cuda::Driver &driver = getDriver();
    cuda::ContextHandle context = getContext(driver, device);
    auto allocated = cuda::DeviceBuffer::allocate(driver, context, bytes);
    if (!allocated)
      raise(allocated.takeError(), PyExc_RuntimeError);
    buffer = std::move(*allocated);
  }

  void copyFromHost(py::handle handle, py::handle stream, size_t offset) {
    py::array array = hostArray(handle, false);
    size_t count = array.nbytes();
    checkRange("copy_from_host", count, offset);
    void *cuStream = toStream(stream);
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      error = buffer.copyFromHostAsync(
          array.data(), count, static_cast<cuda::StreamHandle>(cuStream),
          offset);
    }
    if (error)
      raiseClassified(std::move(error));
  }

  void copyToHost(py::handle handle, py::handle stream, size_t offset) {
    py::array array = hostArray(handle, true);
    size_t count = array.nbytes();
    checkRange("copy_to_host", count, offset);
    void *cuStream = toStream(stream);
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      error = buffer.copyToHostAsync(array.mutable_data(), count,
                                     static_cast<cuda::StreamHandle>(cuStream),
                                     offset);
    }
    if (error)
      raiseClassified(std::move(error));
  }

  void memset(int value, py::handle stream) {
    if (value < 0 || value > 255)
      throw py::value_error("memset: value must be a byte in [0, 255], got " +
                            std::to_string(value));
    void *cuStream = toStream(stream);
    if (llvm::Error error =
            buffer.memsetAsync(static_cast<std::uint8_t>(value),
                               static_cast<cuda::StreamHandle>(cuStream)))
      raiseClassified(std::move(error));
  }

  void release() {
    if (llvm::Error error = buffer.release())
      raise(std::move(error), PyExc_RuntimeError);
  }

  uint64_t pointer() const { return buffer.get(); }
  size_t size() const { return buffer.size(); }
  int getDevice() const { return device; }

private:
  static py::array hostArray(py::handle handle, bool writable) {
    if (!py::isinstance<py::array>(handle))
      throw py::type_error(std::string("the host side of a copy must be a "
                                       "numpy.ndarray, got ") +
                           Py_TYPE(handle.ptr())->tp_name);
    auto array = py::reinterpret_borrow<py::array>(handle);
    if (!(array.flags() & py::array::c_style))
      throw py::value_error("the host array of a copy must be C-contiguous");
    if (writable && !array.writeable())
      throw py::value_error("the host array of a copy to the host must be "
                            "writeable");
    return array;
  }

  void checkRange(const char *what, size_t count, size_t offset) const {
    if (offset > buffer.size() || count > buffer.size() - offset)
      throw py::value_error(std::string(what) + ": " + std::to_string(count) +
                            " bytes at offset " + std::to_string(offset) +
                            " exceed a device buffer of " +
                            std::to_string(buffer.size()) + " bytes");
  }

  int device;
  cuda::DeviceBuffer buffer;
};

//===----------------------------------------------------------------------===//
// Distributed steps (docs/Distributed.md)
//===----------------------------------------------------------------------===//

/// optim_mlir._optim.DistributedError: a collective that timed out or
/// failed; the communicator is broken afterwards.
PyObject *distributedErrorType = nullptr;

[[noreturn]] void raiseDistributed(llvm::Error error,
                                   const Communicator &comm) {
  raise(std::move(error), comm.getFailure().empty() ? PyExc_ValueError
                                                    : distributedErrorType);
}

py::dict statsToDict(const ExchangeStats &stats) {
  py::dict d;
  d["bytes_sent"] = stats.bytesSent;
  d["bytes_received"] = stats.bytesReceived;
  d["reduce_seconds"] = stats.reduceSeconds;
  d["exchange_seconds"] = stats.exchangeSeconds;
  return d;
}

/// Runs `body` without the GIL; the communicator's calls come from one
/// thread at a time (`mutex`).
template <typename Body>
llvm::Error runComm(std::mutex &mutex, Body body) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(mutex);
  return body();
}

std::mutex &commMutex() {
  static std::mutex *mutex = new std::mutex();
  return *mutex;
}

struct PyCommunicator {
  std::shared_ptr<Communicator> comm;

  static PyCommunicator world(double timeout) {
    auto comm = Communicator::world(timeout);
    if (!comm)
      raise(comm.takeError(), distributedErrorType);
    return PyCommunicator{*comm};
  }

  void barrier() {
    if (llvm::Error error =
            runComm(commMutex(), [&] { return comm->barrier(); }))
      raiseDistributed(std::move(error), *comm);
  }

  py::list allgather(py::bytes data) {
    std::string bytes = data;
    std::optional<llvm::Expected<std::vector<std::string>>> result;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(commMutex());
      result.emplace(comm->allgather(bytes));
    }
    if (!*result)
      raiseDistributed(result->takeError(), *comm);
    py::list out;
    for (const std::string &item : **result)
      out.append(py::bytes(item));
    return out;
  }

  py::bytes broadcast(py::object data, int root) {
    std::string bytes;
    if (!data.is_none())
      bytes = data.cast<std::string>();
    std::optional<llvm::Expected<std::string>> result;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(commMutex());
      result.emplace(comm->broadcast(bytes, root));
    }
    if (!*result)
      raiseDistributed(result->takeError(), *comm);
    return py::bytes(**result);
  }

  void allreduceSum(py::array array) {
    DType dtype;
    if (hasDType(array, DType::F32))
      dtype = DType::F32;
    else if (hasDType(array, DType::F64))
      dtype = DType::F64;
    else
      throw py::type_error("allreduce_sum takes float32 or float64 arrays");
    if (!(array.flags() & py::array::c_style) || !array.writeable())
      throw py::value_error("allreduce_sum needs a writeable C-contiguous "
                            "array");
    void *data = array.mutable_data();
    int64_t count = static_cast<int64_t>(array.size());
    if (llvm::Error error = runComm(commMutex(), [&] {
          return comm->allreduceSum(data, count, dtype);
        }))
      raiseDistributed(std::move(error), *comm);
  }

  void exchange(py::sequence arrays, std::vector<int> owners, bool inOrder) {
    size_t n = py::len(arrays);
    if (owners.size() != n)
      throw py::value_error("expected one owner per array: " +
                            std::to_string(n) + " arrays, " +
                            std::to_string(owners.size()) + " owners");
    std::vector<py::array> owned;
    std::vector<void *> buffers;
    std::vector<int64_t> sizes;
    for (size_t i = 0; i < n; ++i) {
      if (!py::isinstance<py::array>(arrays[i]))
        throw py::type_error("exchange: item " + std::to_string(i) +
                             " is not a numpy.ndarray");
      auto array = py::reinterpret_borrow<py::array>(arrays[i]);
      if (!(array.flags() & py::array::c_style))
        throw py::value_error("exchange: array " + std::to_string(i) +
                              " is not C-contiguous");
      if (!array.writeable())
        throw py::value_error("exchange: array " + std::to_string(i) +
                              " is read-only");
      owned.push_back(array);
      buffers.push_back(array.mutable_data());
      sizes.push_back(static_cast<int64_t>(array.nbytes()));
    }
    if (llvm::Error error = runComm(commMutex(), [&] {
          return comm->exchange(buffers, sizes, owners, inOrder);
        }))
      raiseDistributed(std::move(error), *comm);
  }
};

class PyShardedOptimizer {
public:
  PyShardedOptimizer(const std::string &source, PyCommunicator &comm,
                     py::object mode, const std::string &gradients,
                     const std::string &options) {
    ShardMode shardMode = ShardMode::FromSource;
    if (!mode.is_none()) {
      std::string name = mode.cast<std::string>();
      if (name == "broadcast_params")
        shardMode = ShardMode::BroadcastParams;
      else if (name == "zero")
        shardMode = ShardMode::Zero;
      else
        throw py::value_error("mode must be None, 'broadcast_params' or "
                              "'zero', got '" +
                              name + "'");
    }
    GradientReduction reduction;
    if (gradients == "none")
      reduction = GradientReduction::None;
    else if (gradients == "sum")
      reduction = GradientReduction::Sum;
    else if (gradients == "mean")
      reduction = GradientReduction::Mean;
    else
      throw py::value_error("gradients must be 'none', 'sum' or 'mean', got '" +
                            gradients + "'");
    CompileOptions compileOptions;
    compileOptions.pipelineOptions = options;
    auto compiled = ShardedOptimizer::compile(source, comm.comm, shardMode,
                                              reduction, compileOptions);
    if (!compiled)
      raise(compiled.takeError(), PyExc_RuntimeError);
    optimizer = std::move(*compiled);
  }

  py::list pieces(py::object rank) const {
    llvm::ArrayRef<ShardPiece> list = optimizer->getLocalPieces();
    if (!rank.is_none()) {
      int r = rank.cast<int>();
      if (r < 0 || r >= optimizer->getCommunicator().getSize())
        throw py::index_error("rank out of range");
      list = optimizer->getPieces(r);
    }
    py::list out;
    for (const ShardPiece &piece : list)
      out.append(py::make_tuple(piece.param, piece.offset, piece.count,
                                piece.whole));
    return out;
  }

  py::list localParams() const {
    return paramList(optimizer->getLocalParams());
  }

  void initStates(py::sequence states, py::object params) {
    std::vector<void *> s, p;
    if (!params.is_none()) {
      auto infos = optimizer->getParams();
      auto sequence = params.cast<py::sequence>();
      if (py::len(sequence) != infos.size())
        throw py::value_error("expected " + std::to_string(infos.size()) +
                              " parameter arrays, got " +
                              std::to_string(py::len(sequence)));
      for (size_t i = 0; i < infos.size(); ++i)
        p.push_back(checkBuffer(sequence[i], infos[i], "parameter", false));
    }
    if (optimizer->getLocalOptimizer()) {
      auto infos = optimizer->getLocalParams();
      size_t numStates = optimizer->getStateNames().size();
      if (py::len(states) != infos.size() * numStates)
        throw py::value_error("expected " +
                              std::to_string(infos.size() * numStates) +
                              " local state arrays, got " +
                              std::to_string(py::len(states)));
      for (size_t i = 0; i < infos.size(); ++i)
        for (size_t j = 0; j < numStates; ++j)
          s.push_back(checkBuffer(states[i * numStates + j], infos[i],
                                  "state", true, &infos[i].stateShapes[j],
                                  &infos[i].stateDTypes[j]));
    } else if (py::len(states) != 0) {
      throw py::value_error("this rank keeps no state");
    }
    initStatesLocked(*optimizer, stepMutex, !params.is_none(), p, s);
  }

  /// The pointers of a step's arrays (kept alive by `owned`), or a Python
  /// exception.
  void checkStepArguments(py::sequence params, py::sequence grads,
                          py::sequence states, StepArrays &arrays) {
    auto infos = optimizer->getParams();
    if (py::len(params) != infos.size() || py::len(grads) != infos.size())
      throw py::value_error("expected " + std::to_string(infos.size()) +
                            " parameters and gradients, got " +
                            std::to_string(py::len(params)) + " and " +
                            std::to_string(py::len(grads)));
    auto localInfos = optimizer->getLocalParams();
    size_t numLocal = localInfos.size();
    size_t numStates = optimizer->getStateNames().size();
    if (py::len(states) != numLocal * numStates)
      throw py::value_error("expected " + std::to_string(numLocal * numStates) +
                            " local state arrays, got " +
                            std::to_string(py::len(states)));
    for (size_t i = 0; i < infos.size(); ++i)
      arrays.addParam(params[i], grads[i], infos[i], i);
    for (size_t k = 0; k < numLocal; ++k)
      for (size_t j = 0; j < numStates; ++j)
        arrays.addState(states[k * numStates + j], localInfos[k], j);
  }

  void step(py::sequence params, py::sequence grads, py::sequence states) {
    StepArrays arrays(optimizer->getParams().size());
    // A rank whose arguments are wrong still takes part in the step's
    // agreement, so that the others learn it instead of waiting for it.
    try {
      checkStepArguments(params, grads, states, arrays);
    } catch (py::builtin_exception &e) {
      refuse(e.what());
      throw;
    } catch (py::error_already_set &e) {
      refuse(e.what());
      throw;
    }
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> commLock(commMutex());
      std::lock_guard<std::mutex> lock(stepMutex);
      error = optimizer->step(arrays.params, arrays.grads, arrays.states);
    }
    if (error)
      raiseDistributed(std::move(error), optimizer->getCommunicator());
  }

  /// Refuses the step on every rank (this one raises its own error).
  void refuse(const std::string &problem) {
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> commLock(commMutex());
      std::lock_guard<std::mutex> lock(stepMutex);
      error = optimizer->refuseStep(problem);
    }
    // The refusal's own error is the agreement's ("failed on rank ..."),
    // unless the agreement could not be reached.
    if (error && !optimizer->getCommunicator().getFailure().empty())
      raiseDistributed(std::move(error), optimizer->getCommunicator());
    llvm::consumeError(std::move(error));
  }

  std::unique_ptr<ShardedOptimizer> optimizer;
  std::mutex stepMutex;
};

/// The rule table (generated from the rule records, OptimRules.td): the
/// Python layer's one source for rule names, hyper-parameters, ranges,
/// options and states.
py::dict ruleSpecs() {
  using namespace mlir::optim;
  py::dict rules;
  for (const RuleSpec &spec : getAllRuleSpecs()) {
    py::list hypers;
    for (const HyperParamSpec &hyper : spec.hyperParams) {
      RangeBounds bounds = getRangeBounds(hyper.range);
      py::object lower = bounds.lower ? py::object(py::float_(*bounds.lower))
                                      : py::object(py::none());
      py::object upper = bounds.upper ? py::object(py::float_(*bounds.upper))
                                      : py::object(py::none());
      py::dict entry;
      entry["name"] = hyper.name.str();
      entry["default"] = hyper.defaultValue;
      entry["range"] =
          py::make_tuple(lower, upper, bounds.lowerClosed, bounds.upperClosed);
      entry["range_text"] = describeRange(hyper.range).str();
      entry["init_only"] = hyper.initOnly;
      entry["computed"] = hyper.computed;
      entry["tuple_arg"] = hyper.tupleArg.str();
      hypers.append(entry);
    }
    py::list options;
    py::dict optionPositive;
    for (const OptionSpec &option : spec.options) {
      options.append(py::make_tuple(option.name.str(), option.defaultValue));
      if (!option.positive.empty())
        optionPositive[py::str(option.name.str())] = option.positive.str();
    }
    py::list states;
    for (const StateSpec &state : spec.states) {
      py::dict entry;
      entry["name"] = state.name.str();
      entry["init"] = state.initValue;
      entry["init_from"] = state.initFrom.str();
      entry["requires"] = state.requiresOption.str();
      entry["shape"] = stringifyStateShape(state.shape).str();
      states.append(entry);
    }
    py::dict rule;
    rule["class_name"] = spec.className.str();
    rule["op_name"] = spec.opName.str();
    rule["hyper_params"] = hypers;
    rule["options"] = options;
    rule["option_positive"] = optionPositive;
    rule["states"] = states;
    rule["uses_step"] = spec.usesStep;
    rule["decay_in_rule"] = spec.decayInRule;
    rule["sparse_grad"] = spec.sparseGrad;
    rule["num_norms"] = spec.numNorms;
    rule["whole_tensor"] = spec.wholeTensor;
    rule["gen_python_classes"] = spec.genPythonClasses;
    rule["default_learning_rate"] =
        spec.defaultLearningRate
            ? py::object(py::float_(*spec.defaultLearningRate))
            : py::object(py::none());
    rule["class_description"] = spec.classDescription.str();
    rule["gen_nn_class"] = spec.genPythonClasses && spec.genNNClass;
    rule["gen_torch_class"] = spec.genPythonClasses && spec.genTorchClass;
    rules[py::str(stringifyRuleKind(spec.kind).str())] = rule;
  }
  return rules;
}

/// The learning-rate schedules (generated from OptimAttrs.td): name ->
/// [(parameter, "float" | "int" | "bool")] in order.
py::dict scheduleSpecs() {
  using namespace mlir::optim;
  py::dict schedules;
  for (const ScheduleSpec &schedule : getScheduleSpecs()) {
    py::list params;
    for (const ScheduleParamSpec &param : schedule.params)
      params.append(py::make_tuple(
          param.name.str(), param.kind == ScheduleParamKind::Float ? "float"
                            : param.kind == ScheduleParamKind::Int ? "int"
                                                                   : "bool"));
    schedules[py::str(schedule.name.str())] = params;
  }
  return schedules;
}

} // namespace

PYBIND11_MODULE(_optim, m) {
  m.doc() = "Compiled optimizer steps (the optim-mlir runtime).";
  m.def("rule_specs", &ruleSpecs,
        "Every update rule by its IR name: MindSpore class, update op, "
        "hyper-parameters (name, default, range as (lower, upper, "
        "lower_closed, upper_closed) with None for an open end, range text, "
        "init_only, computed: set by the torch front end each step, "
        "tuple_arg: the torch class's tuple argument holding it), options "
        "(name, default), option_positive (option -> the hyper-parameter "
        "whose being > 0 turns it on), states (name, init, "
        "init_from, requires, shape: see state_shape), uses_step, "
        "decay_in_rule, sparse_grad, num_norms, whole_tensor, "
        "gen_python_classes (the front ends build the rule's "
        "classes from this entry), default_learning_rate (None unless "
        "gen_python_classes), class_description (the classes' "
        "docstring), gen_nn_class and gen_torch_class (which front ends "
        "get a class). Generated from the rule records (OptimRules.td).");
  m.def("schedule_specs", &scheduleSpecs,
        "Every learning-rate schedule attribute by name, with its parameters "
        "in order as (name, 'float' | 'int' | 'bool'). Generated from "
        "OptimAttrs.td.");
  m.def(
      "state_shape",
      [](const std::string &kind, const std::vector<int64_t> &paramShape) {
        using namespace mlir::optim;
        for (StateShape shape : getAllStateShapes())
          if (stringifyStateShape(shape) == kind) {
            llvm::SmallVector<int64_t> result =
                getStateShape(shape, paramShape);
            py::tuple tuple(result.size());
            for (size_t i = 0; i < result.size(); ++i)
              tuple[i] = result[i];
            return tuple;
          }
        throw py::value_error("unknown state shape '" + kind + "'");
      },
      py::arg("kind"), py::arg("param_shape"),
      "The shape of a state of shape kind `kind` (rule_specs: a state's "
      "'shape') for a parameter of shape `param_shape`.");
  m.def(
      "default_decay_filter",
      [](const std::string &name) {
        return mlir::optim::passesDefaultDecayFilter(name);
      },
      py::arg("name"),
      "Whether weight decay applies to a parameter of this name in an "
      "ungrouped optimizer (MindSpore's filter: no 'beta', no 'gamma').");

  distributedErrorType = PyErr_NewExceptionWithDoc(
      "optim_mlir._optim.DistributedError",
      "A collective of a distributed step that timed out or failed (a rank "
      "died or stalled, an MPI error); its communicator cannot be used "
      "again.",
      PyExc_RuntimeError, nullptr);
  m.attr("DistributedError") = py::handle(distributedErrorType);
  py::class_<PyCommunicator>(
      m, "Communicator",
      "The ranks of the MPI job, with a deadline on every collective "
      "(docs/Distributed.md).")
      .def_static("world", &PyCommunicator::world, py::arg("timeout") = 60.0,
                  "MPI_COMM_WORLD's ranks (MPI is initialised on first use, "
                  "finalised at exit). Every wait gives up after `timeout` "
                  "seconds (OPTIM_DIST_TIMEOUT overrides it) with "
                  "DistributedError.")
      .def_property_readonly("rank",
                             [](const PyCommunicator &c) {
                               return c.comm->getRank();
                             })
      .def_property_readonly("size",
                             [](const PyCommunicator &c) {
                               return c.comm->getSize();
                             })
      .def_property(
          "timeout",
          [](const PyCommunicator &c) { return c.comm->getTimeout(); },
          [](PyCommunicator &c, double seconds) {
            if (llvm::Error error = c.comm->setTimeout(seconds))
              raise(std::move(error));
          })
      .def_property_readonly("failure",
                             [](const PyCommunicator &c) {
                               return c.comm->getFailure();
                             },
                             "The first error once broken, else ''.")
      .def("barrier", &PyCommunicator::barrier)
      .def("allgather", &PyCommunicator::allgather, py::arg("data"),
           "Every rank's bytes, in rank order.")
      .def("broadcast", &PyCommunicator::broadcast, py::arg("data"),
           py::arg("root"), "The root's bytes on every rank.")
      .def("exchange", &PyCommunicator::exchange, py::arg("arrays"),
           py::arg("owners"), py::arg("in_order") = false,
           "Every rank passes arrays of the same sizes; afterwards each "
           "holds rank owners[i]'s values in arrays[i]. Nothing is written "
           "unless every transfer completed. in_order: one broadcast per "
           "rank, in rank order (MindSpore's broadcast_params).")
      .def("allreduce_sum", &PyCommunicator::allreduceSum, py::arg("array"),
           "Sums a float32 or float64 array over the ranks, in place (MPI's "
           "order of additions).")
      .def_property_readonly("last_stats",
                             [](const PyCommunicator &c) {
                               return statsToDict(c.comm->getLastStats());
                             });
  py::class_<PyShardedOptimizer>(
      m, "ShardedOptimizer",
      "An optimizer step divided among the ranks of a communicator "
      "(docs/Distributed.md).")
      .def(py::init<const std::string &, PyCommunicator &, py::object,
                    const std::string &, const std::string &>(),
           py::arg("source"), py::arg("communicator"),
           py::arg("mode") = py::none(), py::arg("gradients") = "none",
           py::arg("options") = "",
           "mode: 'broadcast_params', 'zero', or None for the IR's "
           "`sharding` (else 'zero'). gradients: 'none' (the same on every "
           "rank already), 'sum' or 'mean' over the ranks.")
      .def_property_readonly("mode",
                             [](const PyShardedOptimizer &self) {
                               return self.optimizer->getMode() ==
                                              ShardMode::BroadcastParams
                                          ? "broadcast_params"
                                          : "zero";
                             })
      .def_property_readonly("params",
                             [](const PyShardedOptimizer &self) {
                               return paramList(self.optimizer->getParams());
                             })
      .def_property_readonly("state_names",
                             [](const PyShardedOptimizer &self) {
                               auto names = self.optimizer->getStateNames();
                               return std::vector<std::string>(names.begin(),
                                                               names.end());
                             })
      .def_property_readonly("num_groups",
                             [](const PyShardedOptimizer &self) {
                               return self.optimizer->getNumGroups();
                             })
      .def("pieces", &PyShardedOptimizer::pieces,
           py::arg("rank") = py::none(),
           "(param, offset, count, whole) of each piece: this rank's in the "
           "order of its local states by default, else rank `rank`'s in the "
           "step's order.")
      .def_property_readonly("local_params", &PyShardedOptimizer::localParams,
                             "The local step's parameters, one per local "
                             "piece (their state shapes).")
      .def("init_states", &PyShardedOptimizer::initStates, py::arg("states"),
           py::arg("params") = py::none(),
           "Fills the local states (piece-major) with their initial values; "
           "with float32 master weights, `params` (every parameter) gives "
           "the values the masters start from.")
      .def("set_hyper_param",
           [](PyShardedOptimizer &self, unsigned group,
              const std::string &name, double value) {
             llvm::Error error = llvm::Error::success();
             {
               ShortLock lock(self.stepMutex);
               error = self.optimizer->setHyperParam(group, name, value);
             }
             if (error)
               raise(std::move(error));
           },
           py::arg("group"), py::arg("name"), py::arg("value"))
      .def("get_hyper_param",
           [](PyShardedOptimizer &self, unsigned group,
              const std::string &name) {
             auto value = self.optimizer->getHyperParam(group, name);
             if (!value)
               raise(value.takeError());
             return *value;
           },
           py::arg("group"), py::arg("name"))
      .def("learning_rates",
           [](PyShardedOptimizer &self) {
             auto rates = self.optimizer->getLearningRates();
             if (!rates)
               raise(rates.takeError(), PyExc_RuntimeError);
             return *rates;
           })
      .def_property(
          "global_step",
          [](PyShardedOptimizer &self) {
            return self.optimizer->getGlobalStep();
          },
          [](PyShardedOptimizer &self, int64_t step) {
            ShortLock lock(self.stepMutex);
            if (llvm::Error error = self.optimizer->setGlobalStep(step))
              raise(std::move(error));
          })
      .def("set_num_threads",
           [](PyShardedOptimizer &self, int threads) {
             ShortLock lock(self.stepMutex);
             if (llvm::Error error = self.optimizer->setNumThreads(threads))
               raise(std::move(error));
           },
           py::arg("num_threads"))
      .def_property_readonly(
          "has_step_status",
          [](const PyShardedOptimizer &self) {
            return self.optimizer->hasStepStatus();
          },
          "True if the step clips gradients or scales the loss dynamically.")
      .def(
          "step_status",
          [](PyShardedOptimizer &self) {
            ShortLock lock(self.stepMutex);
            auto status = self.optimizer->getStepStatus();
            if (!status)
              raise(status.takeError());
            return statusToDict(*status);
          },
          "What the last step found and did, the same on every rank (see "
          "CompiledOptimizer.step_status). ValueError without clipping or "
          "dynamic loss scaling.")
      .def(
          "set_loss_scale_state",
          [](PyShardedOptimizer &self, double lossScale, int64_t goodSteps) {
            ShortLock lock(self.stepMutex);
            if (llvm::Error error =
                    self.optimizer->setLossScaleState(lossScale, goodSteps))
              raise(std::move(error));
          },
          py::arg("loss_scale"), py::arg("good_steps"),
          "Restores a dynamic loss scale and its count of clean steps; every "
          "rank must restore the same.")
      .def("step", &PyShardedOptimizer::step, py::arg("params"),
           py::arg("grads"), py::arg("states"),
           "One sharded step: params and grads of every parameter, states "
           "of this rank's pieces. DistributedError when a collective timed "
           "out or failed; ValueError when some rank refused its arguments "
           "(then nothing changed on any rank).")
      .def_property_readonly("last_stats",
                             [](const PyShardedOptimizer &self) {
                               return statsToDict(
                                   self.optimizer->getLastStats());
                             });
  py::class_<PyOptimizer>(m, "CompiledOptimizer",
                          "An optimizer compiled for the host CPU.")
      .def(py::init<const std::string &, const std::string &>(),
           py::arg("source"), py::arg("options") = "",
           "Parses optim-dialect source holding one optim.optimizer and "
           "compiles it (cached by source and options).")
      .def_property_readonly("params", &PyOptimizer::params,
                             "Parameters in step order: name, shape, dtype, "
                             "group, sparse, state_shapes, state_dtypes and "
                             "master (a float32 master copy, the 'master' "
                             "state; docs/Mixed-precision.md).")
      .def_property_readonly("state_names", &PyOptimizer::stateNames)
      .def_property_readonly(
          "num_groups",
          [](const PyOptimizer &self) {
            return self.optimizer->getNumGroups();
          })
      .def_property("global_step", &PyOptimizer::globalStep,
                    &PyOptimizer::setGlobalStep)
      .def_property_readonly(
          "has_step_status",
          [](const PyOptimizer &self) {
            return self.optimizer->hasStepStatus();
          },
          "True if the step clips gradients or scales the loss dynamically.")
      .def("step_status", &PyOptimizer::stepStatus,
           "What the last step found and did: loss_scale (the next step's), "
           "good_steps, found_inf, grad_norm (unscaled), clip_factor. "
           "ValueError without clipping or dynamic loss scaling.")
      .def("set_loss_scale_state", &PyOptimizer::setLossScaleState,
           py::arg("loss_scale"), py::arg("good_steps"),
           "Restores a dynamic loss scale and its count of clean steps.")
      .def("state_init_value", &PyOptimizer::stateInitValue,
           py::arg("param"), py::arg("state"))
      .def("init_states", &PyOptimizer::initStates, py::arg("states"),
           py::arg("params") = py::none(),
           "Fills state arrays (param-major) with their initial values; "
           "with float32 master weights (the 'master' state), `params` "
           "gives the parameters the masters start from (required then).")
      .def("set_hyper_param", &PyOptimizer::setHyperParam, py::arg("group"),
           py::arg("name"), py::arg("value"),
           "Changes a hyper-parameter; never recompiles.")
      .def("get_hyper_param", &PyOptimizer::getHyperParam, py::arg("group"),
           py::arg("name"))
      .def("learning_rates", &PyOptimizer::learningRates,
           "The learning rate of each group at the current global step.")
      .def(
          "bind_numpy",
          [](py::object self, py::sequence params, py::sequence states,
             std::vector<int64_t> gradIndices, int64_t numGrads) {
            PyOptimizer &compiled = self.cast<PyOptimizer &>();
            return std::make_unique<NumpyBoundStep>(
                self, *compiled.optimizer, compiled.stepMutex, params, states,
                std::move(gradIndices), numGrads);
          },
          py::arg("params"), py::arg("states"), py::arg("grad_indices"),
          py::arg("num_grads"),
          "A NumpyBoundStep on these parameter and state arrays (kept "
          "alive); parameter i's gradient is item grad_indices[i] of the "
          "num_grads gradients given to each step.")
      .def("step", &PyOptimizer::step, py::arg("params"), py::arg("grads"),
           py::arg("states"),
           "One step in place on the arrays; increments global_step. "
           "The gradient of a sparse parameter is a tuple (indices, values): "
           "int32 indices of shape (n,), values of shape (n,) + "
           "param.shape[1:]; duplicate indices are summed. Each array has "
           "its parameter's (or state's) dtype in the host's byte order; "
           "bfloat16 as uint16 bits. Runs without the GIL, owning the "
           "arrays; steps of one optimizer from several threads run one "
           "after the other.")
      .def(
          "set_num_threads",
          [](PyOptimizer &self, int numThreads) {
            llvm::Error error = llvm::Error::success();
            {
              ShortLock lock(self.stepMutex);
              error = self.optimizer->setNumThreads(numThreads);
            }
            if (error)
              raise(std::move(error));
          },
          py::arg("num_threads"),
          "OpenMP threads of large steps: 0 (the default) for the options' "
          "num-threads if given, else every core this process may run on; "
          "never more than those cores. Steps under 256Ki elements run on "
          "the calling thread.")
      .def_property_readonly(
          "num_threads",
          [](const PyOptimizer &self) {
            return self.optimizer->getNumThreads();
          },
          "The threads a large step uses now (the setting, resolved).")
      .def_property_readonly(
          "code_origin",
          [](const PyOptimizer &self) {
            return getCodeOriginName(self.optimizer->getCodeOrigin()).str();
          },
          "Where the code came from: 'compiled', 'memory cache' or "
          "'disk cache'.");

  m.def(
      "cache_info",
      [] {
        CacheStats stats = Optimizer::getCacheStats();
        py::dict info;
        info["compilations"] = stats.compilations;
        info["memory_hits"] = stats.memoryHits;
        info["disk_hits"] = stats.diskHits;
        info["disk_rejects"] = stats.diskRejects;
        info["disk_writes"] = stats.diskWrites;
        return info;
      },
      "Counters of this process's compiled-code caches (in memory and on "
      "disk, see docs/Threads-and-caches.md).");

  py::class_<PyStateArena>(
      m, "StateArena",
      "State buffers in memory the runtime owns: one zero-filled block, "
      "every buffer 64-byte aligned.")
      .def(py::init<const std::vector<size_t> &>(), py::arg("sizes"),
           "One buffer of sizes[i] bytes per entry.")
      .def_property_readonly("offsets", &PyStateArena::offsets,
                             "Byte offset of each buffer in buffer().")
      .def_property_readonly(
          "nbytes",
          [](const PyStateArena &self) { return self.arena->getSize(); })
      .def("buffer", &arenaBuffer,
           "A uint8 array over the whole block; it keeps the arena alive.");
  m.attr("STATE_ALIGNMENT") = StateArena::kAlignment;

  py::class_<NumpyBoundStep>(
      m, "NumpyBoundStep",
      "A compiled step bound to NumPy parameters and states "
      "(CompiledOptimizer.bind_numpy).")
      .def("bind_grads", &NumpyBoundStep::bindGrads, py::arg("grads"),
           "Checks and binds the gradients (a tuple or list); False, "
           "binding nothing, when one is not a C-contiguous ndarray of its "
           "parameter's dtype and shape or overlaps its parameter.")
      .def("run", &NumpyBoundStep::run,
           "One step on the bound arrays (after bind_grads).")
      .def("step", &NumpyBoundStep::step, py::arg("grads"),
           "bind_grads and run as one (False, nothing run, where bind_grads "
           "refuses the gradients); safe from several threads: steps of "
           "one optimizer run one at a time.")
      .def("run_compiled_only", &NumpyBoundStep::runCompiledOnly,
           "The compiled call alone on the last run's buffers (measures "
           "host cost).");

  py::class_<TorchPlan>(m, "TorchPlan",
                        "The revalidated fast path of optim_mlir.torch.")
      .def(py::init<py::object, py::object, py::list, py::object>(),
           py::arg("torch"), py::arg("state"), py::arg("groups"),
           py::arg("keep"))
      .def(
          "add_bucket",
          [](TorchPlan &self, py::object compiled, int64_t t0,
             int64_t increment, bool skipOnInf) {
            PyOptimizer &optimizer = compiled.cast<PyOptimizer &>();
            return self.addBucket(compiled, *optimizer.optimizer,
                                  optimizer.stepMutex, t0, increment,
                                  skipOnInf);
          },
          py::arg("compiled"), py::arg("t0"), py::arg("increment"),
          py::arg("skip_on_inf") = false,
          "Adds a bucket; with skip_on_inf (a compiled step with dynamic "
          "loss scaling) a step that finds an inf or NaN advances no step "
          "count.")
      .def("add_param", &TorchPlan::addParam, py::arg("group"),
           py::arg("param"), py::arg("grad"), py::arg("bucket"),
           py::arg("position"), py::arg("inner"), py::arg("watched"),
           py::arg("buffers"), py::arg("step"))
      .def("check", &TorchPlan::check,
           "Revalidates everything the plan was built on; False when "
           "something changed (nothing written).")
      .def("run_bucket", &TorchPlan::runBucket, py::arg("bucket"),
           "Runs a bucket; False when it skipped a step with an inf or NaN.")
      .def("run_bucket_compiled_only", &TorchPlan::runBucketCompiledOnly,
           py::arg("bucket"))
      .def("bucket_step", &TorchPlan::bucketStep, py::arg("bucket"))
      .def_property_readonly("num_buckets", &TorchPlan::numBuckets)
      .def_property_readonly("reason", &TorchPlan::getReason,
                             "Why the last check() failed ('' if it "
                             "passed).");

  // ---- GPU
  py::class_<PyGPUOptimizer>(
      m, "GPUOptimizer",
      "An optimizer compiled for an NVIDIA GPU: its step runs as CUDA "
      "kernels on device buffers given by address (docs/GPU-Python.md).")
      .def_static("compile", &PyGPUOptimizer::compile, py::arg("source"),
                  py::arg("chip") = "", py::arg("options") = "",
                  "Parses optim-dialect source holding one optim.optimizer "
                  "(dense parameters only) and compiles its kernels. chip: "
                  "e.g. 'sm_90'; empty: that of CUDA device 0 (needs the "
                  "driver). options: more optim-lower-to-gpu options. "
                  "RuntimeError on failure. Needs no driver with a chip.")
      .def("load", &PyGPUOptimizer::load, py::arg("device") = 0,
           "Loads the kernels on a device (its primary context) and "
           "allocates the device tables; done by the first step or "
           "init_states (device 0) otherwise. RuntimeError when the driver "
           "or device fails, or when already loaded.")
      .def_property_readonly(
          "is_loaded",
          [](const PyGPUOptimizer &self) { return self.optimizer->isLoaded(); })
      .def_property_readonly(
          "device",
          [](const PyGPUOptimizer &self) {
            return self.optimizer->getDevice();
          },
          "The device loaded on, or -1.")
      .def_property_readonly("chip",
                             [](const PyGPUOptimizer &self) {
                               return self.optimizer->getChip().str();
                             })
      .def_property_readonly("params", &PyGPUOptimizer::params,
                             "Parameters in step order: name, shape, dtype, "
                             "group, sparse.")
      .def_property_readonly("state_names", &PyGPUOptimizer::stateNames)
      .def_property_readonly("num_groups",
                             [](const PyGPUOptimizer &self) {
                               return self.optimizer->getNumGroups();
                             })
      .def_property_readonly("launches", &PyGPUOptimizer::launches,
                             "The kernel launches of one step, in order: "
                             "name, grid, block, arguments, num_params.")
      .def_property_readonly("image", &PyGPUOptimizer::image,
                             "The kernels' image: PTX text (str) or a cubin "
                             "(bytes).")
      .def_property_readonly(
          "num_tables",
          [](const PyGPUOptimizer &self) {
            return self.optimizer->getNumTables();
          },
          "Buffer tables of the step (one per element type in use).")
      .def(
          "num_table_entries",
          [](const PyGPUOptimizer &self, unsigned table) {
            if (table >= self.optimizer->getNumTables())
              throw py::index_error("table index out of range");
            return self.optimizer->getNumTableEntries(table);
          },
          py::arg("table"),
          "Entries (40-byte memref descriptors) of a buffer table: 2 + "
          "states per parameter of its element type.")
      .def_property_readonly(
          "hyper_table_size",
          [](const PyGPUOptimizer &self) {
            return self.optimizer->getHyperTableSize();
          },
          "float64 values in the hyper-parameter table.")
      .def("set_hyper_param", &PyGPUOptimizer::setHyperParam, py::arg("group"),
           py::arg("name"), py::arg("value"),
           "Changes a hyper-parameter; never recompiles. Once loaded, the "
           "value is copied to the device table at once, in order on the "
           "stream of the latest step. ValueError for an unknown name or a "
           "value out of range, RuntimeError when the copy fails.")
      .def("get_hyper_param", &PyGPUOptimizer::getHyperParam, py::arg("group"),
           py::arg("name"))
      .def_property_readonly(
          "has_step_status",
          [](const PyGPUOptimizer &self) {
            return self.optimizer->hasStepStatus();
          })
      .def("step_status", &PyGPUOptimizer::stepStatus,
           "What the last step found and did (see Optimizer.step_status); "
           "once loaded, copied back from the device after the optimizer's "
           "stream.")
      .def("set_loss_scale_state", &PyGPUOptimizer::setLossScaleState,
           py::arg("loss_scale"), py::arg("good_steps"))
      .def("global_step", &PyGPUOptimizer::globalStep,
           "The global step. Once loaded it lives on the device, where the "
           "step's last kernel increments it: reading it copies it back and "
           "waits for the optimizer's stream.")
      .def("set_global_step", &PyGPUOptimizer::setGlobalStep, py::arg("step"),
           "Sets the global step (once loaded, a copy enqueued on the "
           "optimizer's stream).")
      .def("state_init_value", &PyGPUOptimizer::stateInitValue,
           py::arg("param"), py::arg("state"),
           "The initial value of a state (NaN when it starts from a "
           "scheduled learning rate).")
      .def("init_states", &PyGPUOptimizer::initStates, py::arg("states"),
           py::arg("stream") = 0, py::arg("params") = py::none(),
           "Fills state buffers (device addresses, param-major) with their "
           "initial values, enqueued on the stream; loads device 0 first if "
           "needed. With master weights, params= (the parameters' device "
           "addresses) fills each master from its parameter, and a state "
           "of no elements may be 0. ValueError for a wrong count or a null "
           "or misaligned address (before anything is enqueued).")
      .def("step", &PyGPUOptimizer::step, py::arg("params"), py::arg("grads"),
           py::arg("states"), py::arg("stream") = 0,
           "Enqueues one step on the stream (a CUstream address; 0: the "
           "legacy default stream) on device addresses in step order "
           "(states param-major), each 16-byte aligned; does not "
           "synchronize. ValueError for a wrong count or a null or "
           "misaligned address (nothing enqueued), RuntimeError when the "
           "driver fails.");

  py::class_<PyDeviceBuffer>(
      m, "DeviceBuffer",
      "Device memory in the primary context of a CUDA device, freed with "
      "the object.")
      .def(py::init<size_t, int>(), py::arg("nbytes"), py::arg("device") = 0,
           "Allocates nbytes (0: the null address). RuntimeError without a "
           "driver or device.")
      .def_property_readonly("ptr", &PyDeviceBuffer::pointer,
                             "The device address.")
      .def_property_readonly("nbytes", &PyDeviceBuffer::size)
      .def_property_readonly("device", &PyDeviceBuffer::getDevice)
      .def("copy_from_host", &PyDeviceBuffer::copyFromHost, py::arg("array"),
           py::arg("stream") = 0, py::arg("offset") = 0,
           "Enqueues a copy of a C-contiguous array's bytes to the buffer at "
           "offset; keep the array alive until the stream is synchronized.")
      .def("copy_to_host", &PyDeviceBuffer::copyToHost, py::arg("array"),
           py::arg("stream") = 0, py::arg("offset") = 0,
           "Enqueues a copy of the buffer's bytes at offset into a writeable "
           "C-contiguous array (its nbytes); the array holds them once the "
           "stream is synchronized.")
      .def("memset", &PyDeviceBuffer::memset, py::arg("value"),
           py::arg("stream") = 0, "Sets every byte of the buffer.")
      .def("release", &PyDeviceBuffer::release,
           "Frees the memory now; the buffer is then empty.");

  m.def(
      "cuda_driver_available",
      []() -> py::tuple {
        auto driver = cuda::Driver::get();
        if (!driver)
          return py::make_tuple(false, llvm::toString(driver.takeError()));
        int version = driver->getVersion();
        int count = driver->getDeviceCount();
        std::string message = "CUDA driver " + std::to_string(version / 1000) +
                              "." + std::to_string(version % 1000 / 10) + " (" +
                              driver->getLoadedPath().str() + "), " +
                              std::to_string(count) +
                              (count == 1 ? " device" : " devices");
        return py::make_tuple(true, message);
      },
      "(True, a description) when the CUDA driver loads, initialises and "
      "reports a device; else (False, why). The driver is loaded once per "
      "process: $OPTIM_CUDA_DRIVER if set, else libcuda.so.1.");
  m.def(
      "cuda_device_count", [] { return getDriver().getDeviceCount(); },
      "CUDA devices (RuntimeError without a driver).");
  m.def(
      "cuda_device_capability",
      [](int device) {
        cuda::Driver &driver = getDriver();
        if (device < 0)
          throw py::value_error(
              "device must be a CUDA device index >= 0, got " +
              std::to_string(device));
        auto capability = driver.getComputeCapability(device);
        if (!capability)
          raise(capability.takeError(), PyExc_RuntimeError);
        return py::make_tuple(capability->major, capability->minor);
      },
      py::arg("device") = 0, "(major, minor) of a device.");
  m.def(
      "cuda_synchronize",
      [](py::handle stream, int device) {
        cuda::Driver &driver = getDriver();
        cuda::ContextHandle context = getContext(driver, device);
        void *cuStream = toStream(stream);
        llvm::Error error = llvm::Error::success();
        {
          py::gil_scoped_release release;
          error = driver.synchronize(context,
                                     static_cast<cuda::StreamHandle>(cuStream));
        }
        if (error)
          raise(std::move(error), PyExc_RuntimeError);
      },
      py::arg("stream") = 0, py::arg("device") = 0,
      "Waits for the work enqueued on a stream (0: the legacy default "
      "stream) of a device.");
}
