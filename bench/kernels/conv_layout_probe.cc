// Measures oneDNN convolution primitive time (no reorders) with blocked
// activations (format `any`, nChw8c on AVX2) versus channels-last (nhwc) on
// MobileNetV2 / ResNet-18 shapes. Standalone (links only oneDNN):
//   g++ -O2 -std=c++20 -fopenmp bench/kernels/conv_layout_probe.cc -ldnnl -o /tmp/conv_layout_probe
//   OMP_NUM_THREADS=2 /tmp/conv_layout_probe
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

using dnnl::memory;
using tag = memory::format_tag;

struct Shape {
  const char* name;
  int64_t c, m, hw, k, stride, pad, group;
};

const Shape kShapes[] = {
    {"mbv2_dw3x3_32_112", 32, 32, 112, 3, 1, 1, 32},
    {"mbv2_dw3x3_96_112_s2", 96, 96, 112, 3, 2, 1, 96},
    {"mbv2_dw3x3_144_56", 144, 144, 56, 3, 1, 1, 144},
    {"mbv2_dw3x3_192_28", 192, 192, 28, 3, 1, 1, 192},
    {"mbv2_dw3x3_384_14", 384, 384, 14, 3, 1, 1, 384},
    {"mbv2_dw3x3_576_14_s2", 576, 576, 14, 3, 2, 1, 576},
    {"mbv2_dw3x3_960_7", 960, 960, 7, 3, 1, 1, 960},
    {"mbv2_1x1_32_16_112", 32, 16, 112, 1, 1, 0, 1},
    {"mbv2_1x1_16_96_112", 16, 96, 112, 1, 1, 0, 1},
    {"mbv2_1x1_144_24_56", 144, 24, 56, 1, 1, 0, 1},
    {"mbv2_1x1_24_144_56", 24, 144, 56, 1, 1, 0, 1},
    {"mbv2_1x1_192_32_28", 192, 32, 28, 1, 1, 0, 1},
    {"mbv2_1x1_384_64_14", 384, 64, 14, 1, 1, 0, 1},
    {"mbv2_1x1_64_384_14", 64, 384, 14, 1, 1, 0, 1},
    {"mbv2_1x1_960_160_7", 960, 160, 7, 1, 1, 0, 1},
    {"mbv2_1x1_320_1280_7", 320, 1280, 7, 1, 1, 0, 1},
    {"mbv2_stem3x3_3_32_224_s2", 3, 32, 224, 3, 2, 1, 1},
    {"r18_stem7x7_3_64_224_s2", 3, 64, 224, 7, 2, 3, 1},
    {"r18_3x3_64_56", 64, 64, 56, 3, 1, 1, 1},
    {"r18_3x3_64_128_56_s2", 64, 128, 56, 3, 2, 1, 1},
    {"r18_3x3_128_28", 128, 128, 28, 3, 1, 1, 1},
    {"r18_3x3_256_14", 256, 256, 14, 3, 1, 1, 1},
    {"r18_3x3_512_7", 512, 512, 7, 3, 1, 1, 1},
    {"r18_1x1_64_128_56_s2", 64, 128, 56, 1, 2, 0, 1},
};

struct Prepared {
  dnnl::convolution_forward prim;
  std::unordered_map<int, memory> args;
  std::string impl;
};

Prepared Prepare(const dnnl::engine& eng, const Shape& sh, int64_t n, bool nhwc) {
  const int64_t oh = (sh.hw + 2 * sh.pad - sh.k) / sh.stride + 1;
  memory::dims src = {n, sh.c, sh.hw, sh.hw}, dst = {n, sh.m, oh, oh};
  memory::dims w = sh.group > 1 ? memory::dims{sh.group, sh.m / sh.group, sh.c / sh.group, sh.k, sh.k}
                                : memory::dims{sh.m, sh.c, sh.k, sh.k};
  const auto f32 = memory::data_type::f32;
  memory::desc src_md(src, f32, nhwc ? tag::nhwc : tag::any), dst_md(dst, f32, nhwc ? tag::nhwc : tag::any);
  memory::desc w_md(w, f32, tag::any), b_md({sh.m}, f32, tag::a);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                    w_md, b_md, dst_md, {sh.stride, sh.stride}, {0, 0}, {sh.pad, sh.pad},
                                    {sh.pad, sh.pad});
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
  memory msrc(pd.src_desc(), eng), mdst(pd.dst_desc(), eng), mw(pd.weights_desc(), eng), mb(b_md, eng);
  std::fill_n(static_cast<float*>(msrc.get_data_handle()), pd.src_desc().get_size() / 4, 0.5f);
  std::fill_n(static_cast<float*>(mw.get_data_handle()), pd.weights_desc().get_size() / 4, 0.01f);
  std::fill_n(static_cast<float*>(mb.get_data_handle()), sh.m, 0.1f);
  return Prepared{dnnl::convolution_forward(pd),
                  {{DNNL_ARG_SRC, msrc}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, mdst}},
                  pd.impl_info_str()};
}

double RunOnce(Prepared& p, dnnl::stream& s) {
  auto t0 = std::chrono::steady_clock::now();
  p.prim.execute(s, p.args);
  s.wait();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

int main() {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  // Median and fastest iteration (the machine is shared: compare on min too).
  std::printf("%-28s %5s %10s %10s %10s %10s %7s %7s  %s | %s\n", "shape", "batch", "blk_p50", "nhwc_p50", "blk_min",
              "nhwc_min", "r_p50", "r_min", "blocked impl", "nhwc impl");
  for (int64_t n : {1, 8}) {
    for (const Shape& sh : kShapes) {
      Prepared blocked = Prepare(eng, sh, n, false), nhwc = Prepare(eng, sh, n, true);
      RunOnce(blocked, s);
      RunOnce(nhwc, s);
      // Interleaved rounds so that both see the same machine load.
      std::vector<double> tb, tn;
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 400; ++i) {
        tb.push_back(RunOnce(blocked, s));
        tn.push_back(RunOnce(nhwc, s));
        if (i >= 10 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > 0.8) break;
      }
      std::sort(tb.begin(), tb.end());
      std::sort(tn.begin(), tn.end());
      const double pb = tb[tb.size() / 2], pn = tn[tn.size() / 2], mb = tb[0], mn = tn[0];
      std::printf("%-28s %5ld %10.1f %10.1f %10.1f %10.1f %7.2f %7.2f  %s | %s\n", sh.name, n, pb, pn, mb, mn, pn / pb,
                  mn / mb, blocked.impl.c_str(), nhwc.impl.c_str());
      std::fflush(stdout);
    }
  }
}
