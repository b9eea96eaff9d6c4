#include "common/cpu_features.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sigprop {
namespace {

constexpr char kMaxIsaVariable[] = "SIGPROP_MAX_ISA";

// Whether SIGPROP_MAX_ISA allows `isa` (an invalid value allows everything).
bool Allowed(VectorIsa isa) {
  static const std::optional<VectorIsa> cap = [] {
    auto parsed = ParseMaxIsa(std::getenv(kMaxIsaVariable));
    return parsed.ok() ? *parsed : std::nullopt;
  }();
  return !cap.has_value() || static_cast<int>(isa) <= static_cast<int>(*cap);
}

}  // namespace

absl::StatusOr<std::optional<VectorIsa>> ParseMaxIsa(const char* text) {
  if (text == nullptr || *text == '\0') return std::optional<VectorIsa>();
  if (std::strcmp(text, "baseline") == 0) return std::optional<VectorIsa>(VectorIsa::kBaseline);
  if (std::strcmp(text, "avx2") == 0) return std::optional<VectorIsa>(VectorIsa::kAvx2);
  if (std::strcmp(text, "avx512") == 0) return std::optional<VectorIsa>(VectorIsa::kAvx512);
  return absl::InvalidArgumentError(absl::StrCat(
      kMaxIsaVariable, ": '", text, "' is not one of baseline, avx2, avx512 (or unset)"));
}

absl::Status CheckMaxIsaEnvironment() { return ParseMaxIsa(std::getenv(kMaxIsaVariable)).status(); }

namespace {

// What the CPU has, whatever SIGPROP_MAX_ISA says.
#if defined(__x86_64__)
bool HasAvx2() { return __builtin_cpu_supports("avx2"); }
bool HasAvx512F() { return __builtin_cpu_supports("avx512f"); }
bool HasAvx512Dq() { return HasAvx512F() && __builtin_cpu_supports("avx512dq"); }
#else
bool HasAvx2() { return false; }
bool HasAvx512F() { return false; }
bool HasAvx512Dq() { return false; }
#endif

}  // namespace

bool CpuHasAvx2() {
  static const bool has = HasAvx2() && Allowed(VectorIsa::kAvx2);
  return has;
}

bool CpuHasAvx512() {
  static const bool has = HasAvx512F() && Allowed(VectorIsa::kAvx512);
  return has;
}

bool CpuHasAvx512Dq() {
  static const bool has = HasAvx512Dq() && Allowed(VectorIsa::kAvx512);
  return has;
}

std::vector<VectorIsa> SupportedVectorIsas() {
  std::vector<VectorIsa> isas = {VectorIsa::kBaseline};
  if (HasAvx2()) isas.push_back(VectorIsa::kAvx2);
  if (HasAvx512Dq()) isas.push_back(VectorIsa::kAvx512);
  return isas;
}

VectorIsa BestVectorIsa() {
  static const VectorIsa best = CpuHasAvx512Dq() ? VectorIsa::kAvx512
                                : CpuHasAvx2()   ? VectorIsa::kAvx2
                                                 : VectorIsa::kBaseline;
  return best;
}

}  // namespace sigprop
