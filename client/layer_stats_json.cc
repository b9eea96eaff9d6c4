#include "client/layer_stats_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sigprop::cli {
namespace {

// Protobuf's rendering of a double in JSON: "NaN", "Infinity" and "-Infinity" as strings, else
// the %.15g form if it reads back as the same double, else %.17g (protobuf's SimpleDtoa).
// std::to_chars with a precision writes exactly what printf's %.*g writes, much faster.
void AppendDouble(double x, std::string* out) {
  if (std::isnan(x)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(x)) {
    out->append(x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char buffer[64];
  auto written = std::to_chars(buffer, buffer + sizeof(buffer), x, std::chars_format::general, 15);
  double back = 0.0;
  std::from_chars(buffer, written.ptr, back);
  if (back != x) {
    written = std::to_chars(buffer, buffer + sizeof(buffer), x, std::chars_format::general, 17);
  }
  out->append(buffer, written.ptr);
}

void AppendInt64(int64_t x, std::string* out) { absl::StrAppend(out, "\"", x, "\""); }

void AppendBool(bool x, std::string* out) { out->append(x ? "true" : "false"); }

// A repeated field as a JSON array, each element by `append`.
template <typename Repeated, typename Append>
void AppendArray(const Repeated& values, Append append, std::string* out) {
  out->push_back('[');
  bool first = true;
  for (const auto& x : values) {
    if (!first) out->push_back(',');
    first = false;
    append(x, out);
  }
  out->push_back(']');
}

// Keys this writer emits unescaped: protobuf's printer escapes nothing in them either.
bool PlainKey(const std::string& key) {
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
  });
}

void AppendKey(const std::string& key, std::string* out) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

// A map's entries sorted by key, as the deterministic binary encoding orders them.
template <typename Map>
std::vector<std::pair<const std::string*, const typename Map::mapped_type*>> Sorted(
    const Map& map) {
  std::vector<std::pair<const std::string*, const typename Map::mapped_type*>> entries;
  entries.reserve(map.size());
  for (const auto& [key, value] : map) entries.emplace_back(&key, &value);
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  return entries;
}

// A map as a JSON object, keys sorted, each value by `append`.
template <typename Map, typename Append>
void AppendObject(const Map& map, Append append, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const auto& [key, value] : Sorted(map)) {
    if (!first) out->push_back(',');
    first = false;
    AppendKey(*key, out);
    append(*value, out);
  }
  out->push_back('}');
}

void AppendHistogram(const v1::Histogram& h, std::string* out) {
  out->append("{\"lo\":");
  AppendDouble(h.lo(), out);
  out->append(",\"hi\":");
  AppendDouble(h.hi(), out);
  out->append(",\"counts\":");
  AppendArray(h.counts(), AppendInt64, out);
  out->append(",\"underflow\":");
  AppendInt64(h.underflow(), out);
  out->append(",\"overflow\":");
  AppendInt64(h.overflow(), out);
  out->push_back('}');
}

void AppendSummary(const v1::Summary& s, std::string* out) {
  out->append("{\"mean\":");
  AppendDouble(s.mean(), out);
  out->append(",\"stderr\":");
  AppendDouble(s.stderr(), out);
  out->append(",\"quantiles\":");
  AppendObject(s.quantiles(), AppendDouble, out);
  if (s.has_histogram()) {
    out->append(",\"histogram\":");
    AppendHistogram(s.histogram(), out);
  }
  out->append(",\"count\":");
  AppendInt64(s.count(), out);
  out->push_back('}');
}

bool Covered(const v1::LayerStats& row) {
  for (const auto& [name, summary] : row.stats()) {
    if (!PlainKey(name)) return false;
    for (const auto& [key, value] : summary.quantiles()) {
      if (!PlainKey(key)) return false;
    }
  }
  return true;
}

}  // namespace

bool AppendLayerStatsJson(const v1::LayerStats& row, std::string* out) {
  if (!Covered(row)) return false;
  absl::StrAppend(out, "{\"point\":", row.point(), ",\"layer\":", row.layer(), ",\"t\":");
  AppendDouble(row.t(), out);
  absl::StrAppend(out, ",\"samples\":", row.samples(), ",\"diverged_fraction\":");
  AppendDouble(row.diverged_fraction(), out);
  out->append(",\"stats\":");
  AppendObject(row.stats(), AppendSummary, out);
  out->append(",\"method\":");
  // An enum value by name, or by number where this build does not know it.
  const std::string& method = v1::RunSpec::Method_Name(row.method());
  if (method.empty()) {
    absl::StrAppend(out, static_cast<int>(row.method()));
  } else {
    absl::StrAppend(out, "\"", method, "\"");
  }
  out->append(",\"approximate\":");
  AppendBool(row.approximate(), out);
  out->append(",\"mean_covariance\":");
  AppendArray(row.mean_covariance(), AppendDouble, out);
  out->append(",\"provisional\":");
  AppendBool(row.provisional(), out);
  out->push_back('}');
  return true;
}

}  // namespace sigprop::cli
