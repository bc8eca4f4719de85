#include "agent/ctl/conformance.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <map>

namespace accrue::ctl {

namespace {

namespace gp = google::protobuf;
using Vars = std::map<std::string, std::string, std::less<>>;

Result<gp::Value> parse_json(std::string_view text, const std::string& what) {
  gp::Value v;
  auto st = gp::util::JsonStringToMessage(gp::StringPiece(text.data(), text.size()), &v);
  if (!st.ok()) {
    return fail(ErrorCode::kInvalidArgument, what + " is not JSON: " + std::string(st.message()));
  }
  return v;
}

std::string to_json(const gp::Message& m) {
  std::string out;
  gp::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)gp::util::MessageToJsonString(m, &out, o);
  return out;
}

const gp::Value* field(const gp::Value& v, std::string_view name) {
  if (v.kind_case() != gp::Value::kStructValue) return nullptr;
  auto it = v.struct_value().fields().find(std::string(name));
  return it == v.struct_value().fields().end() ? nullptr : &it->second;
}

std::optional<double> as_number(const gp::Value& v) {
  if (v.kind_case() == gp::Value::kNumberValue) return v.number_value();
  if (v.kind_case() != gp::Value::kStringValue) return std::nullopt;
  // The proto3 JSON mapping writes 64-bit integers as strings: "254" and 254 are one number.
  const auto& s = v.string_value();
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return d;
}

// Compares an answer with the expected shape: an object names the fields that must be there
// (others may be), "*" any present value, null an absent field, anything else that value.
void match(const gp::Value& want, const gp::Value* got, const std::string& path,
           std::vector<std::string>& diffs) {
  const bool absent = got == nullptr || got->kind_case() == gp::Value::kNullValue;
  switch (want.kind_case()) {
    case gp::Value::kNullValue:
      if (!absent) diffs.push_back(path + ": should be absent, is " + to_json(*got));
      return;
    case gp::Value::kStructValue:
      if (absent || got->kind_case() != gp::Value::kStructValue) {
        diffs.push_back(path + ": should be an object, is " + (absent ? "absent" : to_json(*got)));
        return;
      }
      for (const auto& [name, sub] : want.struct_value().fields()) {
        match(sub, field(*got, name), path.empty() ? name : path + "." + name, diffs);
      }
      return;
    case gp::Value::kListValue: {
      if (absent || got->kind_case() != gp::Value::kListValue ||
          got->list_value().values_size() != want.list_value().values_size()) {
        diffs.push_back(path + ": should be " + to_json(want) + ", is " +
                        (absent ? "absent" : to_json(*got)));
        return;
      }
      for (int i = 0; i < want.list_value().values_size(); ++i) {
        match(want.list_value().values(i), &got->list_value().values(i),
              path + "." + std::to_string(i), diffs);
      }
      return;
    }
    default:
      break;
  }
  if (want.kind_case() == gp::Value::kStringValue && want.string_value() == "*") {
    if (absent) diffs.push_back(path + ": should be present, is absent");
    return;
  }
  if (absent) {
    diffs.push_back(path + ": should be " + to_json(want) + ", is absent");
    return;
  }
  const auto wn = as_number(want), gn = as_number(*got);
  const bool same = (wn && gn) ? *wn == *gn : want.SerializeAsString() == got->SerializeAsString();
  if (!same) diffs.push_back(path + ": should be " + to_json(want) + ", is " + to_json(*got));
}

// ${name} replaced by its value; an unknown name is an error (a capture that failed earlier).
Result<std::string> substitute(std::string text, const Vars& vars) {
  size_t at = 0;
  while ((at = text.find("${", at)) != std::string::npos) {
    const size_t end = text.find('}', at);
    if (end == std::string::npos) break;
    const std::string name = text.substr(at + 2, end - at - 2);
    auto it = vars.find(name);
    if (it == vars.end()) {
      return fail(ErrorCode::kFailedPrecondition, "no value for ${" + name + "}");
    }
    text.replace(at, end - at + 1, it->second);
    at += it->second.size();
  }
  return text;
}

// A dotted path into an answer ("accrue.event_id", "transactions.0.event_id").
const gp::Value* at_path(const gp::Value& root, std::string_view path) {
  const gp::Value* v = &root;
  while (v != nullptr && !path.empty()) {
    const size_t dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    if (v->kind_case() == gp::Value::kListValue) {
      size_t i = 0;
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), i);
      if (ec != std::errc() || end != part.data() + part.size() ||
          i >= static_cast<size_t>(v->list_value().values_size())) {
        return nullptr;
      }
      v = &v->list_value().values(static_cast<int>(i));
    } else {
      v = field(*v, part);
    }
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  return v;
}

std::string text_of(const gp::Value* v) {
  if (v == nullptr) return {};
  if (v->kind_case() == gp::Value::kStringValue) return v->string_value();
  return to_json(*v);
}

struct Answer {
  std::string text;  // as the agent wrote it (binary: its proto3 JSON mapping)
  gp::Value json;
};

// Sends one case's request and returns its answer, or why there is none.
Result<Answer> exchange(const ConformanceOptions& o, const std::string& request_json,
                        bool raw_line) {
  ACCRUE_ASSIGN_OR_RETURN(auto client, o.connect());
  if (o.framing == agent::Framing::kJsonLines) {
    // Sent as written (a raw line keeps its bytes: a byte order mark, CRLF, blank lines).
    ACCRUE_TRY(client.send_bytes(raw_line ? request_json : request_json + "\n"));
    ACCRUE_ASSIGN_OR_RETURN(auto line, client.read_frame());
    if (client.framing() != agent::Framing::kJsonLines) {
      return fail(ErrorCode::kFailedPrecondition,
                  "the answer to a JSON line came as a binary frame");
    }
    ACCRUE_ASSIGN_OR_RETURN(auto json, parse_json(line, "the answer"));
    return Answer{std::move(line), std::move(json)};
  }
  pos::v1::Request req;
  gp::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  auto st = gp::util::JsonStringToMessage(request_json, &req, strict);
  if (!st.ok()) {
    return fail(ErrorCode::kInvalidArgument,
                "the case's request is not a Request: " + std::string(st.message()));
  }
  ACCRUE_ASSIGN_OR_RETURN(auto response, client.call(req));
  std::string text = to_json(response);
  ACCRUE_ASSIGN_OR_RETURN(auto json, parse_json(text, "the answer"));
  return Answer{std::move(text), std::move(json)};
}

// A request for --show: as a Request in field order where it is one, else as sent.
std::string readable(const std::string& request_json, bool raw_line) {
  pos::v1::Request req;
  if (!raw_line && gp::util::JsonStringToMessage(request_json, &req).ok()) return to_json(req);
  return raw_line ? request_json.substr(0, request_json.find_last_not_of("\r\n") + 1)
                  : request_json;
}

}  // namespace

Result<ConformanceReport> run_conformance(std::string_view cases_json,
                                          const ConformanceOptions& o) {
  ACCRUE_ASSIGN_OR_RETURN(auto root, parse_json(cases_json, "the cases file"));
  const gp::Value* cases = field(root, "cases");
  if (cases == nullptr || cases->kind_case() != gp::Value::kListValue) {
    return fail(ErrorCode::kInvalidArgument, "the cases file has no \"cases\" list");
  }
  const char* framing_name = o.framing == agent::Framing::kJsonLines ? "json" : "binary";
  Vars vars{{"run", o.run_token}};
  ConformanceReport report;
  for (int i = 0; i < cases->list_value().values_size(); ++i) {
    const gp::Value& c = cases->list_value().values(i);
    const gp::Value* name = field(c, "name");
    const gp::Value* send = field(c, "send");
    const gp::Value* line = field(c, "send_line");
    const gp::Value* expect = field(c, "expect");
    if (name == nullptr || name->kind_case() != gp::Value::kStringValue || expect == nullptr ||
        (send == nullptr) == (line == nullptr)) {
      return fail(ErrorCode::kInvalidArgument,
                  "case " + std::to_string(i + 1) +
                      ": needs a \"name\", an \"expect\" and one of \"send\" or \"send_line\"");
    }
    if (const auto* only = field(c, "framing");
        (only != nullptr && text_of(only) != framing_name) ||
        (line != nullptr && o.framing != agent::Framing::kJsonLines)) {
      ++report.skipped;
      continue;
    }
    auto failed = [&](const std::string& why) {
      report.failures.push_back(name->string_value() + "\n    " + why);
    };
    auto request = substitute(line != nullptr ? line->string_value() : to_json(*send), vars);
    if (!request) {
      failed(request.error().message);
      continue;
    }
    auto want = substitute(to_json(*expect), vars);
    auto expected =
        want ? parse_json(*want, "expect") : Result<gp::Value>(std::unexpected(want.error()));
    if (!expected) {
      failed(expected.error().message);
      continue;
    }
    auto answer = exchange(o, *request, line != nullptr);
    if (o.show != nullptr) {
      *o.show << "### " << name->string_value() << "\n"
              << readable(*request, line != nullptr) << "\n"
              << (answer ? answer->text : answer.error().message) << "\n\n";
    }
    if (!answer) {
      failed(answer.error().message);
      continue;
    }
    std::vector<std::string> diffs;
    match(*expected, &answer->json, "", diffs);
    if (!diffs.empty()) {
      std::string why;
      for (const auto& d : diffs) why += d + "\n    ";
      failed(why + "answer: " + answer->text);
      continue;
    }
    if (const auto* capture = field(c, "capture");
        capture != nullptr && capture->kind_case() == gp::Value::kStructValue) {
      for (const auto& [var, path] : capture->struct_value().fields()) {
        if (const auto* v = at_path(answer->json, path.string_value())) vars[var] = text_of(v);
      }
    }
    ++report.passed;
  }
  return report;
}

}  // namespace accrue::ctl
