#include "cloud/hq/json_input.h"

#include <algorithm>
#include <charconv>

#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace json = boost::json;

Result<json::object> parse_json_object(std::string_view body, size_t max_depth) {
  json::parse_options opt;
  opt.max_depth = max_depth;
  std::error_code ec;
  json::value v = json::parse(body, ec, {}, opt);
  if (ec) {
    return fail(ErrorCode::kInvalidArgument, "the body is not JSON: " + ec.message());
  }
  if (!v.is_object()) return fail(ErrorCode::kInvalidArgument, "the body must be a JSON object");
  return std::move(v.as_object());
}

void FieldErrors::add(std::string pointer, std::string detail) {
  items_.emplace_back(std::move(pointer), std::move(detail));
}

json::array FieldErrors::to_json() const {
  json::array out;
  for (size_t i = 0; i < items_.size() && i < 50; ++i) {
    out.push_back(json::object{{"field", items_[i].first}, {"detail", items_[i].second}});
  }
  return out;
}

std::string FieldErrors::summary() const {
  if (items_.empty()) return "";
  std::string field = items_[0].first.empty() ? "body" : items_[0].first.substr(1);
  std::string s = field + ": " + items_[0].second;
  if (items_.size() > 1) s += " (and " + std::to_string(items_.size() - 1) + " more)";
  return s;
}

std::optional<size_t> utf8_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return std::nullopt;
    }
    i += len;
    ++n;
  }
  return n;
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)
  auto num = [&](size_t pos, size_t len, int& out) {
    if (pos + len > s.size()) return false;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc() && p == s.data() + pos + len;
  };
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) ||
      !num(17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t digits = 0;
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (size_t k = digits; k < 3; ++k) ms *= 10;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    int oh, om;
    if (!num(pos + 1, 2, oh) || !num(pos + 4, 2, om) || oh > 23 || om > 59) return std::nullopt;
    offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t days = days_from_civil(y, mo, d);
  return ((days * 24 + h) * 60 + mi - offset_min) * 60'000 + std::min(sec, 59) * 1000LL + ms;
}

ObjectReader::ObjectReader(const json::object& o, FieldErrors& errors, std::string pointer)
    : o_(o), errors_(errors), pointer_(std::move(pointer)) {}

std::string ObjectReader::pointer(std::string_view key) const {
  return pointer_ + "/" + std::string(key);
}

bool ObjectReader::has(std::string_view key) const { return o_.contains(key); }

bool ObjectReader::is_null(std::string_view key) const {
  auto it = o_.find(key);
  return it != o_.end() && it->value().is_null();
}

const json::value* ObjectReader::find(std::string_view key, bool required) {
  known_.emplace_back(key);
  auto it = o_.find(key);
  if (it == o_.end()) {
    if (required) errors_.add(pointer(key), "is required");
    return nullptr;
  }
  return &it->value();
}

std::optional<std::string> ObjectReader::string(std::string_view key, StringRule rule) {
  const json::value* v = find(key, rule.required);
  if (!v) return std::nullopt;
  if (v->is_null()) {
    if (!rule.nullable)
      errors_.add(pointer(key), rule.required ? "is required" : "may not be null");
    return std::nullopt;
  }
  if (!v->is_string()) {
    errors_.add(pointer(key), "must be a string");
    return std::nullopt;
  }
  std::string_view s = v->as_string();
  auto len = utf8_length(s);
  if (!len) {
    errors_.add(pointer(key), "is not valid UTF-8");
    return std::nullopt;
  }
  if (std::ranges::any_of(s, [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    errors_.add(pointer(key), "may not contain control characters");
    return std::nullopt;
  }
  if (*len < rule.min || *len > rule.max) {
    errors_.add(pointer(key), rule.min == rule.max
                                  ? "must be " + std::to_string(rule.min) + " characters long"
                                  : "must be " + std::to_string(rule.min) + " to " +
                                        std::to_string(rule.max) + " characters long");
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<int64_t> ObjectReader::integer(std::string_view key, IntRule rule) {
  const json::value* v = find(key, rule.required);
  if (!v) return std::nullopt;
  int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    n = static_cast<int64_t>(v->as_uint64());
  } else {
    errors_.add(pointer(key), "must be a whole number");
    return std::nullopt;
  }
  if (n < rule.min || n > rule.max) {
    errors_.add(pointer(key),
                "must be from " + std::to_string(rule.min) + " to " + std::to_string(rule.max));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> ObjectReader::boolean(std::string_view key, bool required) {
  const json::value* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_bool()) {
    errors_.add(pointer(key), "must be true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::string> ObjectReader::one_of(std::string_view key,
                                                std::initializer_list<std::string_view> allowed,
                                                bool required) {
  auto s = string(key, {.required = required, .max = 64});
  if (!s) return std::nullopt;
  if (std::ranges::find(allowed, std::string_view(*s)) == allowed.end()) {
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    errors_.add(pointer(key), "must be one of: " + list);
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> ObjectReader::timestamp(std::string_view key, bool required) {
  auto s = string(key, {.required = required, .max = 40});
  if (!s) return std::nullopt;
  auto ms = parse_rfc3339_ms(*s);
  if (!ms) errors_.add(pointer(key), "must be an RFC 3339 date-time, e.g. 2026-11-29T10:00:00Z");
  return ms;
}

const json::object* ObjectReader::object(std::string_view key, bool required) {
  const json::value* v = find(key, required);
  if (!v) return nullptr;
  if (!v->is_object()) {
    errors_.add(pointer(key), "must be an object");
    return nullptr;
  }
  return &v->as_object();
}

const json::array* ObjectReader::array(std::string_view key, size_t max_items, bool required) {
  const json::value* v = find(key, required);
  if (!v) return nullptr;
  if (!v->is_array()) {
    errors_.add(pointer(key), "must be an array");
    return nullptr;
  }
  if (v->as_array().size() > max_items) {
    errors_.add(pointer(key), "at most " + std::to_string(max_items) + " items");
    return nullptr;
  }
  return &v->as_array();
}

void ObjectReader::finish() {
  for (const auto& kv : o_) {
    if (std::ranges::find(known_, std::string_view(kv.key())) == known_.end()) {
      errors_.add(pointer(kv.key()), "is not a field of this operation");
    }
  }
}

}  // namespace accrue::cloud::hq
