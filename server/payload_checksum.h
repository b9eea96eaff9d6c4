// A checksum stored beside every payload row of the job store. SQLite's own checks (quick_check at
// open) cover the b-tree structure, not the bytes inside a blob: a flipped byte in a stored result
// could still parse as a valid message and be served as a wrong number. Hashing the row's key with
// its payload also catches a payload that landed under the wrong key.
//
// FNV-1a, 64 bits: not cryptographic (the threat is bit rot and torn writes, not an adversary), the
// chance that random corruption keeps the checksum is 2^-64, and it is stable across builds.
#ifndef SIGPROP_SERVER_PAYLOAD_CHECKSUM_H_
#define SIGPROP_SERVER_PAYLOAD_CHECKSUM_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace sigprop::server {

// Stored as SQLite INTEGER, hence signed; `key` is the row's primary key rendered as text.
int64_t PayloadChecksum(absl::string_view key, absl::string_view payload);

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_PAYLOAD_CHECKSUM_H_
