// Links an ahead-of-time compiled, grouped SGD optimizer into a C++17
// program. It allocates every buffer from the header's parameter table
// (dtype, shape, group), changes a group's learning rate between steps
// through the named hyper-parameter struct, and checks each element
// against `param -= lr * (grad + weight_decay * param)` in double.
#include OPTIM_HEADER

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

int main() {
  constexpr int P = GROUPED_SGD_NUM_PARAMS;
  static_assert(GROUPED_SGD_NUM_GROUPS == 2, "two groups");
  std::vector<std::vector<unsigned char>> params(P), grads(P), states(P);
  std::vector<std::vector<double>> reference(P);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  auto get = [](const std::vector<unsigned char> &bytes, int dtypeSize,
                int64_t i) {
    if (dtypeSize == 8) {
      double v;
      std::memcpy(&v, bytes.data() + 8 * i, 8);
      return v;
    }
    float v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return double(v);
  };
  auto set = [](std::vector<unsigned char> &bytes, int dtypeSize, int64_t i,
                double v) {
    if (dtypeSize == 8) {
      std::memcpy(bytes.data() + 8 * i, &v, 8);
    } else {
      float f = float(v);
      std::memcpy(bytes.data() + 4 * i, &f, 4);
    }
  };
  for (int p = 0; p < P; ++p) {
    const grouped_sgd_param_t &info = grouped_sgd_params[p];
    int64_t numel = 1;
    for (int d = 0; d < info.rank; ++d)
      numel *= info.shape[d];
    if (numel != info.numel) {
      std::printf("shape of %s does not give numel\n", info.name);
      return 1;
    }
    params[p].resize(numel * info.element_size);
    grads[p].resize(numel * info.element_size);
    states[p].resize(info.state_numel[0] * info.element_size);
    for (int64_t i = 0; i < numel; ++i) {
      set(params[p], info.element_size, i, uniform(rng));
      reference[p].push_back(get(params[p], info.element_size, i));
    }
  }
  grouped_sgd_hyper_t hyper = grouped_sgd_initial_hyper;
  double maxError = 0.0;
  for (int64_t step = 0; step < 6; ++step) {
    if (step == 3)
      hyper.groups[1].learning_rate = 0.2; // run-time data, no recompile
    std::vector<void *> p(P), g(P), s(P);
    for (int i = 0; i < P; ++i) {
      const grouped_sgd_param_t &info = grouped_sgd_params[i];
      for (int64_t e = 0; e < info.numel; ++e)
        set(grads[i], info.element_size, e, uniform(rng));
      p[i] = params[i].data();
      g[i] = grads[i].data();
      s[i] = states[i].data();
      const grouped_sgd_group_hyper_t &group = hyper.groups[info.group];
      for (int64_t e = 0; e < info.numel; ++e) {
        double grad = get(grads[i], info.element_size, e) / hyper.loss_scale;
        if (info.decay)
          grad += group.weight_decay * reference[i][e];
        reference[i][e] -= group.learning_rate * grad;
      }
    }
    grouped_sgd_step(p.data(), g.data(), s.data(), &hyper, step);
  }
  for (int i = 0; i < P; ++i) {
    const grouped_sgd_param_t &info = grouped_sgd_params[i];
    for (int64_t e = 0; e < info.numel; ++e) {
      double error = std::fabs(get(params[i], info.element_size, e) -
                               reference[i][e]);
      maxError = std::fmax(maxError, error);
    }
    std::printf("param %s %s group %d\n", info.name, info.dtype, info.group);
  }
  double lr[GROUPED_SGD_NUM_GROUPS];
  grouped_sgd_learning_rates(&hyper, 6, lr);
  std::printf("learning rates %g %g\n", lr[0], lr[1]);
  std::printf("max error %s\n", maxError < 1e-6 ? "below 1e-6" : "TOO LARGE");
  return maxError < 1e-6 ? 0 : 1;
}
