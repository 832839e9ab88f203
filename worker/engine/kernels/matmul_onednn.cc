#include "worker/engine/kernels/matmul_onednn.h"

#include <cstring>
#include <unordered_map>

#include "worker/engine/kernels/conv_onednn_runtime.h"

namespace tessera::engine {
namespace {

using dnnl::memory;

constexpr int kScratchpadSlot = 0;

memory::dims Concat(const Shape& batch, int64_t rows, int64_t cols) {
  memory::dims d(batch.begin(), batch.end());
  d.push_back(rows);
  d.push_back(cols);
  return d;
}

}  // namespace

bool OneDnnMatMul::Supports(const MatMulShape& shape) { return shape.batch.size() + 2 <= DNNL_MAX_NDIMS; }

absl::StatusOr<std::unique_ptr<OneDnnMatMul>> OneDnnMatMul::Create(const Config& config, const float* constant_b) {
  auto mm = std::unique_ptr<OneDnnMatMul>(new OneDnnMatMul());
  mm->config_ = config;
  const MatMulShape& s = config.shape;
  try {
    memory::dims a_dims, b_dims, y_dims, bias_dims;
    if (s.b_shared) {  // one big [batch * m, k] x [k, n] product
      a_dims = {s.batch_count * s.m, s.k};
      b_dims = {s.k, s.n};
      y_dims = {s.batch_count * s.m, s.n};
      bias_dims = {1, s.n};
    } else {
      a_dims = Concat(s.a_batch, s.m, s.k);
      b_dims = Concat(s.b_batch, s.k, s.n);
      y_dims = Concat(s.batch, s.m, s.n);
      bias_dims = Concat(Shape(s.batch.size(), 1), 1, s.n);
    }
    mm->user_a_md_ = PlainDesc(a_dims);
    mm->user_b_md_ = PlainDesc(b_dims);
    mm->user_y_md_ = PlainDesc(y_dims);
    mm->bias_md_ = PlainDesc(bias_dims);
    const memory::desc b_md =
        constant_b != nullptr ? memory::desc(b_dims, memory::data_type::f32, memory::format_tag::any) : mm->user_b_md_;
    dnnl::post_ops ops;
    config.activation.AppendTo(ops);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto desc = config.has_bias ? dnnl::matmul::desc(mm->user_a_md_, b_md, mm->bias_md_, mm->user_y_md_)
                                      : dnnl::matmul::desc(mm->user_a_md_, b_md, mm->user_y_md_);
    const dnnl::engine& engine = OneDnnCpuEngine();
    mm->pd_ = dnnl::matmul::primitive_desc(desc, attr, engine);
    mm->primitive_ = dnnl::matmul(mm->pd_);
    if (constant_b != nullptr) {
      const memory::desc packed_md = mm->pd_.weights_desc();
      mm->packed_b_storage_ = std::make_unique<float[]>(packed_md.get_size() / sizeof(float) + 16);
      mm->packed_b_ = OneDnnMemory(packed_md, mm->packed_b_storage_.get());
      if (packed_md != mm->user_b_md_) {
        dnnl::stream& stream = ThreadStream();
        dnnl::memory user = OneDnnMemory(mm->user_b_md_, constant_b);
        dnnl::reorder(user, mm->packed_b_).execute(stream, user, mm->packed_b_);
        stream.wait();
      } else {
        std::memcpy(mm->packed_b_storage_.get(), constant_b, packed_md.get_size());
      }
    }
  } catch (const dnnl::error& e) {
    return OneDnnErrorToStatus("MatMul", e);
  }
  return mm;
}

absl::Status OneDnnMatMul::Run(const float* a, const float* b, const float* bias, float* y) const {
  try {
    dnnl::stream& stream = ThreadStream();
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = OneDnnMemory(user_a_md_, a);
    args[DNNL_ARG_WEIGHTS] = packed_b_ ? packed_b_ : OneDnnMemory(user_b_md_, b);
    args[DNNL_ARG_DST] = OneDnnMemory(user_y_md_, y);
    if (config_.has_bias) args[DNNL_ARG_BIAS] = OneDnnMemory(bias_md_, bias);
    const size_t scratch_bytes = pd_.scratchpad_desc().get_size();
    if (scratch_bytes > 0) {
      args[DNNL_ARG_SCRATCHPAD] = OneDnnMemory(pd_.scratchpad_desc(), ThreadScratch(kScratchpadSlot, scratch_bytes));
    }
    primitive_.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    return OneDnnErrorToStatus("MatMul", e);
  }
  return absl::OkStatus();
}

}  // namespace tessera::engine
