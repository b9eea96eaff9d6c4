#include "client/json_syntax.h"

#include <cctype>
#include <cstring>

namespace sigprop::cli {
namespace {

// Recursive descent over RFC 8259 JSON; nesting is bounded so hostile input cannot overflow the
// stack.
class Checker {
 public:
  explicit Checker(const std::string& text) : text_(text) {}

  JsonSyntaxError Run() {
    SkipSpace();
    if (!Value(0)) return error_;
    SkipSpace();
    if (pos_ != text_.size()) Fail("unexpected text after the JSON value");
    return error_;
  }

 private:
  // Each JSON array inside an axis value is two protobuf levels (Value, ListValue), and protobuf
  // refuses more than 100 levels without saying where; 32 JSON levels stay below that.
  static constexpr int kMaxDepth = 32;

  bool Fail(const std::string& message) {
    if (!error_.ok) return false;
    error_.ok = false;
    error_.message = message;
    error_.line = 1;
    error_.column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++error_.line;
        error_.column = 1;
      } else {
        ++error_.column;
      }
    }
    return false;
  }

  void SkipSpace() {
    // (strchr finds the terminating NUL too: a NUL byte is not white space.)
    while (pos_ < text_.size() && text_[pos_] != '\0' && std::strchr(" \t\r\n", text_[pos_]) != nullptr) {
      ++pos_;
    }
  }

  bool Expect(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return Fail(std::string("expected '") + c + "'");
  }

  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0) return Fail("invalid literal");
    pos_ += n;
    return true;
  }

  bool String() {
    if (!Expect('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) break;
        if (text_[pos_] == 'u') {
          int unit = 0;
          if (!Hex4(pos_ + 1, &unit)) return Fail("bad \\u escape");
          pos_ += 4;
          // UTF-16 surrogates come in pairs; a lone one is not a character (and not UTF-8).
          if (unit >= 0xDC00 && unit <= 0xDFFF) return Fail("lone low surrogate in a \\u escape");
          if (unit >= 0xD800 && unit <= 0xDBFF) {
            int low = 0;
            if (text_.compare(pos_ + 1, 2, "\\u") != 0 || !Hex4(pos_ + 3, &low) || low < 0xDC00 ||
                low > 0xDFFF) {
              return Fail("high surrogate in a \\u escape without its low half");
            }
            pos_ += 6;
          }
        } else if (text_[pos_] == '\0' || std::strchr("\"\\/bfnrt", text_[pos_]) == nullptr) {
          return Fail("bad escape");
        }
      }
      ++pos_;
    }
    return Fail("unterminated string");
  }

  // Four hex digits at `at` into *value.
  bool Hex4(size_t at, int* value) const {
    *value = 0;
    for (size_t k = 0; k < 4; ++k) {
      if (at + k >= text_.size()) return false;
      const char c = text_[at + k];
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
      *value = *value * 16 + (std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return true;
  }

  bool Digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return pos_ > start || Fail("expected a digit");
  }

  bool Number() {
    if (text_[pos_] == '-') ++pos_;
    if (pos_ + 1 < text_.size() && text_[pos_] == '0' &&
        std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
      return Fail("a number must not start with 0 (JSON has no octal)");
    }
    if (!Digits()) return false;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!Digits()) return false;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!Digits()) return false;
    }
    return true;
  }

  bool Value(int depth) {
    if (depth > kMaxDepth) return Fail("nesting deeper than 32 levels");
    if (pos_ >= text_.size()) return Fail("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{') return Object(depth);
    if (c == '[') return Array(depth);
    if (c == '"') return String();
    if (c == 't') return Literal("true");
    if (c == 'f') return Literal("false");
    if (c == 'n') return Literal("null");
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return Number();
    return Fail(std::string("unexpected character '") + c + "'");
  }

  bool Object(int depth) {
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a quoted key");
      if (!String()) return false;
      SkipSpace();
      if (!Expect(':')) return false;
      SkipSpace();
      if (!Value(depth + 1)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      return Expect('}');
    }
  }

  bool Array(int depth) {
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (!Value(depth + 1)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      return Expect(']');
    }
  }

  const std::string& text_;
  size_t pos_ = 0;
  JsonSyntaxError error_;
};

}  // namespace

JsonSyntaxError CheckJsonSyntax(const std::string& text) { return Checker(text).Run(); }

JsonSyntaxError CheckUtf8(const std::string& text) {
  JsonSyntaxError error;
  int line = 1, column = 1;
  for (size_t i = 0; i < text.size();) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char c = byte(i);
    size_t length = 1;
    unsigned char lo = 0x80, hi = 0xBF;  // Range of the second byte.
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;  // Overlong.
      if (c == 0xED) hi = 0x9F;  // Surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) lo = 0x90;  // Overlong.
      if (c == 0xF4) hi = 0x8F;  // Above U+10FFFF.
    } else {
      length = 0;
    }
    bool ok = length > 0 && i + length <= text.size();
    for (size_t k = 1; ok && k < length; ++k) {
      const unsigned char b = byte(i + k);
      ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    if (!ok) {
      error.ok = false;
      error.line = line;
      error.column = column;
      error.message = "invalid UTF-8";
      return error;
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += length;
  }
  return error;
}

}  // namespace sigprop::cli
