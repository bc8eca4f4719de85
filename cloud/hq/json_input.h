// Strict reading of head-office JSON bodies. A body is parsed once (size- and depth-limited),
// then read field by field through an ObjectReader that knows which fields the operation
// accepts: every problem is collected with its JSON Pointer ("/identifiers/0/kind") and a
// sentence a person can act on, and a field the operation does not accept is an error, so a
// client can never set what it must not (a balance, a tier) by adding it to a body.
//
//   FieldErrors errors;
//   ObjectReader in(*doc, errors);
//   auto name = in.string("display_name", {.max = 200});
//   auto points = in.integer("points", {.required = true, .min = -1'000'000, .max = 1'000'000});
//   in.finish();                       // unknown fields
//   if (!errors.empty()) return 422 with errors.to_json()
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace accrue::cloud::hq {

// Parses a JSON body: kInvalidArgument ("the body is not JSON: ...") for malformed text, more
// than `max_depth` levels of nesting, or anything but an object at the top.
Result<boost::json::object> parse_json_object(std::string_view body, size_t max_depth = 16);

class FieldErrors {
 public:
  void add(std::string pointer, std::string detail);
  bool empty() const { return items_.empty(); }
  // [{"field": "/email", "detail": "..."}], at most 50 items.
  boost::json::array to_json() const;
  // "email: not an e-mail address (and 2 more)": for logs and single-line messages.
  std::string summary() const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct StringRule {
  bool required = false;
  size_t min = 0;  // characters (UTF-8 code points)
  size_t max = 256;
  bool nullable = false;  // null accepted (clears the field); read as an empty optional + null_
};
struct IntRule {
  bool required = false;
  int64_t min = INT64_MIN;
  int64_t max = INT64_MAX;
};

class ObjectReader {
 public:
  ObjectReader(const boost::json::object& o, FieldErrors& errors, std::string pointer = "");

  bool has(std::string_view key) const;
  // True when the field is present and null (a nullable field being cleared).
  bool is_null(std::string_view key) const;

  // Each returns nullopt when absent, null or invalid (the error is recorded).
  std::optional<std::string> string(std::string_view key, StringRule rule = {});
  std::optional<int64_t> integer(std::string_view key, IntRule rule = {});
  std::optional<bool> boolean(std::string_view key, bool required = false);
  // One of `allowed`.
  std::optional<std::string> one_of(std::string_view key,
                                    std::initializer_list<std::string_view> allowed,
                                    bool required = false);
  // An RFC 3339 timestamp ("2026-11-29T10:00:00Z" or with an offset), as unix milliseconds.
  std::optional<int64_t> timestamp(std::string_view key, bool required = false);
  // A nested object or array (nullopt when absent or not of that type, error recorded).
  const boost::json::object* object(std::string_view key, bool required = false);
  const boost::json::array* array(std::string_view key, size_t max_items, bool required = false);

  // Records an error for every field that was never asked for.
  void finish();
  std::string pointer(std::string_view key) const;
  FieldErrors& errors() { return errors_; }

 private:
  const boost::json::value* find(std::string_view key, bool required);

  const boost::json::object& o_;
  FieldErrors& errors_;
  std::string pointer_;
  std::vector<std::string> known_;
};

// Parses an RFC 3339 date-time to unix milliseconds (nullopt when it is not one).
std::optional<int64_t> parse_rfc3339_ms(std::string_view s);
// Number of UTF-8 code points; nullopt when `s` is not valid UTF-8.
std::optional<size_t> utf8_length(std::string_view s);

}  // namespace accrue::cloud::hq
