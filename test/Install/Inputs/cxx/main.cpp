// A C++17 program that uses the installed runtime's C API with RAII owners:
// an SGD optimizer over two parameters of different shapes, one step,
// checked against the values worked out by hand.
#include "optim/Runtime/optim-c.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {
struct Destroy {
  void operator()(OptimOptimizer *opt) const { optimDestroy(opt); }
};
using Optimizer = std::unique_ptr<OptimOptimizer, Destroy>;

std::string takeError(char *error) {
  std::string message = error ? error : "(no message)";
  optimFreeError(error);
  return message;
}
} // namespace

int main() {
  const std::string source =
      "optim.optimizer @sgd rule #optim.rule<sgd> learning_rate 0.5 {\n"
      "  optim.param \"a\" : tensor<2x3xf32>\n"
      "  optim.param \"b\" : tensor<4xf32>\n"
      "}\n";
  char *error = nullptr;
  Optimizer opt(optimCompile(source.data(), source.size(), nullptr, &error));
  if (!opt) {
    std::fprintf(stderr, "compile failed: %s\n", takeError(error).c_str());
    return 1;
  }
  const int64_t numParams = optimNumParams(opt.get());
  const int64_t numStates = optimNumStates(opt.get());
  std::vector<std::vector<float>> params, grads, states;
  for (int64_t p = 0; p < numParams; ++p) {
    int64_t n = optimParamNumElements(opt.get(), p);
    std::vector<float> value(n), grad(n);
    for (int64_t i = 0; i < n; ++i) {
      value[i] = 0.25f * float(i) - 1.0f;
      grad[i] = float(p + 1) * (i % 2 ? -1.0f : 0.5f);
    }
    params.push_back(value);
    grads.push_back(grad);
    for (int64_t s = 0; s < numStates; ++s)
      states.emplace_back(optimStateNumElements(opt.get(), p, s));
  }
  std::vector<void *> paramPtrs, gradPtrs, statePtrs;
  for (auto &v : params) paramPtrs.push_back(v.data());
  for (auto &v : grads) gradPtrs.push_back(v.data());
  for (auto &v : states) statePtrs.push_back(v.data());
  if (optimInitStates(opt.get(), statePtrs.data(), &error) ||
      optimStep(opt.get(), paramPtrs.data(), gradPtrs.data(),
                statePtrs.data(), &error)) {
    std::fprintf(stderr, "step failed: %s\n", takeError(error).c_str());
    return 1;
  }
  // Plain SGD (momentum 0): w -= 0.5 * g, with w = 0.25 i - 1 and
  // g = (p + 1) * (0.5 or -1).
  int bad = 0;
  for (int64_t p = 0; p < numParams; ++p)
    for (size_t i = 0; i < params[p].size(); ++i) {
      float w0 = 0.25f * float(i) - 1.0f;
      float g = float(p + 1) * (i % 2 ? -1.0f : 0.5f);
      if (std::fabs(params[p][i] - (w0 - 0.5f * g)) > 1e-6f)
        bad = 1;
    }
  std::printf("params %lld (%s, %s) step %lld a[0..2] = %.3f %.3f %.3f "
              "b[0..1] = %.3f %.3f\n",
              (long long)numParams, optimParamName(opt.get(), 0),
              optimParamName(opt.get(), 1),
              (long long)optimGlobalStep(opt.get()), params[0][0],
              params[0][1], params[0][2], params[1][0], params[1][1]);
  return bad;
}
