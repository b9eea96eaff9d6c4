#include "server/sigprop_server.h"

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sweep_plan.h"

namespace sigprop::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  auto cert = ReadFile(options.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(options.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

std::string BoundAddress(const std::string& listen, int port) {
  if (port > 0 && absl::EndsWith(listen, ":0")) {
    return absl::StrCat(listen.substr(0, listen.size() - 1), port);
  }
  return listen;
}

bool IsLoopbackAddress(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) return true;
  std::string host = address;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (host.find(':') != std::string::npos) {
    host = host.substr(0, host.rfind(':'));
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::unique_ptr<SigpropServer>> SigpropServer::Start(const ServerOptions& options) {
  Authenticator auth;
  if (!options.tokens_file.empty()) {
    auto loaded = Authenticator::FromFile(options.tokens_file);
    if (!loaded.ok()) return loaded.status();
    auth = std::move(*loaded);
  } else if (!options.listen.empty() && !options.insecure && !IsLoopbackAddress(options.listen)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen ", options.listen, " is not a loopback address and no --tokens file is given; "
        "anyone who can reach it could run and read sweeps. Give --tokens, or --insecure to "
        "accept that"));
  }
  auto credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();

  std::unique_ptr<SigpropServer> server(new SigpropServer());
  if (options.scratch_store && !options.db_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ServerOptions: scratch_store keeps no file, but db_path is '", options.db_path, "'"));
  }
  auto store = options.scratch_store ? JobStore::OpenScratch() : JobStore::Open(options.db_path);
  if (!store.ok()) return store.status();
  server->store_ = std::move(*store);

  SigpropServer* self = server.get();
  server->runner_ = std::make_unique<PointRunner>(
      server->store_.get(), &server->hub_, &server->shutting_down_,
      [self](const std::string& sweep_id) { self->scheduler_->CancelSweep(sweep_id); });
  Scheduler::Options scheduling;
  scheduling.threads = options.threads > 0 ? options.threads
                                           : static_cast<int>(std::thread::hardware_concurrency());
  scheduling.max_queued_points = options.max_queued_points;
  server->scheduler_ = std::make_unique<Scheduler>(
      scheduling, [self](const PointTask& task, oneapi::tbb::task_arena& arena,
                         const std::function<bool()>& cancelled) {
        self->runner_->Run(task, arena, cancelled);
      });
  // Every point's samples share the arena, so at most `threads` of them are in memory at once.
  ServiceOptions service_options = options.service;
  service_options.limits.samples_in_flight = scheduling.threads;
  server->service_ = std::make_unique<SimulationService>(
      service_options, server->store_.get(), server->scheduler_.get(), server->runner_.get(),
      &server->hub_, std::move(auth));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second server on a port already served would start
  // without a word and the kernel would share the connections between the two (clients' sweeps
  // landing in the other's store). One server per port, and a clear refusal otherwise.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (!options.listen.empty()) {
    builder.AddListeningPort(options.listen, *credentials, &server->port_);
  }
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || (!options.listen.empty() && server->port_ == 0)) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", options.listen,
                                               " (is the port in use by another process?)"));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  if (auto status = server->Recover(); !status.ok()) {
    server->Shutdown(std::chrono::milliseconds(0));
    return status;
  }
  return server;
}

absl::Status SigpropServer::Recover() {
  if (store_->read_only()) return absl::OkStatus();
  auto complete = store_->SweepsWithEveryPointDone();
  if (!complete.ok()) return complete.status();
  for (const std::string& sweep_id : *complete) runner_->FinishIfComplete(sweep_id);
  auto pending = store_->UnfinishedPoints();
  if (!pending.ok()) return pending.status();
  // Group by sweep, keeping the store's order (oldest sweep first).
  std::vector<std::string> order;
  std::map<std::string, std::vector<int>> points_of;
  for (const auto& p : *pending) {
    if (points_of.find(p.sweep_id) == points_of.end()) order.push_back(p.sweep_id);
    points_of[p.sweep_id].push_back(p.point);
  }
  for (const std::string& sweep_id : order) {
    auto sweep = store_->GetSweep(sweep_id);
    if (!sweep.ok()) return sweep.status();
    // The plan of a stored sweep, without the limits: it was accepted under its day's.
    PlanOptions expand_only;
    expand_only.validate = false;
    auto plan = sweep->comparison ? PlanCompareSweep(sweep->compare, Limits(), expand_only)
                                  : PlanSweep(sweep->spec, Limits(), expand_only);
    if (!plan.ok()) return plan.status();
    std::vector<PointTask> tasks;
    for (int p : points_of[sweep_id]) {
      tasks.push_back(PointTask{sweep_id, sweep->owner, p, std::move(*plan->mutable_points(p))});
    }
    if (auto status = scheduler_->Enqueue(std::move(tasks)); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> SigpropServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void SigpropServer::Shutdown(std::chrono::milliseconds grace) {
  {
    absl::MutexLock lock(&shutdown_mutex_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (server_ != nullptr) server_->GetHealthCheckService()->SetServingStatus(false);
  shutting_down_.store(true);
  if (service_ != nullptr) service_->BeginShutdown();
  if (scheduler_ != nullptr) scheduler_->Shutdown(/*cancel_running=*/true);
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + grace);
}

void SigpropServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

SigpropServer::~SigpropServer() { Shutdown(std::chrono::milliseconds(0)); }

}  // namespace sigprop::server
