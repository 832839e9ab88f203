#include "client/status_command.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

#include <grpcpp/client_context.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "client/json_text.h"
#include "common/grpc_status.h"
#include "proto/cluster_status.grpc.pb.h"

namespace tessera::client {
namespace {

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

int Fail(std::ostream& err, const absl::Status& status) {
  err << "tessera status: " << status.message() << "\n";
  return kExitRuntimeError;
}

// "12.3 MiB", "512 B".
std::string Bytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string ShortId(const std::string& id) { return id.substr(0, 12); }

// Rows of cells as left-aligned columns two spaces apart, each line
// prefixed with `indent`.
std::string Table(const std::vector<std::vector<std::string>>& rows, absl::string_view indent = "") {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string JsonBool(bool value) { return value ? "true" : "false"; }

std::string JsonStringList(const google::protobuf::RepeatedPtrField<std::string>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", ", [](std::string* out, const std::string& v) {
                        out->append(JsonQuote(v));
                      }),
                      "]");
}

}  // namespace

std::string StatusUsage() {
  return R"(usage: tessera status --server ADDR (--certs DIR | --ca F --cert F --key F | --insecure)
                      [--server-name NAME] [--token-file F] [--json] [--timeout-ms N]

Shows what a Tessera coordinator serves and how its workers are doing: models
(version, ready, plan: strategy, stages, replicas, micro-batch, and which
worker holds each stage's partition) and workers (health, pieces in flight,
memory used / budget, throughput, partitions loaded).

  --server ADDR           host:port of the coordinator (required)
  --certs DIR             mutual TLS with DIR/client.pem, DIR/client.key and the
                          cluster CA DIR/ca.pem (`tessera certs` writes them)
  --ca F --cert F --key F the same three files named one by one
  --insecure              plaintext, no authentication (local experiments only)
  --server-name NAME      the name the server certificate must carry, when it
                          differs from the host in --server
  --token-file F          bearer token from F instead of a client certificate
                          (as for `tessera infer`)
  --json                  print exactly one JSON object on stdout (fields as in
                          proto/cluster_status.proto; see client/status_command.h)
  --timeout-ms N          deadline of the call in ms (default 10000; 0: none)
  --help                  this text

Exit status: 0 success, 1 runtime error (files, connection, the server's
refusal: its gRPC status code and message go to stderr), 2 usage error.
)";
}

absl::StatusOr<StatusOptions> ParseStatusArgs(const std::vector<std::string>& args) {
  StatusOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::StatusOr<FlagArgument> parsed = FlagArgument::Split(args[i]);
    if (!parsed.ok()) return parsed.status();
    if (parsed->is_help()) {
      options.help = true;
      return options;
    }
    const std::string& flag = parsed->flag;
    if (flag == "--json" || flag == "--insecure") {
      if (parsed->has_value) return Usage(absl::StrCat(flag, " takes no value"));
      (flag == "--json" ? options.json : options.tls_flags.insecure) = true;
      continue;
    }
    static const std::set<std::string> kValueFlags = {"--server",      "--certs",      "--ca",        "--cert",
                                                      "--key",         "--server-name", "--timeout-ms",
                                                      "--token-file"};
    if (kValueFlags.count(flag) == 0) return Usage(absl::StrCat("unknown flag '", flag, "'"));
    if (absl::Status taken = parsed->TakeValue(args, i); !taken.ok()) return taken;
    const std::string& value = parsed->value;
    if (value.empty()) return Usage(absl::StrCat(flag, " needs a non-empty value"));
    if (flag == "--server") options.server = value;
    options.tls_flags.SetValue(flag, value);
    if (flag == "--timeout-ms" && (!absl::SimpleAtoi(value, &options.timeout_ms) || options.timeout_ms < 0)) {
      return Usage(absl::StrCat("--timeout-ms expects an integer >= 0, got '", value, "'"));
    }
  }
  if (options.server.empty()) return Usage("--server is required");
  if (absl::Status tls = options.tls_flags.Check(); !tls.ok()) return tls;
  return options;
}

std::string FormatStatusText(const status::GetStatusResponse& snapshot) {
  std::string out = absl::StrCat("coordinator version ", snapshot.version(), "\n\n");
  absl::StrAppend(&out, "MODELS (", snapshot.models_size(), ")\n");
  if (snapshot.models().empty()) absl::StrAppend(&out, "  none\n");
  // One summary table, then each model's stages and where they are held.
  std::vector<std::vector<std::string>> summary = {
      {"NAME", "VERSION", "READY", "STRATEGY", "STAGES", "REPLICAS", "MICRO-BATCH"}};
  std::string placement;
  for (const status::ModelStatus& model : snapshot.models()) {
    const bool planned = model.ready() && model.has_plan();
    const status::ModelPlan& plan = model.plan();
    summary.push_back({model.name(), model.version(), model.ready() ? "yes" : "no",
                       planned ? plan.strategy() : "-", planned ? absl::StrCat(plan.stages()) : "-",
                       planned ? absl::StrCat(plan.replicas()) : "-",
                       planned && plan.micro_batch_size() > 0 ? absl::StrCat(plan.micro_batch_size()) : "-"});
    absl::StrAppend(&placement, "  ", model.name(), " version ", model.version(), "\n");
    if (!model.ready()) {
      absl::StrAppend(&placement, "    not ready: ", model.reason().empty() ? "not deployed" : model.reason(), "\n");
    }
    if (planned && !plan.plan_source().empty()) {
      absl::StrAppend(&placement, "    plan costs: ", plan.plan_source(), "\n");
    }
    std::vector<std::vector<std::string>> stages;
    for (const status::StagePlacement& stage : plan.stage_placements()) {
      stages.push_back({absl::StrCat("stage ", stage.stage_index()),
                        absl::StrCat("partition ", ShortId(stage.partition_id())), Bytes(stage.partition_bytes()),
                        stage.workers().empty() ? "held by no worker yet"
                                                : absl::StrCat("held by ", absl::StrJoin(stage.workers(), ", "))});
    }
    absl::StrAppend(&placement, Table(stages, "    "));
  }
  if (!snapshot.models().empty()) {
    absl::StrAppend(&out, Table(summary, "  "), "\nPLACEMENT\n", placement);
  }

  absl::StrAppend(&out, "\nWORKERS (", snapshot.workers_size(), ")\n");
  if (snapshot.workers().empty()) {
    absl::StrAppend(&out, "  none\n");
    return out;
  }
  std::vector<std::vector<std::string>> rows = {{"ADDRESS", "CERT NAME", "HEALTHY", "IN-FLIGHT", "MEMORY USED/BUDGET",
                                                 "SAMPLES/S", "UTIL", "EXECUTES", "PARTITIONS"}};
  std::vector<std::string> errors;
  for (const status::WorkerStatus& worker : snapshot.workers()) {
    std::vector<std::string> partitions;
    for (const status::LoadedPartition& p : worker.partitions()) {
      partitions.push_back(absl::StrCat(p.model_name(), "/", p.model_version(), ":", p.stage_index(), "/",
                                        p.stage_count()));
    }
    rows.push_back({worker.address(), worker.tls_server_name().empty() ? "-" : worker.tls_server_name(),
                    worker.healthy() ? "yes" : "no", absl::StrCat(worker.in_flight()),
                    absl::StrCat(Bytes(worker.memory_in_use_bytes()), " / ",
                                 worker.memory_budget_bytes() == 0 ? "unbounded" : Bytes(worker.memory_budget_bytes())),
                    absl::StrFormat("%.1f", worker.samples_per_second()),
                    absl::StrFormat("%.0f%%", 100 * worker.utilization()),
                    worker.executes_failed() == 0
                        ? absl::StrCat(worker.executes_total())
                        : absl::StrCat(worker.executes_total(), " (", worker.executes_failed(), " failed)"),
                    partitions.empty() ? "-" : absl::StrJoin(partitions, ", ")});
    if (!worker.healthy() && !worker.last_error().empty()) {
      errors.push_back(absl::StrCat("  ", worker.address(), ": ", worker.last_error(), "\n"));
    }
  }
  absl::StrAppend(&out, Table(rows, "  "));
  if (!errors.empty()) absl::StrAppend(&out, "\nunhealthy workers:\n", absl::StrJoin(errors, ""));
  return out;
}

std::string FormatStatusJson(const status::GetStatusResponse& snapshot) {
  std::vector<std::string> models;
  for (const status::ModelStatus& model : snapshot.models()) {
    std::string plan = "null";
    if (model.ready() && model.has_plan()) {
      std::vector<std::string> placements;
      for (const status::StagePlacement& stage : model.plan().stage_placements()) {
        placements.push_back(absl::StrCat("{\"stage\": ", stage.stage_index(),
                                          ", \"partition_id\": ", JsonQuote(stage.partition_id()),
                                          ", \"partition_bytes\": ", stage.partition_bytes(),
                                          ", \"workers\": ", JsonStringList(stage.workers()), "}"));
      }
      plan = absl::StrCat("{\"strategy\": ", JsonQuote(model.plan().strategy()), ", \"stages\": ",
                          model.plan().stages(), ", \"replicas\": ", model.plan().replicas(),
                          ", \"micro_batch_size\": ", model.plan().micro_batch_size(),
                          ", \"plan_source\": ", JsonQuote(model.plan().plan_source()), ", \"placements\": [",
                          absl::StrJoin(placements, ", "), "]}");
    }
    models.push_back(absl::StrCat("{\"name\": ", JsonQuote(model.name()), ", \"version\": ",
                                  JsonQuote(model.version()), ", \"ready\": ", JsonBool(model.ready()),
                                  ", \"reason\": ", JsonQuote(model.reason()), ", \"plan\": ", plan, "}"));
  }
  std::vector<std::string> workers;
  for (const status::WorkerStatus& worker : snapshot.workers()) {
    std::vector<std::string> partitions;
    for (const status::LoadedPartition& p : worker.partitions()) {
      partitions.push_back(absl::StrCat(
          "{\"partition_id\": ", JsonQuote(p.partition_id()), ", \"model_name\": ", JsonQuote(p.model_name()),
          ", \"model_version\": ", JsonQuote(p.model_version()), ", \"stage\": ", p.stage_index(),
          ", \"stage_count\": ", p.stage_count(), ", \"memory_bytes\": ", p.memory_bytes(),
          ", \"execute_count\": ", p.execute_count(), "}"));
    }
    workers.push_back(absl::StrCat(
        "{\"address\": ", JsonQuote(worker.address()), ", \"tls_server_name\": ", JsonQuote(worker.tls_server_name()),
        ", \"healthy\": ", JsonBool(worker.healthy()), ", \"last_error\": ", JsonQuote(worker.last_error()),
        ", \"in_flight\": ", worker.in_flight(), ", \"memory_in_use_bytes\": ", worker.memory_in_use_bytes(),
        ", \"memory_budget_bytes\": ", worker.memory_budget_bytes(),
        ", \"samples_per_second\": ", JsonNumber(worker.samples_per_second()),
        ", \"utilization\": ", JsonNumber(worker.utilization()), ", \"executes_total\": ", worker.executes_total(),
        ", \"executes_failed\": ", worker.executes_failed(), ", \"cpu_cores\": ", worker.cpu_cores(),
        ", \"partitions\": [", absl::StrJoin(partitions, ", "), "]}"));
  }
  return absl::StrCat("{\"version\": ", JsonQuote(snapshot.version()), ", \"models\": [",
                      absl::StrJoin(models, ", "), "], \"workers\": [", absl::StrJoin(workers, ", "), "]}\n");
}

int StatusCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<StatusOptions> parsed = ParseStatusArgs(args);
  if (!parsed.ok()) {
    err << "tessera status: " << parsed.status().message() << "\nTry 'tessera status --help'.\n";
    return kExitUsageError;
  }
  const StatusOptions& options = *parsed;
  if (options.help) {
    out << StatusUsage();
    return kExitOk;
  }
  const TlsOptions tls = options.tls();
  if (!tls.insecure) {
    if (absl::Status s = ValidateTlsFiles(tls.files); !s.ok()) return Fail(err, s);
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options.server, tls);
  if (!channel.ok()) return Fail(err, channel.status());
  std::unique_ptr<status::ClusterStatus::Stub> stub = status::ClusterStatus::NewStub(*channel);
  grpc::ClientContext context;
  if (options.timeout_ms > 0) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(options.timeout_ms));
  }
  status::GetStatusResponse response;
  const grpc::Status called = stub->GetStatus(&context, status::GetStatusRequest(), &response);
  if (!called.ok()) {
    const absl::Status failed = FromGrpcStatus(called);
    return Fail(err, absl::Status(failed.code(), absl::StrCat("GetStatus failed: ",
                                                              absl::StatusCodeToString(failed.code()), ": ",
                                                              failed.message())));
  }
  out << (options.json ? FormatStatusJson(response) : FormatStatusText(response));
  return kExitOk;
}

}  // namespace tessera::client
