// Bearer-token authentication. A tokens file maps tokens to users, one "TOKEN USER" pair a line
// ('#' starts a comment). Without a tokens file every caller is the user "local" and sees every
// sweep; the server then refuses non-loopback addresses unless --insecure (server_main.cc).
#ifndef SIGPROP_SERVER_AUTH_H_
#define SIGPROP_SERVER_AUTH_H_

#include <map>
#include <string>

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"

namespace sigprop::server {

class Authenticator {
 public:
  // No tokens: authentication off.
  Authenticator() = default;
  static absl::StatusOr<Authenticator> FromFile(const std::string& path);
  static absl::StatusOr<Authenticator> FromText(const std::string& text, const std::string& source);

  bool enabled() const { return !users_by_token_.empty(); }
  // The caller's user, or UNAUTHENTICATED saying what is missing or wrong.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& context) const;
  // Whether `user` may see and cancel a sweep owned by `owner`.
  bool MayAccess(const std::string& user, const std::string& owner) const {
    return !enabled() || user == owner;
  }

 private:
  std::map<std::string, std::string> users_by_token_;
};

inline constexpr char kLocalUser[] = "local";

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_AUTH_H_
