// The clients' retry policy and the server texts they match, read once from the one table,
// proto/sigprop/v1/client_policy.json (embedded at build time; the Python client reads the same
// file, installed beside its stubs). The server takes its slow-watcher text from here too, so the
// text a client matches cannot drift from the text the server sends.
#ifndef SIGPROP_PROTO_CLIENT_POLICY_H_
#define SIGPROP_PROTO_CLIENT_POLICY_H_

#include <string>
#include <vector>

namespace sigprop {

struct ClientPolicy {
  // The gRPC service config every client channel gets: its retryPolicy retries the idempotent
  // unary calls (Get, List, Results, Plan, health Check) on UNAVAILABLE.
  std::string service_config_json;
  // Watch streams and scale-out submissions: reattach on these codes (google.rpc.Code numbers),
  // or on RESOURCE_EXHAUSTED beginning with slow_watcher_prefix; back off from initial to max,
  // times multiplier; give up after patience without progress.
  std::vector<int> reattach_codes;
  double initial_backoff_seconds = 0.1;
  double max_backoff_seconds = 2.0;
  double backoff_multiplier = 2.0;
  double patience_seconds = 60.0;
  // How the server's message begins when it drops a watcher that stopped reading.
  std::string slow_watcher_prefix;

  // Whether a broken Watch (or a failed scale-out Submit) with this status is worth retrying.
  bool WorthReattaching(int code, const std::string& message) const;
};

// Parsed on first use; a malformed table is a build defect and aborts with its reason.
const ClientPolicy& GetClientPolicy();

}  // namespace sigprop

#endif  // SIGPROP_PROTO_CLIENT_POLICY_H_
