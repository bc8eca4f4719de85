// The OpenAPI document as the tests read it: cloud/openapi/openapi.yaml loaded with yaml-cpp into
// Boost.JSON values, the operations it lists, and a validator for the subset of JSON Schema the
// document uses ($ref, oneOf, type (with "null"), enum, required, properties,
// additionalProperties: false, items, minimum/maximum, minItems/maxItems). Every response a test
// receives can be checked against the schema the document gives for its path, method and status.
#pragma once

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

namespace accrue::testing {

namespace json = boost::json;

inline json::value yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& x : n) a.push_back(yaml_to_json(x));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return json::value(s);  // quoted: a string whatever it looks like
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      int64_t i = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec == std::errc() && p == s.data() + s.size()) return i;
      return json::value(s);
    }
    default:
      return nullptr;
  }
}

inline json::object load_openapi(const std::string& path = "cloud/openapi/openapi.yaml") {
  return yaml_to_json(YAML::LoadFile(path)).as_object();
}

struct Operation {
  std::string method;              // lower case: get, post, ...
  std::string path;                // "/v1/customers/{id}"
  std::vector<std::string> roles;  // x-roles; empty: not a head-office route
  bool is_public = false;          // security: []
  bool store = false;              // store credentials
};

inline std::vector<Operation> operations(const json::object& doc) {
  std::vector<Operation> out;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      Operation o{std::string(method), std::string(path), {}, false, false};
      const auto& obj = op.as_object();
      if (const auto* r = obj.if_contains("x-roles")) {
        for (const auto& x : r->as_array()) o.roles.emplace_back(x.as_string());
      }
      if (const auto* s = obj.if_contains("security")) {
        o.is_public = s->as_array().empty();
        o.store = !o.is_public && o.roles.empty();
      }
      out.push_back(std::move(o));
    }
  }
  return out;
}

class SchemaValidator {
 public:
  explicit SchemaValidator(const json::object& doc) : doc_(doc) {}

  // Problems with `v` against `schema` (empty: valid).
  std::vector<std::string> check(const json::value& schema, const json::value& v) const {
    std::vector<std::string> errors;
    validate(schema, v, "", errors);
    return errors;
  }

  // The schema of a response, or nullopt when the document has none for it.
  std::optional<json::value> response_schema(const std::string& path, const std::string& method,
                                             int status, const std::string& content_type) const {
    const auto* item = doc_.at("paths").as_object().if_contains(path);
    if (!item) return std::nullopt;
    const auto* op = item->as_object().if_contains(method);
    if (!op) return std::nullopt;
    const auto* r = op->as_object().at("responses").as_object().if_contains(std::to_string(status));
    if (!r) return std::nullopt;
    json::value resp = resolve(*r);
    const auto* content = resp.as_object().if_contains("content");
    if (!content) return std::nullopt;
    const auto* media = content->as_object().if_contains(content_type);
    if (!media) return std::nullopt;
    return media->as_object().at("schema");
  }
  bool has_response(const std::string& path, const std::string& method, int status) const {
    const auto* item = doc_.at("paths").as_object().if_contains(path);
    if (!item) return false;
    const auto* op = item->as_object().if_contains(method);
    return op && op->as_object().at("responses").as_object().contains(std::to_string(status));
  }

 private:
  json::value resolve(const json::value& s) const {
    if (!s.is_object()) return s;
    const auto* ref = s.as_object().if_contains("$ref");
    if (!ref) return s;
    std::string r(ref->as_string());  // "#/components/schemas/X"
    const json::value* at = &doc_.at("components");
    std::string rest = r.substr(std::string("#/components/").size());
    size_t pos = 0;
    while (pos != std::string::npos) {
      auto slash = rest.find('/', pos);
      at = &at->as_object().at(rest.substr(pos, slash == std::string::npos ? slash : slash - pos));
      pos = slash == std::string::npos ? slash : slash + 1;
    }
    return resolve(*at);
  }

  static bool has_type(const json::value& v, std::string_view t) {
    if (t == "null") return v.is_null();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "boolean") return v.is_bool();
    if (t == "integer") return v.is_int64() || v.is_uint64();
    if (t == "number") return v.is_number();
    return false;
  }

  void validate(const json::value& raw, const json::value& v, const std::string& at,
                std::vector<std::string>& errors) const {
    const json::value s = resolve(raw);
    if (!s.is_object()) return;
    const auto& o = s.as_object();
    if (const auto* one = o.if_contains("oneOf")) {
      int matched = 0;
      for (const auto& alt : one->as_array()) {
        std::vector<std::string> e;
        validate(alt, v, at, e);
        if (e.empty()) ++matched;
      }
      if (matched != 1) errors.push_back(at + ": matches " + std::to_string(matched) + " of oneOf");
      return;
    }
    if (const auto* t = o.if_contains("type")) {
      bool ok = false;
      if (t->is_string()) {
        ok = has_type(v, t->as_string());
      } else {
        for (const auto& x : t->as_array()) ok = ok || has_type(v, x.as_string());
      }
      if (!ok) {
        errors.push_back(at + ": type " + json::serialize(*t) + " expected, got " +
                         json::serialize(v));
        return;
      }
    }
    if (const auto* e = o.if_contains("enum")) {
      bool found = false;
      for (const auto& x : e->as_array()) found = found || x == v;
      if (!found) errors.push_back(at + ": " + json::serialize(v) + " is not in the enum");
    }
    if (v.is_int64()) {
      if (const auto* m = o.if_contains("minimum"); m && v.as_int64() < m->to_number<int64_t>()) {
        errors.push_back(at + ": below the minimum");
      }
      if (const auto* m = o.if_contains("maximum"); m && v.as_int64() > m->to_number<int64_t>()) {
        errors.push_back(at + ": above the maximum");
      }
    }
    if (v.is_object()) {
      const auto& obj = v.as_object();
      const json::object* props = nullptr;
      if (const auto* p = o.if_contains("properties")) props = &p->as_object();
      if (const auto* req = o.if_contains("required")) {
        for (const auto& r : req->as_array()) {
          if (!obj.contains(r.as_string())) {
            errors.push_back(at + "/" + std::string(r.as_string()) + ": required, missing");
          }
        }
      }
      const auto* additional = o.if_contains("additionalProperties");
      for (const auto& [k, x] : obj) {
        const json::value* ps = props ? props->if_contains(k) : nullptr;
        if (ps) {
          validate(*ps, x, at + "/" + std::string(k), errors);
        } else if (additional && additional->is_bool() && !additional->as_bool()) {
          errors.push_back(at + "/" + std::string(k) + ": not in the schema");
        }
      }
    }
    if (v.is_array()) {
      if (const auto* items = o.if_contains("items")) {
        for (size_t i = 0; i < v.as_array().size(); ++i) {
          validate(*items, v.as_array()[i], at + "/" + std::to_string(i), errors);
        }
      }
    }
  }

  const json::object& doc_;
};

}  // namespace accrue::testing
