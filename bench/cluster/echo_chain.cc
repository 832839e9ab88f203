#include "bench/cluster/echo_chain.h"

#include <algorithm>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tessera::bench {
namespace {

constexpr char kInferenceServicePaths[] = "/inference.GRPCInferenceService/*";

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status UnknownModel(const std::string& asked, const std::string& served) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("unknown model '", asked, "'; this echo server serves '", served, "'"));
}

// Starts `method` on the upstream with the caller's deadline and finishes
// the server call with the upstream's status. The client context lives in
// the callback until gRPC calls it.
template <typename Request, typename Response, typename Method>
grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context, const Request* request, Response* response,
                                  Method method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto client_context = std::make_shared<grpc::ClientContext>();
  client_context->set_deadline(context->deadline());
  grpc::ClientContext* raw = client_context.get();
  method(raw, request, response, [reactor, client_context](grpc::Status status) mutable {
    client_context.reset();
    reactor->Finish(status);
  });
  return reactor;
}

}  // namespace

absl::StatusOr<EchoMapping> ParseEchoMapping(absl::string_view text) {
  EchoMapping mapping;
  absl::flat_hash_set<std::string> inputs, outputs;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::vector<std::string> parts = absl::StrSplit(entry, '=');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("echo mapping entry '", entry, "' must be INPUT=OUTPUT (e.g. x=y)"));
    }
    if (!inputs.insert(parts[0]).second) {
      return absl::InvalidArgumentError(absl::StrCat("echo mapping names input '", parts[0], "' twice"));
    }
    if (!outputs.insert(parts[1]).second) {
      return absl::InvalidArgumentError(absl::StrCat("echo mapping names output '", parts[1], "' twice"));
    }
    mapping.emplace_back(std::move(parts[0]), std::move(parts[1]));
  }
  if (mapping.empty()) return absl::InvalidArgumentError("echo mapping is empty; give at least one INPUT=OUTPUT");
  return mapping;
}

// ---- EchoInferenceService ---------------------------------------------------

grpc::ServerUnaryReactor* EchoInferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* EchoInferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                            const inference::ServerReadyRequest*,
                                                            inference::ServerReadyResponse* response) {
  response->set_ready(true);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* EchoInferenceService::ModelMetadata(grpc::CallbackServerContext* context,
                                                              const inference::ModelMetadataRequest* request,
                                                              inference::ModelMetadataResponse* response) {
  if (request->name() != model_.name) return Finish(context, UnknownModel(request->name(), model_.name));
  response->set_name(model_.name);
  response->add_versions("1");
  response->set_platform("echo");
  for (const auto& [in, out] : model_.mapping) {
    for (auto [list, name] : {std::pair{response->mutable_inputs(), &in}, std::pair{response->mutable_outputs(), &out}}) {
      auto* t = list->Add();
      t->set_name(*name);
      t->set_datatype("FP32");
      t->add_shape(-1);
      t->add_shape(model_.features);
    }
  }
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* EchoInferenceService::ModelConfig(grpc::CallbackServerContext* context,
                                                            const inference::ModelConfigRequest* request,
                                                            inference::ModelConfigResponse* response) {
  if (request->name() != model_.name) return Finish(context, UnknownModel(request->name(), model_.name));
  inference::ModelConfig* config = response->mutable_config();
  config->set_name(model_.name);
  config->set_platform("echo");
  // Batched like the models it stands in for: the batch dim (any size up to
  // this) comes first and `dims` are the dims after it.
  config->set_max_batch_size(1 << 20);
  for (const auto& [in, out] : model_.mapping) {
    auto* input = config->add_input();
    input->set_name(in);
    input->set_data_type(inference::TYPE_FP32);
    input->add_dims(model_.features);
    auto* output = config->add_output();
    output->set_name(out);
    output->set_data_type(inference::TYPE_FP32);
    output->add_dims(model_.features);
  }
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* EchoInferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                           const inference::ModelInferRequest* request,
                                                           inference::ModelInferResponse* response) {
  if (request->model_name() != model_.name) {
    return Finish(context, UnknownModel(request->model_name(), model_.name));
  }
  if (request->raw_input_contents_size() != 0 && request->raw_input_contents_size() != request->inputs_size()) {
    return Finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        absl::StrCat("raw_input_contents has ", request->raw_input_contents_size(),
                                                     " entries for ", request->inputs_size(), " inputs")));
  }
  response->set_model_name(model_.name);
  response->set_model_version("1");
  response->set_id(request->id());
  for (const auto& in : request->inputs()) {
    auto* out = response->add_outputs();
    out->set_name(in.name());
    for (const auto& [from, to] : model_.mapping) {
      if (from == in.name()) out->set_name(to);
    }
    out->set_datatype(in.datatype());
    *out->mutable_shape() = in.shape();
    if (in.has_contents()) *out->mutable_contents() = in.contents();
  }
  *response->mutable_raw_output_contents() = request->raw_input_contents();
  return Finish(context, grpc::Status::OK);
}

// ---- RelayInferenceService --------------------------------------------------

grpc::ServerUnaryReactor* RelayInferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                            const inference::ServerLiveRequest*,
                                                            inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RelayInferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                             const inference::ServerReadyRequest*,
                                                             inference::ServerReadyResponse* response) {
  response->set_ready(true);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RelayInferenceService::ModelMetadata(grpc::CallbackServerContext* context,
                                                               const inference::ModelMetadataRequest* request,
                                                               inference::ModelMetadataResponse* response) {
  auto* async = upstream_->async();
  return Forward(context, request, response,
                 [async](grpc::ClientContext* c, const inference::ModelMetadataRequest* q,
                         inference::ModelMetadataResponse* r,
                         std::function<void(grpc::Status)> done) { async->ModelMetadata(c, q, r, std::move(done)); });
}

grpc::ServerUnaryReactor* RelayInferenceService::ModelConfig(grpc::CallbackServerContext* context,
                                                             const inference::ModelConfigRequest* request,
                                                             inference::ModelConfigResponse* response) {
  auto* async = upstream_->async();
  return Forward(context, request, response,
                 [async](grpc::ClientContext* c, const inference::ModelConfigRequest* q,
                         inference::ModelConfigResponse* r,
                         std::function<void(grpc::Status)> done) { async->ModelConfig(c, q, r, std::move(done)); });
}

grpc::ServerUnaryReactor* RelayInferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                            const inference::ModelInferRequest* request,
                                                            inference::ModelInferResponse* response) {
  auto* async = upstream_->async();
  return Forward(context, request, response,
                 [async](grpc::ClientContext* c, const inference::ModelInferRequest* q,
                         inference::ModelInferResponse* r,
                         std::function<void(grpc::Status)> done) { async->ModelInfer(c, q, r, std::move(done)); });
}

// ---- Security ---------------------------------------------------------------

AuthorizationPolicy EchoServerAuthorizationPolicy() {
  AuthorizationPolicy policy = WorkerAuthorizationPolicy();
  policy.name = "tessera_echo_server";
  // Workers may Execute on workers (stage forwarding); nothing of that here.
  std::erase_if(policy.allow_rules, [](const AuthorizationRule& rule) {
    return std::find(rule.principals.begin(), rule.principals.end(), RoleIdentity(NodeRole::kWorker)) !=
           rule.principals.end();
  });
  for (AuthorizationRule& rule : policy.allow_rules) {
    for (std::string& path : rule.paths) {
      if (absl::StartsWith(path, "/tessera.worker.Worker/")) path = kInferenceServicePaths;
    }
  }
  return policy;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeRelayChannel(const std::string& upstream, const TlsOptions& tls,
                                                                 int max_message_bytes) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(max_message_bytes);
  arguments.SetMaxSendMessageSize(max_message_bytes);
  return MakeChannel(upstream, tls, std::move(arguments));
}

}  // namespace tessera::bench
