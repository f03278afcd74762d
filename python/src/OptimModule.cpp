//===- OptimModule.cpp - Python bindings of the optim-mlir runtime --------===//
//
// `optim_mlir._optim`: a thin layer over the C++ runtime API. NumPy arrays
// are passed in place (no copies); runtime errors become Python exceptions.
//
//===----------------------------------------------------------------------===//

#include "optim/Runtime/BoundStep.h"
#include "optim/Runtime/Runtime.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace optim::runtime;

namespace {

/// Raises a Python exception carrying `error`'s message.
[[noreturn]] void raise(llvm::Error error, PyObject *type = PyExc_ValueError) {
  std::string message = llvm::toString(std::move(error));
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
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

/// Checks that `array` can be read (and, if `writable`, written) in place as
/// parameter `info`'s data, and returns its data pointer.
void *checkBuffer(py::handle handle, const ParamInfo &info, const char *what,
                  bool writable) {
  if (!py::isinstance<py::array>(handle))
    throw py::type_error(std::string(what) + " of '" + info.name +
                         "' must be a numpy.ndarray");
  auto array = py::reinterpret_borrow<py::array>(handle);
  if (info.dtype == DType::BF16) {
    if (array.itemsize() != 2)
      throw py::type_error(std::string(what) + " of '" + info.name +
                           "' must hold 2-byte bfloat16 values");
  } else if (array.dtype().num() != numpyTypeNum(info.dtype)) {
    throw py::type_error(std::string(what) + " of '" + info.name +
                         "' must have dtype " + dtypeName(info.dtype) +
                         ", got " + py::str(array.dtype()).cast<std::string>());
  }
  std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
  if (shape != info.shape) {
    std::string expected = "(", got = "(";
    for (int64_t d : info.shape)
      expected += std::to_string(d) + ",";
    for (int64_t d : shape)
      got += std::to_string(d) + ",";
    throw py::value_error(std::string(what) + " of '" + info.name +
                          "' must have shape " + expected + ") , got " + got +
                          ")");
  }
  if (!(array.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " of '" + info.name +
                          "' must be C-contiguous");
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
  if (!indices.dtype().is(py::dtype("int32")))
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
  if (info.dtype == DType::BF16) {
    if (values.itemsize() != 2)
      throw py::type_error("values of the gradient of '" + info.name +
                           "' must hold 2-byte bfloat16 values");
  } else if (!values.dtype().is(py::dtype(dtypeName(info.dtype)))) {
    throw py::type_error("values of the gradient of '" + info.name +
                         "' must have dtype " + dtypeName(info.dtype) +
                         ", got " + py::str(values.dtype()).cast<std::string>());
  }
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
  grad.indices = static_cast<const int32_t *>(indices.data());
  grad.rows = values.data();
  grad.count = count;
  keep.push_back(indices);
  keep.push_back(values);
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

  py::list params() const {
    py::list result;
    for (const ParamInfo &info : optimizer->getParams()) {
      py::dict entry;
      entry["name"] = info.name;
      entry["shape"] = py::tuple(py::cast(info.shape));
      entry["dtype"] = dtypeName(info.dtype);
      entry["group"] = info.group;
      entry["sparse"] = info.sparse;
      result.append(entry);
    }
    return result;
  }

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
    std::vector<void *> p, g, s;
    // Sparse gradients: pointed to by g, so never reallocated.
    std::vector<SparseGrad> sparse(infos.size());
    std::vector<py::array> keep;
    for (size_t i = 0; i < infos.size(); ++i) {
      p.push_back(checkBuffer(params[i], infos[i], "parameter", true));
      if (infos[i].sparse) {
        checkSparseGrad(grads[i], infos[i], sparse[i], keep);
        g.push_back(&sparse[i]);
      } else {
        g.push_back(checkBuffer(grads[i], infos[i], "gradient", false));
      }
      for (size_t j = 0; j < numStates; ++j)
        s.push_back(checkBuffer(states[i * numStates + j], infos[i],
                                "state", true));
    }
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release release;
      error = optimizer->step(p, g, s);
    }
    if (error)
      raise(std::move(error), PyExc_RuntimeError);
  }

  void initStates(py::sequence states) {
    auto infos = optimizer->getParams();
    size_t numStates = optimizer->getStateNames().size();
    if (py::len(states) != infos.size() * numStates)
      throw py::value_error("expected " +
                            std::to_string(infos.size() * numStates) +
                            " state arrays, got " +
                            std::to_string(py::len(states)));
    std::vector<void *> s;
    for (size_t i = 0; i < infos.size(); ++i)
      for (size_t j = 0; j < numStates; ++j)
        s.push_back(checkBuffer(states[i * numStates + j], infos[i], "state",
                                true));
    if (llvm::Error error = optimizer->initStates(s))
      raise(std::move(error));
  }

  void setHyperParam(unsigned group, const std::string &name, double value) {
    if (llvm::Error error = optimizer->setHyperParam(group, name, value))
      raise(std::move(error));
  }

  double getHyperParam(unsigned group, const std::string &name) const {
    auto value = optimizer->getHyperParam(group, name);
    if (!value)
      raise(value.takeError());
    return *value;
  }

  std::vector<float> learningRates() const {
    auto rates = optimizer->getLearningRates();
    if (!rates)
      raise(rates.takeError(), PyExc_RuntimeError);
    return *rates;
  }

  std::unique_ptr<Optimizer> optimizer;
};

//===----------------------------------------------------------------------===//
// Bound steps: flat host cost per step
//===----------------------------------------------------------------------===//

/// Runs `bound`'s step with the GIL released; errors become RuntimeError.
void runBound(BoundStep &bound) {
  llvm::Error error = llvm::Error::success();
  {
    py::gil_scoped_release release;
    error = bound.step();
  }
  if (error)
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
  NumpyBoundStep(py::object owner, Optimizer &optimizer, py::sequence params,
                 py::sequence states, std::vector<int64_t> gradIndices,
                 int64_t numGrads)
      : owner(std::move(owner)), bound(optimizer),
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
      void *data = checkBuffer(params[i], infos[i], "parameter", true);
      bound.setParam(i, data);
      keep.push_back(params[i]);
      for (size_t s = 0; s < numStates; ++s) {
        py::handle state = states[i * numStates + s];
        bound.setState(i, s, checkBuffer(state, infos[i], "state", true));
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
  /// the checked path, which raises or copies.
  bool bindGrads(py::handle grads) {
    PyObject *seq = grads.ptr();
    bool isTuple = PyTuple_Check(seq);
    if (!isTuple && !PyList_Check(seq))
      return false;
    Py_ssize_t length = isTuple ? PyTuple_GET_SIZE(seq) : PyList_GET_SIZE(seq);
    if (length != numGrads)
      return false;
    for (size_t i = 0; i < expected.size(); ++i) {
      int64_t index = gradIndices[i];
      PyObject *item = isTuple ? PyTuple_GET_ITEM(seq, index)
                               : PyList_GET_ITEM(seq, index);
      const auto *array = asArray(item);
      const GradSpec &want = expected[i];
      if (!array || py::detail::array_descriptor_proxy(array->descr)
                            ->type_num != want.typeNum)
        return false;
      if (array->nd != static_cast<int>(want.shape.size()) ||
          !(array->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_))
        return false;
      for (int d = 0; d < array->nd; ++d)
        if (array->dimensions[d] != want.shape[d])
          return false;
      // The compiled step reads the gradient while writing the parameter.
      if (array->data < want.param + want.bytes &&
          want.param < array->data + want.bytes)
        return false;
      bound.setGrad(i, array->data);
    }
    // The gradients' owners outlive the step: the caller holds `grads`.
    return true;
  }

  void run() { runBound(bound); }

  /// The compiled call alone on the last run's tables (host-cost
  /// benchmarks; see BoundStep::stepCompiledOnly).
  void runCompiledOnly() {
    if (llvm::Error error = bound.stepCompiledOnly())
      raise(std::move(error), PyExc_RuntimeError);
  }

private:
  struct GradSpec {
    int typeNum;
    std::vector<int64_t> shape;
    char *param;
    int64_t bytes;
  };
  py::object owner; // the CompiledOptimizer: keeps the Optimizer alive
  BoundStep bound;
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
  size_t addBucket(py::object compiled, Optimizer &optimizer, int64_t t0,
                   int64_t increment) {
    buckets.push_back(std::make_unique<Bucket>(std::move(compiled), optimizer,
                                               t0, increment));
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
      if (matches(grad.ptr(), entry)) {
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
  /// tensors and its count grow by the bucket's increment.
  void runBucket(size_t b) {
    Bucket &bucket = *buckets.at(b);
    bucket.bound.getOptimizer().setGlobalStep(bucket.t0);
    runBound(bucket.bound);
    if (bucket.increment == 0)
      return;
    for (Entry &entry : entries)
      if (entry.bucket == int64_t(b) && entry.stepData)
        *entry.stepData += static_cast<float>(bucket.increment);
    bucket.t0 += bucket.increment;
  }

  /// The compiled call alone on the tables of bucket `b`'s last run
  /// (measures host cost; see BoundStep::stepCompiledOnly).
  void runBucketCompiledOnly(size_t b) {
    if (llvm::Error error = buckets.at(b)->bound.stepCompiledOnly())
      raise(std::move(error), PyExc_RuntimeError);
  }

  int64_t bucketStep(size_t b) const { return buckets.at(b)->t0; }
  size_t numBuckets() const { return buckets.size(); }
  const std::string &getReason() const { return reason; }

private:
  struct Bucket {
    Bucket(py::object compiled, Optimizer &optimizer, int64_t t0,
           int64_t increment)
        : compiled(std::move(compiled)), bound(optimizer), t0(t0),
          increment(increment) {}
    py::object compiled; // keeps the Optimizer alive
    BoundStep bound;
    int64_t t0;
    int64_t increment;
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
    int64_t bucket = -1;
    size_t position = 0;
    void *paramData = nullptr;
    void *gradData = nullptr;
    float *stepData = nullptr;
    std::vector<Watched> watched;
    std::vector<py::object> keep;
  };

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

} // namespace

PYBIND11_MODULE(_optim, m) {
  m.doc() = "Compiled optimizer steps (the optim-mlir runtime).";
  py::class_<PyOptimizer>(m, "CompiledOptimizer",
                          "An optimizer compiled for the host CPU.")
      .def(py::init<const std::string &, const std::string &>(),
           py::arg("source"), py::arg("options") = "",
           "Parses optim-dialect source holding one optim.optimizer and "
           "compiles it (cached by source and options).")
      .def_property_readonly("params", &PyOptimizer::params,
                             "Parameters in step order: name, shape, dtype, "
                             "group, sparse.")
      .def_property_readonly("state_names", &PyOptimizer::stateNames)
      .def_property_readonly(
          "num_groups",
          [](const PyOptimizer &self) {
            return self.optimizer->getNumGroups();
          })
      .def_property(
          "global_step",
          [](const PyOptimizer &self) {
            return self.optimizer->getGlobalStep();
          },
          [](PyOptimizer &self, int64_t step) {
            if (step < 0)
              throw py::value_error("global_step must be non-negative");
            self.optimizer->setGlobalStep(step);
          })
      .def("state_init_value", &PyOptimizer::stateInitValue,
           py::arg("param"), py::arg("state"))
      .def("init_states", &PyOptimizer::initStates, py::arg("states"),
           "Fills state arrays (param-major) with their initial values.")
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
            Optimizer &optimizer = *self.cast<PyOptimizer &>().optimizer;
            return std::make_unique<NumpyBoundStep>(
                self, optimizer, params, states, std::move(gradIndices),
                numGrads);
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
           "param.shape[1:]; duplicate indices are summed.")
      .def(
          "set_num_threads",
          [](PyOptimizer &self, int numThreads) {
            if (llvm::Error error = self.optimizer->setNumThreads(numThreads))
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
             int64_t increment) {
            Optimizer &optimizer = *compiled.cast<PyOptimizer &>().optimizer;
            return self.addBucket(compiled, optimizer, t0, increment);
          },
          py::arg("compiled"), py::arg("t0"), py::arg("increment"))
      .def("add_param", &TorchPlan::addParam, py::arg("group"),
           py::arg("param"), py::arg("grad"), py::arg("bucket"),
           py::arg("position"), py::arg("inner"), py::arg("watched"),
           py::arg("buffers"), py::arg("step"))
      .def("check", &TorchPlan::check,
           "Revalidates everything the plan was built on; False when "
           "something changed (nothing written).")
      .def("run_bucket", &TorchPlan::runBucket, py::arg("bucket"))
      .def("run_bucket_compiled_only", &TorchPlan::runBucketCompiledOnly,
           py::arg("bucket"))
      .def("bucket_step", &TorchPlan::bucketStep, py::arg("bucket"))
      .def_property_readonly("num_buckets", &TorchPlan::numBuckets)
      .def_property_readonly("reason", &TorchPlan::getReason,
                             "Why the last check() failed ('' if it "
                             "passed).");
}
