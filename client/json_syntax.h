// A JSON syntax check that reports the line and column of the first error. protobuf's JSON parser
// says what is wrong but not where; this pass runs first so a user sees "spec.json:7:12".
#ifndef SIGPROP_CLIENT_JSON_SYNTAX_H_
#define SIGPROP_CLIENT_JSON_SYNTAX_H_

#include <string>

namespace sigprop::cli {

struct JsonSyntaxError {
  bool ok = true;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
};

JsonSyntaxError CheckJsonSyntax(const std::string& text);

// The first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF). Spec strings are proto3 `string` fields, which must be UTF-8;
// protobuf's own parsers refuse them without saying where.
JsonSyntaxError CheckUtf8(const std::string& text);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_JSON_SYNTAX_H_
