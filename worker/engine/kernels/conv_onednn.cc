#include "worker/engine/kernels/conv_onednn.h"

#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "worker/engine/kernels/conv_onednn_runtime.h"

namespace tessera::engine {
namespace {

using dnnl::memory;

// Scratch slots of ThreadScratch used here.
constexpr int kScratchpadSlot = 0;
constexpr int kSrcSlot = 1;
constexpr int kDstSlot = 2;
constexpr int kWeightsSlot = 3;

memory::dims Dims(const std::vector<int64_t>& v) { return memory::dims(v.begin(), v.end()); }

memory::format_tag AnyTag() { return memory::format_tag::any; }

}  // namespace

absl::StatusOr<std::unique_ptr<OneDnnConvolution>> OneDnnConvolution::Create(const Config& config,
                                                                               const float* constant_weights,
                                                                               const float* constant_bias) {
  auto conv = std::unique_ptr<OneDnnConvolution>(new OneDnnConvolution());
  conv->config_ = config;
  const ConvGeometry& g = config.geometry;
  try {
    memory::dims src_dims = {g.batch, g.in_channels};
    src_dims.insert(src_dims.end(), g.in_spatial.begin(), g.in_spatial.end());
    memory::dims dst_dims = {g.batch, g.out_channels};
    dst_dims.insert(dst_dims.end(), g.out_spatial.begin(), g.out_spatial.end());
    // Weights: [OC, IC/g, k...] or grouped [g, OC/g, IC/g, k...]; both plain.
    memory::dims w_dims;
    if (g.group > 1) w_dims.push_back(g.group);
    w_dims.push_back(g.out_channels / g.group);
    w_dims.push_back(g.in_channels / g.group);
    w_dims.insert(w_dims.end(), g.kernel.begin(), g.kernel.end());
    const memory::data_type f32 = memory::data_type::f32;
    if ((config.channels_last || config.nchw8c) && g.spatial_rank != 2) {
      return absl::InvalidArgumentError("Conv: NHWC / NCHW8c activations need a 2-D convolution");
    }
    if (config.nchw8c && (g.in_channels % 8 != 0 || g.out_channels % 8 != 0)) {
      return absl::InvalidArgumentError(absl::StrCat("Conv: NCHW8c activations need channel counts that are "
                                                     "multiples of 8, got ", g.in_channels, " -> ",
                                                     g.out_channels));
    }
    const memory::format_tag nhwc = memory::format_tag::nhwc;
    const memory::format_tag nchw8c = memory::format_tag::nChw8c;
    if (config.nchw8c) {
      conv->user_src_md_ = memory::desc(src_dims, f32, nchw8c);
      conv->user_dst_md_ = memory::desc(dst_dims, f32, nchw8c);
    } else {
      conv->user_src_md_ = config.channels_last ? memory::desc(src_dims, f32, nhwc) : PlainDesc(src_dims);
      conv->user_dst_md_ = config.channels_last ? memory::desc(dst_dims, f32, nhwc) : PlainDesc(dst_dims);
    }
    conv->user_weights_md_ = PlainDesc(w_dims);
    conv->bias_md_ = PlainDesc({g.out_channels});

    memory::dims dilations, pads_l = Dims(g.pads_begin), pads_r = Dims(g.pads_end);
    for (int64_t d : g.dilations) dilations.push_back(d - 1);
    const bool let_onednn_choose = config.blocked_activations && !config.nchw8c;
    const memory::desc src_md = let_onednn_choose ? memory::desc(src_dims, f32, AnyTag()) : conv->user_src_md_;
    const memory::desc dst_md = let_onednn_choose ? memory::desc(dst_dims, f32, AnyTag()) : conv->user_dst_md_;
    const memory::desc w_md(w_dims, f32, AnyTag());

    dnnl::post_ops ops;
    if (config.has_residual) ops.append_sum(1.0f);
    config.activation.AppendTo(ops);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

    const auto desc = config.has_bias
                          ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                            dnnl::algorithm::convolution_direct, src_md, w_md,
                                                            conv->bias_md_, dst_md, Dims(g.strides), dilations,
                                                            pads_l, pads_r)
                          : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                            dnnl::algorithm::convolution_direct, src_md, w_md,
                                                            dst_md, Dims(g.strides), dilations, pads_l, pads_r);
    const dnnl::engine& engine = OneDnnCpuEngine();
    conv->pd_ = dnnl::convolution_forward::primitive_desc(desc, attr, engine);
    conv->primitive_ = dnnl::convolution_forward(conv->pd_);

    if (conv->pd_.src_desc() != conv->user_src_md_) {
      conv->src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(engine, conv->user_src_md_, engine, conv->pd_.src_desc()));
    }
    if (conv->pd_.dst_desc() != conv->user_dst_md_) {
      conv->dst_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(engine, conv->pd_.dst_desc(), engine, conv->user_dst_md_));
      if (config.has_residual) {
        conv->residual_reorder_ =
            dnnl::reorder(dnnl::reorder::primitive_desc(engine, conv->user_dst_md_, engine, conv->pd_.dst_desc()));
      }
    }
    if (conv->pd_.weights_desc() != conv->user_weights_md_) {
      conv->weights_reorder_ =
          dnnl::reorder(dnnl::reorder::primitive_desc(engine, conv->user_weights_md_, engine, conv->pd_.weights_desc()));
    }
    if (constant_weights != nullptr) {
      const size_t bytes = conv->pd_.weights_desc().get_size();
      conv->packed_weights_storage_ = std::make_unique<float[]>(bytes / sizeof(float) + 16);
      conv->packed_weights_ = OneDnnMemory(conv->pd_.weights_desc(), conv->packed_weights_storage_.get());
      dnnl::stream& stream = ThreadStream();
      if (conv->weights_reorder_) {
        dnnl::memory user = OneDnnMemory(conv->user_weights_md_, constant_weights);
        conv->weights_reorder_->execute(stream, user, conv->packed_weights_);
      } else {
        std::memcpy(conv->packed_weights_storage_.get(), constant_weights, bytes);
      }
      stream.wait();
    }
    if (config.has_bias && constant_bias != nullptr) {
      conv->packed_bias_storage_ = std::make_unique<float[]>(g.out_channels + 16);
      std::memcpy(conv->packed_bias_storage_.get(), constant_bias, g.out_channels * sizeof(float));
      conv->packed_bias_ = OneDnnMemory(conv->bias_md_, conv->packed_bias_storage_.get());
    }
  } catch (const dnnl::error& e) {
    return OneDnnErrorToStatus("Conv", e);
  }
  return conv;
}

absl::Status OneDnnConvolution::Run(const float* x, const float* w, const float* bias, const float* residual,
                                    float* y) const {
  try {
    dnnl::stream& stream = ThreadStream();
    std::unordered_map<int, memory> args;
    // Source.
    memory user_src = OneDnnMemory(user_src_md_, x);
    memory src = user_src;
    if (src_reorder_) {
      src = OneDnnMemory(pd_.src_desc(), ThreadScratch(kSrcSlot, pd_.src_desc().get_size()));
      src_reorder_->execute(stream, user_src, src);
    }
    // Weights.
    memory weights = packed_weights_;
    if (!weights) {
      memory user_w = OneDnnMemory(user_weights_md_, w);
      weights = user_w;
      if (weights_reorder_) {
        weights = OneDnnMemory(pd_.weights_desc(), ThreadScratch(kWeightsSlot, pd_.weights_desc().get_size()));
        weights_reorder_->execute(stream, user_w, weights);
      }
    }
    // Destination (pre-filled with the residual for the sum post-op).
    memory user_dst = OneDnnMemory(user_dst_md_, y);
    memory dst = user_dst;
    if (dst_reorder_) dst = OneDnnMemory(pd_.dst_desc(), ThreadScratch(kDstSlot, pd_.dst_desc().get_size()));
    if (config_.has_residual) {
      if (residual_reorder_) {
        memory user_residual = OneDnnMemory(user_dst_md_, residual);
        residual_reorder_->execute(stream, user_residual, dst);
      } else if (residual != y) {
        std::memcpy(y, residual, user_dst_md_.get_size());
      }
    }
    args[DNNL_ARG_SRC] = src;
    args[DNNL_ARG_WEIGHTS] = weights;
    args[DNNL_ARG_DST] = dst;
    if (config_.has_bias) args[DNNL_ARG_BIAS] = packed_bias_ ? packed_bias_ : OneDnnMemory(bias_md_, bias);
    const size_t scratch_bytes = pd_.scratchpad_desc().get_size();
    if (scratch_bytes > 0) {
      args[DNNL_ARG_SCRATCHPAD] = OneDnnMemory(pd_.scratchpad_desc(), ThreadScratch(kScratchpadSlot, scratch_bytes));
    }
    primitive_.execute(stream, args);
    if (dst_reorder_) dst_reorder_->execute(stream, dst, user_dst);
    stream.wait();
  } catch (const dnnl::error& e) {
    return OneDnnErrorToStatus("Conv", e);
  }
  return absl::OkStatus();
}

const char* OneDnnConvolution::implementation() const { return pd_.impl_info_str(); }

}  // namespace tessera::engine
