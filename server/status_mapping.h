// The one place where internal absl::Status values become gRPC statuses (STYLE.md,
// google-cloud-cpp). The canonical codes are numerically identical, and the message, which names
// the offending field, passes through unchanged.
#ifndef SIGPROP_SERVER_STATUS_MAPPING_H_
#define SIGPROP_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sigprop::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_STATUS_MAPPING_H_
