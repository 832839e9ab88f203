// ai.tessera.sim.Delay (opset 1): Y = X, after sleeping
// microseconds_per_sample * X.shape[0] + microseconds (a rank-0 X counts as
// one sample). The output is the input tensor itself (no copy); the sleep is
// absl::SleepFor, so a delaying worker holds no core. Registered as
// non-deterministic so constant folding and signature caching never skip
// the sleep. Schema: worker/engine/tessera_schemas.h.
#include <cstdint>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/tessera_schemas.h"

namespace tessera::engine {
namespace {

// Upper bound of one call's sleep (one hour): larger products are a model error.
constexpr int64_t kMaxDelayMicros = int64_t{3600} * 1000 * 1000;

class DelayKernel : public OpKernel {
 public:
  DelayKernel(int64_t per_sample_us, int64_t fixed_us) : per_sample_us_(per_sample_us), fixed_us_(fixed_us) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return absl::InvalidArgumentError("Delay: missing input X");
    const int64_t samples = x->rank() == 0 ? 1 : x->dim(0);
    if (per_sample_us_ > 0 && samples > (kMaxDelayMicros - fixed_us_) / per_sample_us_) {
      return absl::InvalidArgumentError(absl::StrCat("Delay: ", samples, " samples at ", per_sample_us_,
                                                     " us each exceed the limit of ", kMaxDelayMicros, " us"));
    }
    const int64_t micros = per_sample_us_ * samples + fixed_us_;
    if (micros > 0) absl::SleepFor(absl::Microseconds(micros));
    ctx.SetOutput(0, *x);
    return absl::OkStatus();
  }

 private:
  int64_t per_sample_us_;
  int64_t fixed_us_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateDelay(const KernelInit& init) {
  const int64_t per_sample = init.attrs.GetInt("microseconds_per_sample", 0);
  const int64_t fixed = init.attrs.GetInt("microseconds", 0);
  for (auto [name, value] : {std::pair<const char*, int64_t>{"microseconds_per_sample", per_sample},
                             std::pair<const char*, int64_t>{"microseconds", fixed}}) {
    if (value < 0 || value > kMaxDelayMicros) {
      return absl::InvalidArgumentError(
          absl::StrCat("Delay: attribute '", name, "' must be in [0, ", kMaxDelayMicros, "], got ", value));
    }
  }
  if (init.node.input_size() != 1 || init.node.input(0).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Delay: expects exactly one input X, got ", init.node.input_size()));
  }
  return std::unique_ptr<OpKernel>(std::make_unique<DelayKernel>(per_sample, fixed));
}

}  // namespace

void RegisterSimKernels(KernelRegistry& registry) {
  KernelDef def;
  def.domain = std::string(kTesseraSimDomain);
  def.op_type = "Delay";
  def.factory = CreateDelay;
  def.output_aliases_input = true;
  // The result is X, but the sleep is the point: never fold or cache it.
  def.deterministic = false;
  registry.Register(std::move(def));
}

}  // namespace tessera::engine
