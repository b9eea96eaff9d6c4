#include "client/spec_io.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/json_syntax.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace sigprop::cli {
namespace {

class TextErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// "line:column" of the first occurrence of `"key"` in the text, for semantic errors that protobuf
// reports by field path only.
std::string LocateKey(const std::string& text, const std::string& key) {
  const size_t at = text.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  int line = 1, column = 1;
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return absl::StrCat(line, ":", column, ": ");
}

// Keys are user text: control characters in them (JSON allows "\u0000") are shown escaped.
std::string Printable(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", c));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The value names of the enum an 'invalid value "X" for type type.googleapis.com/NAME' message
// is about, joined by '|'; "" for any other message.
std::string EnumNamesOf(const std::string& message) {
  const std::string kType = "for type type.googleapis.com/";
  const size_t at = message.find(kType);
  if (message.rfind("invalid value \"", 0) != 0 || at == std::string::npos) return "";
  const google::protobuf::EnumDescriptor* type =
      google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(
          message.substr(at + kType.size()));
  if (type == nullptr) return "";
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
  return absl::StrJoin(names, "|");
}

// protobuf says "(base.model) modle: Cannot find field." — we say "base.model.modle: unknown field".
std::string RewriteJsonError(const std::string& text, std::string message) {
  std::string path;
  if (!message.empty() && message[0] == '(') {
    const size_t close = message.find(')');
    if (close != std::string::npos) {
      path = message.substr(1, close - 1);
      message = message.substr(close + 1);
      while (!message.empty() && message[0] == ' ') message.erase(0, 1);
    }
  }
  const size_t colon = message.find(": Cannot find field");
  if (colon != std::string::npos) {
    const std::string key = message.substr(0, colon);
    // A key that is not a plain name is quoted, so the path stays readable.
    const bool plain = !key.empty() && key.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos;
    const std::string shown = plain ? key : absl::StrCat("\"", absl::CEscape(key), "\"");
    const std::string full = path.empty() ? shown : absl::StrCat(path, ".", shown);
    return absl::StrCat(LocateKey(text, key), full, ": unknown field");
  }
  while (!message.empty() && (message[0] == ':' || message[0] == ' ')) message.erase(0, 1);
  // protobuf says 'invalid value "SIGMOIDX" for type type.googleapis.com/sigprop.v1.…Kind' — we
  // say "base.model.attention.kind: 'SIGMOIDX' is not one of SOFTMAX|…", as axis values do.
  if (std::string names = EnumNamesOf(message); !names.empty()) {
    const size_t open = message.find('"'), close = message.find('"', open + 1);
    const std::string value = message.substr(open + 1, close - open - 1);
    const std::string leaf = path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
    return absl::StrCat(leaf.empty() ? "" : LocateKey(text, leaf), path.empty() ? "" : path + ": ",
                        "'", Printable(value), "' is not one of ", names);
  }
  if (path.empty() && message == "Proto fields must have a name.") {
    return absl::StrCat(LocateKey(text, ""), "\"\": a field name must not be empty");
  }
  // A type error found below the top level can come without its path ("...for type combine"):
  // name the field it gives.
  const std::string kForType = "for type ";
  const size_t for_type = message.rfind(kForType);
  if (path.empty() && for_type != std::string::npos) {
    const std::string field = message.substr(for_type + kForType.size());
    return absl::StrCat(LocateKey(text, field), Printable(field), ": ", message);
  }
  const std::string leaf = path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
  const std::string where = leaf.empty() ? "" : LocateKey(text, leaf);
  return absl::StrCat(where, path.empty() ? "" : path + ": ", message);
}

}  // namespace

absl::Status ParseSpecMessage(const std::string& text, const std::string& source,
                              google::protobuf::Message* spec) {
  if (const JsonSyntaxError utf8 = CheckUtf8(text); !utf8.ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", utf8.line, ":", utf8.column, ": ", utf8.message));
  }
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    const JsonSyntaxError syntax = CheckJsonSyntax(text);
    if (!syntax.ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", syntax.line, ":", syntax.column, ": ", syntax.message));
    }
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(text, spec, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", RewriteJsonError(text, std::string(status.message()))));
    }
    return absl::OkStatus();
  }
  google::protobuf::TextFormat::Parser parser;
  TextErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, spec)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", errors.first()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSpecText(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the spec file"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<v1::SweepSpec> ParseSweepSpec(const std::string& text, const std::string& source) {
  v1::SweepSpec spec;
  if (auto status = ParseSpecMessage(text, source, &spec); !status.ok()) return status;
  return spec;
}

absl::StatusOr<v1::SweepSpec> ReadSweepSpec(const std::string& path) {
  auto text = ReadSpecText(path);
  if (!text.ok()) return text.status();
  return ParseSweepSpec(*text, path);
}

}  // namespace sigprop::cli
