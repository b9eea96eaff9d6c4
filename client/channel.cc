#include "client/channel.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/client_policy.h"

namespace sigprop::cli {
namespace {

absl::StatusOr<std::string> ReadAll(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    auto ca = ReadAll(options.tls_ca_file, "--tls-ca");
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ca;
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  if (!options.authority.empty()) {
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, options.authority);
    if (!options.tls_ca_file.empty()) {
      const auto colon = options.authority.rfind(':');
      args.SetSslTargetNameOverride(options.authority.substr(0, colon));
    }
  }
  args.SetLoadBalancingPolicyName("round_robin");
  // gRPC retries the idempotent unary calls itself (proto/sigprop/v1/client_policy.json).
  args.SetServiceConfigJSON(GetClientPolicy().service_config_json);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return grpc::CreateCustomChannel(options.target, credentials, args);
}

std::string DnsAuthority(const std::string& target) {
  if (!absl::StartsWith(target, "dns:")) return "";
  const auto slash = target.rfind('/');
  return slash == std::string::npos ? target.substr(4) : target.substr(slash + 1);
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  auto text = ReadAll(path, "--token-file");
  if (!text.ok()) return text.status();
  const std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", path, " is empty"));
  return token;
}

}  // namespace sigprop::cli
