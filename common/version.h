// The build's version (CMakeLists.txt project(VERSION)) and the contract it speaks, for
// `sigprop --version` and `sigprop-server --version`.
#ifndef SIGPROP_COMMON_VERSION_H_
#define SIGPROP_COMMON_VERSION_H_

namespace sigprop {

#ifndef SIGPROP_VERSION
#error "SIGPROP_VERSION comes from common/CMakeLists.txt"
#endif
inline constexpr char kVersion[] = SIGPROP_VERSION;
// The protobuf package of proto/sigprop/v1: what a client built against it can call.
inline constexpr char kContract[] = "sigprop.v1";

}  // namespace sigprop

#endif  // SIGPROP_COMMON_VERSION_H_
