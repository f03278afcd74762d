//===- MixedPrecisionLayout.cpp - buffers of every dtype ------------------===//

#include "MixedPrecisionLayout.h"

#include "llvm/ADT/APFloat.h"

#include <algorithm>

using namespace optim::runtime;
using namespace optim::runtime::detail;

BufferTableLayout BufferTableLayout::get(const mlir::optim::StepABI &abi) {
  BufferTableLayout layout;
  layout.tableSizes.assign(abi.getTableSizes().begin(),
                           abi.getTableSizes().end());
  layout.contents.resize(layout.tableSizes.size());
  for (auto [t, size] : llvm::enumerate(layout.tableSizes))
    layout.contents[t].resize(size);
  for (unsigned p = 0, e = abi.getParams().size(); p < e; ++p) {
    std::vector<std::pair<int, size_t>> entries;
    for (auto [b, entry] : llvm::enumerate(abi.getTableEntries(p))) {
      if (!entry) {
        entries.emplace_back(-1, 0);
        continue;
      }
      entries.emplace_back(int(entry->table), size_t(entry->entry));
      layout.contents[entry->table][entry->entry] = {p, unsigned(b)};
    }
    layout.entries.push_back(std::move(entries));
  }
  return layout;
}

static const llvm::fltSemantics &getHalfSemantics(DType dtype) {
  return dtype == DType::F16 ? llvm::APFloat::IEEEhalf()
                             : llvm::APFloat::BFloat();
}

uint16_t optim::runtime::detail::toHalfBits(double value, DType dtype) {
  llvm::APFloat v(value);
  bool losesInfo;
  v.convert(getHalfSemantics(dtype), llvm::APFloat::rmNearestTiesToEven,
            &losesInfo);
  return static_cast<uint16_t>(v.bitcastToAPInt().getZExtValue());
}

void optim::runtime::detail::fillBuffer(void *data, int64_t count,
                                        DType dtype, double value) {
  switch (dtype) {
  case DType::F32:
    std::fill_n(static_cast<float *>(data), count,
                static_cast<float>(value));
    return;
  case DType::F64:
    std::fill_n(static_cast<double *>(data), count, value);
    return;
  case DType::F16:
  case DType::BF16:
    std::fill_n(static_cast<uint16_t *>(data), count,
                toHalfBits(value, dtype));
    return;
  }
}

double optim::runtime::detail::readElement(const void *data, int64_t i,
                                           DType dtype) {
  switch (dtype) {
  case DType::F32:
    return static_cast<const float *>(data)[i];
  case DType::F64:
    return static_cast<const double *>(data)[i];
  case DType::F16:
  case DType::BF16: {
    uint16_t bits = static_cast<const uint16_t *>(data)[i];
    llvm::APFloat value(getHalfSemantics(dtype), llvm::APInt(16, bits));
    return value.convertToDouble();
  }
  }
  return 0.0;
}

void optim::runtime::detail::convertToFloat32(const void *source,
                                              DType dtype, int64_t count,
                                              float *destination) {
  for (int64_t i = 0; i < count; ++i)
    destination[i] = static_cast<float>(readElement(source, i, dtype));
}
