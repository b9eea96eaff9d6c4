#include "common/sweep_expansion.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/struct.pb.h"

namespace sigprop {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Value;

std::string ValueText(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNumberValue: return absl::StrCat(value.number_value());
    case Value::kStringValue: return value.string_value();
    case Value::kBoolValue: return value.bool_value() ? "true" : "false";
    case Value::kNullValue: return "null";
    default: return "<list or object>";
  }
}

// Finds the leaf field of `path` in `root`, creating intermediate messages.
absl::StatusOr<std::pair<Message*, const FieldDescriptor*>> ResolvePath(
    Message* root, const std::string& path, const std::string& where) {
  Message* message = root;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(parts[i]);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": no field '", parts[i], "' in ", message->GetDescriptor()->name(), " (path '",
          path, "')"));
    }
    if (field->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": '", path, "' is a repeated field; sweep its elements' parent"));
    }
    if (i + 1 == parts.size()) {
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": '", path, "' is a message; name one of its scalar fields"));
      }
      return std::make_pair(message, field);
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": '", parts[i], "' in '", path, "' is not a message"));
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": empty field path"));
}

absl::Status NeedsNumber(const Value& value, const FieldDescriptor* field, const std::string& where) {
  if (value.kind_case() != Value::kNumberValue) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", field->name(),
                                                   " needs a number, got ", ValueText(value)));
  }
  if (!std::isfinite(value.number_value())) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": must be finite, got ",
                                                   ValueText(value)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Integer(const Value& value, const FieldDescriptor* field, double lo,
                                double hi, const std::string& where) {
  if (auto status = NeedsNumber(value, field, where); !status.ok()) return status;
  const double x = value.number_value();
  if (x != std::floor(x) || x < lo || x > hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", field->name(), " needs an integer in [", lo, ", ", hi, "], got ", x));
  }
  return static_cast<int64_t>(x);
}

absl::Status SetField(Message* message, const FieldDescriptor* field, const Value& value,
                      const std::string& where) {
  const auto* reflection = message->GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      if (auto status = NeedsNumber(value, field, where); !status.ok()) return status;
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        reflection->SetDouble(message, field, value.number_value());
      } else {
        reflection->SetFloat(message, field, static_cast<float>(value.number_value()));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      auto x = Integer(value, field, std::numeric_limits<int32_t>::min(),
                       std::numeric_limits<int32_t>::max(), where);
      if (!x.ok()) return x.status();
      reflection->SetInt32(message, field, static_cast<int32_t>(*x));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      // Doubles hold integers exactly up to 2^53.
      auto x = Integer(value, field, -9007199254740992.0, 9007199254740992.0, where);
      if (!x.ok()) return x.status();
      reflection->SetInt64(message, field, *x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      const double hi = field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32
                            ? static_cast<double>(std::numeric_limits<uint32_t>::max())
                            : 9007199254740992.0;
      auto x = Integer(value, field, 0, hi, where);
      if (!x.ok()) return x.status();
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        reflection->SetUInt32(message, field, static_cast<uint32_t>(*x));
      } else {
        reflection->SetUInt64(message, field, static_cast<uint64_t>(*x));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (value.kind_case() != Value::kBoolValue) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", field->name(),
                                                       " needs true or false, got ",
                                                       ValueText(value)));
      }
      reflection->SetBool(message, field, value.bool_value());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_ENUM: {
      if (value.kind_case() != Value::kStringValue) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", field->name(),
                                                       " needs an enum name, got ",
                                                       ValueText(value)));
      }
      const auto* enum_value = field->enum_type()->FindValueByName(value.string_value());
      if (enum_value == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < field->enum_type()->value_count(); ++i) {
          names.push_back(field->enum_type()->value(i)->name());
        }
        return absl::InvalidArgumentError(absl::StrCat(where, ": '", value.string_value(),
                                                       "' is not one of ",
                                                       absl::StrJoin(names, "|")));
      }
      reflection->SetEnum(message, field, enum_value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING:
      if (value.kind_case() != Value::kStringValue) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", field->name(),
                                                       " needs a string, got ", ValueText(value)));
      }
      reflection->SetString(message, field, value.string_value());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": cannot set ", field->name()));
}

bool IsZip(const v1::SweepSpec& sweep) { return sweep.combine() == v1::SweepSpec::ZIP; }

}  // namespace

absl::StatusOr<int64_t> CountPoints(const v1::SweepSpec& sweep) {
  if (sweep.axes_size() == 0) return 1;
  for (int a = 0; a < sweep.axes_size(); ++a) {
    if (sweep.axes(a).values_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("axes[", a, "].values: empty"));
    }
  }
  if (IsZip(sweep)) {
    const int n = sweep.axes(0).values_size();
    for (int a = 1; a < sweep.axes_size(); ++a) {
      if (sweep.axes(a).values_size() != n) {
        return absl::InvalidArgumentError(absl::StrCat(
            "axes[", a, "].values: ZIP needs axes of equal length, got ",
            sweep.axes(a).values_size(), " values where axes[0] has ", n));
      }
    }
    return n;
  }
  // Saturate rather than overflow: a product over the limit only has to compare as too large.
  double total = 1.0;
  for (const auto& axis : sweep.axes()) total *= axis.values_size();
  return total > 9e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(total);
}

std::vector<int> AxisDigits(const v1::SweepSpec& sweep, int64_t point) {
  const int axes = sweep.axes_size();
  std::vector<int> digit(axes, 0);
  if (IsZip(sweep)) {
    for (int a = 0; a < axes; ++a) digit[a] = static_cast<int>(point);
    return digit;
  }
  int64_t rest = point;
  for (int a = axes - 1; a >= 0; --a) {
    const int size = sweep.axes(a).values_size();
    digit[a] = static_cast<int>(rest % size);
    rest /= size;
  }
  return digit;
}

absl::StatusOr<std::vector<SweepPoint>> ExpandSweep(const v1::SweepSpec& sweep) {
  auto count = CountPoints(sweep);
  if (!count.ok()) return count.status();
  // Check every axis path and value once, on a scratch copy, so errors name the axis.
  for (int a = 0; a < sweep.axes_size(); ++a) {
    const auto& axis = sweep.axes(a);
    for (int j = 0; j < axis.values_size(); ++j) {
      v1::RunSpec scratch = sweep.base();
      auto target = ResolvePath(&scratch, axis.field(), absl::StrCat("axes[", a, "].field"));
      if (!target.ok()) return target.status();
      if (auto status = SetField(target->first, target->second, axis.values(j),
                                 absl::StrCat("axes[", a, "].values[", j, "]"));
          !status.ok()) {
        return status;
      }
    }
  }
  std::vector<SweepPoint> points;
  points.reserve(static_cast<size_t>(*count));
  const int axes = sweep.axes_size();
  for (int64_t p = 0; p < *count; ++p) {
    const std::vector<int> digit = AxisDigits(sweep, p);
    SweepPoint point;
    point.index = static_cast<int>(p);
    point.digits = digit;
    point.spec = sweep.base();
    std::vector<std::string> label;
    for (int a = 0; a < axes; ++a) {
      const auto& axis = sweep.axes(a);
      auto target = ResolvePath(&point.spec, axis.field(), "");
      const Value& value = axis.values(digit[a]);
      // Paths and values were checked above; these calls cannot fail.
      (void)SetField(target->first, target->second, value, "");
      label.push_back(absl::StrCat(axis.field(), "=", ValueText(value)));
    }
    point.label = absl::StrJoin(label, ", ");
    points.push_back(std::move(point));
  }
  return points;
}

}  // namespace sigprop
