#include "proto/client_policy.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sigprop {

extern const char kClientPolicyJson[];  // client_policy_json.cc, generated from the table.

namespace {

constexpr int kResourceExhausted = 8;

[[noreturn]] void Broken(const std::string& why) {
  std::fprintf(stderr, "proto/sigprop/v1/client_policy.json: %s\n", why.c_str());
  std::abort();
}

const google::protobuf::Value& Field(const google::protobuf::Struct& object, const std::string& name) {
  const auto it = object.fields().find(name);
  if (it == object.fields().end()) Broken("missing \"" + name + "\"");
  return it->second;
}

int CodeNumber(const std::string& name) {
  static const std::map<std::string, int> kCodes = {
      {"CANCELLED", 1},         {"UNKNOWN", 2},           {"INVALID_ARGUMENT", 3},
      {"DEADLINE_EXCEEDED", 4}, {"NOT_FOUND", 5},         {"ALREADY_EXISTS", 6},
      {"PERMISSION_DENIED", 7}, {"RESOURCE_EXHAUSTED", 8}, {"FAILED_PRECONDITION", 9},
      {"ABORTED", 10},          {"OUT_OF_RANGE", 11},     {"UNIMPLEMENTED", 12},
      {"INTERNAL", 13},         {"UNAVAILABLE", 14},      {"DATA_LOSS", 15},
      {"UNAUTHENTICATED", 16}};
  const auto it = kCodes.find(name);
  if (it == kCodes.end()) Broken("unknown status code \"" + name + "\"");
  return it->second;
}

ClientPolicy Parse() {
  google::protobuf::Struct table;
  if (!google::protobuf::util::JsonStringToMessage(kClientPolicyJson, &table).ok()) {
    Broken("not valid JSON");
  }
  ClientPolicy policy;
  google::protobuf::util::JsonPrintOptions compact;
  if (!google::protobuf::util::MessageToJsonString(Field(table, "serviceConfig").struct_value(),
                                                   &policy.service_config_json, compact)
           .ok()) {
    Broken("serviceConfig does not print as JSON");
  }
  const google::protobuf::Struct& reattach = Field(table, "reattach").struct_value();
  for (const auto& code : Field(reattach, "codes").list_value().values()) {
    policy.reattach_codes.push_back(CodeNumber(code.string_value()));
  }
  policy.initial_backoff_seconds = Field(reattach, "initialBackoffSeconds").number_value();
  policy.max_backoff_seconds = Field(reattach, "maxBackoffSeconds").number_value();
  policy.backoff_multiplier = Field(reattach, "backoffMultiplier").number_value();
  policy.patience_seconds = Field(reattach, "patienceSeconds").number_value();
  policy.slow_watcher_prefix =
      Field(Field(table, "texts").struct_value(), "slowWatcherPrefix").string_value();
  if (policy.slow_watcher_prefix.empty() || policy.initial_backoff_seconds <= 0 ||
      policy.max_backoff_seconds < policy.initial_backoff_seconds ||
      policy.backoff_multiplier < 1 || policy.patience_seconds <= 0) {
    Broken("a reattach value or the slow-watcher text is out of range");
  }
  return policy;
}

}  // namespace

bool ClientPolicy::WorthReattaching(int code, const std::string& message) const {
  if (code == kResourceExhausted) return message.rfind(slow_watcher_prefix, 0) == 0;
  for (int listed : reattach_codes) {
    if (listed == code) return true;
  }
  return false;
}

const ClientPolicy& GetClientPolicy() {
  static const ClientPolicy* const policy = new ClientPolicy(Parse());
  return *policy;
}

}  // namespace sigprop
