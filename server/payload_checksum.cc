#include "server/payload_checksum.h"

namespace sigprop::server {
namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t Mix(uint64_t hash, absl::string_view bytes) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace

int64_t PayloadChecksum(absl::string_view key, absl::string_view payload) {
  // The key's length goes first so that ("ab", "c") and ("a", "bc") hash differently.
  const uint64_t key_length = key.size();
  uint64_t hash = Mix(kFnvOffsetBasis,
                      absl::string_view(reinterpret_cast<const char*>(&key_length), sizeof key_length));
  hash = Mix(Mix(hash, key), payload);
  return static_cast<int64_t>(hash);
}

}  // namespace sigprop::server
