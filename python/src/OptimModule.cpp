//===- OptimModule.cpp - Python bindings of the optim-mlir runtime --------===//
//
// `optim_mlir._optim`: a thin layer over the C++ runtime API. NumPy arrays
// are passed in place (no copies); runtime errors become Python exceptions.
//
//===----------------------------------------------------------------------===//

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
  } else if (!array.dtype().is(py::dtype(dtypeName(info.dtype)))) {
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
      .def("step", &PyOptimizer::step, py::arg("params"), py::arg("grads"),
           py::arg("states"),
           "One step in place on the arrays; increments global_step. "
           "The gradient of a sparse parameter is a tuple (indices, values): "
           "int32 indices of shape (n,), values of shape (n,) + "
           "param.shape[1:]; duplicate indices are summed.");
}
