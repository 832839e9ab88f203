#include "coordinator/planner/stage_partitioner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tessera::planner {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

absl::Status Validate(const PartitionProblem& problem, const PartitionOptions& options) {
  const int n = static_cast<int>(problem.node_cost.size());
  if (options.stages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("the number of stages must be at least 1, got ", options.stages));
  }
  if (n == 0) return absl::InvalidArgumentError("the graph has no nodes to partition");
  if (options.stages > n) {
    return absl::InvalidArgumentError(absl::StrCat("cannot cut ", n, " nodes into ", options.stages,
                                                   " non-empty stages"));
  }
  if (options.balance_slack < 0) return absl::InvalidArgumentError("balance_slack must be >= 0");
  for (int i = 0; i < n; ++i) {
    if (!(problem.node_cost[i] >= 0) || !std::isfinite(problem.node_cost[i])) {
      return absl::InvalidArgumentError(absl::StrCat("node ", i, " has invalid cost ", problem.node_cost[i]));
    }
  }
  for (size_t t = 0; t < problem.tensors.size(); ++t) {
    const auto& tensor = problem.tensors[t];
    if (tensor.producer < 0 || tensor.producer >= n || tensor.bytes < 0) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t, " has an invalid producer or size"));
    }
    for (int c : tensor.consumers) {
      if (c <= tensor.producer || c >= n) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", t, " is read by node ", c,
                                                       ", not after its producer ", tensor.producer));
      }
    }
  }
  return absl::OkStatus();
}

// Calls visit(i, j, compute, bytes_in) for every range [i, j) in order of
// increasing i, where bytes_in counts tensors produced before i and read in
// [i, j).
template <typename Visit>
void ForEachRange(const PartitionProblem& problem, const std::vector<std::vector<std::pair<int, int64_t>>>& reads,
                  const std::vector<double>& prefix, Visit visit) {
  const int n = static_cast<int>(problem.node_cost.size());
  std::vector<int> stamp(problem.tensors.size(), -1);
  for (int i = 0; i < n; ++i) {
    int64_t bytes_in = 0;
    for (int j = i + 1; j <= n; ++j) {
      for (const auto& [t, bytes] : reads[j - 1]) {
        if (problem.tensors[t].producer < i && stamp[t] != i) {
          stamp[t] = i;
          bytes_in += bytes;
        }
      }
      visit(i, j, prefix[j] - prefix[i], bytes_in);
    }
  }
}

// Per-stage figures of a valid partition with these bounds.
Partition Figures(const PartitionProblem& problem, std::vector<int> bounds, const PartitionOptions& options) {
  const int n = static_cast<int>(problem.node_cost.size());
  const int k_max = static_cast<int>(bounds.size()) - 1;
  std::vector<double> prefix(n + 1, 0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + problem.node_cost[i];
  auto stage_cost = [&](double compute, int64_t bytes_in) {
    return compute + (options.link_bytes_per_ms > 0 ? static_cast<double>(bytes_in) / options.link_bytes_per_ms : 0);
  };
  Partition p;
  p.bounds = std::move(bounds);
  std::vector<int> stage_of(n);
  for (int s = 0; s < k_max; ++s) {
    for (int i = p.bounds[s]; i < p.bounds[s + 1]; ++i) stage_of[i] = s;
  }
  p.compute_cost.assign(k_max, 0);
  p.bytes_in.assign(k_max, 0);
  p.cut_bytes.assign(k_max - 1, 0);
  for (int s = 0; s < k_max; ++s) p.compute_cost[s] = prefix[p.bounds[s + 1]] - prefix[p.bounds[s]];
  for (const auto& tensor : problem.tensors) {
    const int from = stage_of[tensor.producer];
    int last = from;
    std::vector<int> readers;
    for (int c : tensor.consumers) {
      const int s = stage_of[c];
      last = std::max(last, s);
      if (s != from && std::find(readers.begin(), readers.end(), s) == readers.end()) readers.push_back(s);
    }
    for (int s : readers) p.bytes_in[s] += tensor.bytes;
    for (int c = from; c < last; ++c) p.cut_bytes[c] += tensor.bytes;
  }
  p.stage_cost.resize(k_max);
  for (int s = 0; s < k_max; ++s) p.stage_cost[s] = stage_cost(p.compute_cost[s], p.bytes_in[s]);
  return p;
}

}  // namespace

absl::StatusOr<Partition> PartitionStages(const PartitionProblem& problem, const PartitionOptions& options) {
  if (absl::Status st = Validate(problem, options); !st.ok()) return st;
  const int n = static_cast<int>(problem.node_cost.size());
  const int k_max = options.stages;
  std::vector<double> prefix(n + 1, 0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + problem.node_cost[i];
  // Per node: the tensors it reads (each once).
  std::vector<std::vector<std::pair<int, int64_t>>> reads(n);
  for (size_t t = 0; t < problem.tensors.size(); ++t) {
    for (int c : problem.tensors[t].consumers) {
      auto& r = reads[c];
      if (std::none_of(r.begin(), r.end(), [&](const auto& p) { return p.first == static_cast<int>(t); })) {
        r.emplace_back(static_cast<int>(t), problem.tensors[t].bytes);
      }
    }
  }
  auto stage_cost = [&](double compute, int64_t bytes_in) {
    return compute + (options.link_bytes_per_ms > 0 ? static_cast<double>(bytes_in) / options.link_bytes_per_ms : 0);
  };

  // 1. The smallest achievable largest stage cost.
  std::vector<std::vector<double>> best_max(k_max + 1, std::vector<double>(n + 1, kInf));
  best_max[0][0] = 0;
  ForEachRange(problem, reads, prefix, [&](int i, int j, double compute, int64_t bytes_in) {
    const double c = stage_cost(compute, bytes_in);
    for (int k = 1; k <= k_max; ++k) {
      if (best_max[k - 1][i] == kInf) continue;
      best_max[k][j] = std::min(best_max[k][j], std::max(best_max[k - 1][i], c));
    }
  });
  const double optimum = best_max[k_max][n];
  const double limit = optimum * (1 + options.balance_slack) + 1e-12 * std::max(1.0, optimum);

  // 2. The fewest bytes between stages with every stage within the limit.
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  std::vector<std::vector<int64_t>> best_bytes(k_max + 1, std::vector<int64_t>(n + 1, kNone));
  std::vector<std::vector<double>> tie_max(k_max + 1, std::vector<double>(n + 1, kInf));
  std::vector<std::vector<int>> parent(k_max + 1, std::vector<int>(n + 1, -1));
  best_bytes[0][0] = 0;
  tie_max[0][0] = 0;
  ForEachRange(problem, reads, prefix, [&](int i, int j, double compute, int64_t bytes_in) {
    const double c = stage_cost(compute, bytes_in);
    if (c > limit) return;
    for (int k = 1; k <= k_max; ++k) {
      if (best_bytes[k - 1][i] == kNone) continue;
      const int64_t bytes = best_bytes[k - 1][i] + bytes_in;
      const double mx = std::max(tie_max[k - 1][i], c);
      if (bytes < best_bytes[k][j] || (bytes == best_bytes[k][j] && mx < tie_max[k][j])) {
        best_bytes[k][j] = bytes;
        tie_max[k][j] = mx;
        parent[k][j] = i;
      }
    }
  });
  if (best_bytes[k_max][n] == kNone) return absl::InternalError("stage partitioning found no feasible partition");

  std::vector<int> bounds(k_max + 1, 0);
  bounds[k_max] = n;
  for (int k = k_max, j = n; k > 0; --k) {
    j = parent[k][j];
    bounds[k - 1] = j;
  }
  return Figures(problem, std::move(bounds), options);
}

absl::StatusOr<Partition> EvaluatePartition(const PartitionProblem& problem, const std::vector<int>& bounds,
                                            const PartitionOptions& options) {
  const int n = static_cast<int>(problem.node_cost.size());
  if (bounds.size() < 2 || bounds.front() != 0 || bounds.back() != n) {
    return absl::InvalidArgumentError(absl::StrCat("stage bounds must run from 0 to ", n));
  }
  for (size_t s = 1; s < bounds.size(); ++s) {
    if (bounds[s] <= bounds[s - 1]) return absl::InvalidArgumentError("stage bounds must be strictly increasing");
  }
  PartitionOptions checked = options;
  checked.stages = static_cast<int>(bounds.size()) - 1;
  if (absl::Status st = Validate(problem, checked); !st.ok()) return st;
  return Figures(problem, bounds, options);
}

}  // namespace tessera::planner
