#include "server/auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sigprop::server {

absl::StatusOr<Authenticator> Authenticator::FromText(const std::string& text,
                                                      const std::string& source) {
  Authenticator auth;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    if (words.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": expected 'TOKEN USER', got ", words.size(),
                       " words"));
    }
    if (words[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": token of user '", words[1], "' is shorter than 16 characters"));
    }
    if (!auth.users_by_token_.emplace(words[0], words[1]).second) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": duplicate token"));
    }
  }
  if (auth.users_by_token_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  }
  return auth;
}

absl::StatusOr<Authenticator> Authenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--tokens: cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return FromText(buffer.str(), path);
}

absl::StatusOr<std::string> Authenticator::Authenticate(const grpc::ServerContextBase& context) const {
  if (!enabled()) return std::string(kLocalUser);
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  auto user = users_by_token_.find(std::string(value.substr(kBearer.size())));
  if (user == users_by_token_.end()) return absl::UnauthenticatedError("unknown token");
  return user->second;
}

}  // namespace sigprop::server
