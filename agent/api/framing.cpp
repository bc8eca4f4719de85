#include "agent/api/framing.h"

#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>
#include <algorithm>
#include <cstdio>

namespace accrue::agent {

namespace {

constexpr bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace

Result<std::optional<std::string>> FrameDecoder::next() {
  // Compact now and then, so a long-lived connection's buffer does not grow without bound.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  std::string_view avail(buffer_.data() + consumed_, buffer_.size() - consumed_);
  if (framing_ == Framing::kUndecided) {
    // A binary frame starts with its length's high byte, 0 for any frame within the limit. A
    // JSON-lines client may send whitespace or a UTF-8 byte order mark before its first '{'.
    if (avail.empty()) return std::nullopt;
    if (avail.front() == '\0') {
      framing_ = Framing::kBinary;
    } else {
      size_t skip = 0;
      while (skip < avail.size() && is_json_space(avail[skip])) ++skip;
      if (skip == 0 && avail.starts_with(kUtf8Bom.substr(0, std::min(avail.size(), size_t{3})))) {
        if (avail.size() < kUtf8Bom.size()) return std::nullopt;  // the rest of the mark
        skip = kUtf8Bom.size();
        while (skip < avail.size() && is_json_space(avail[skip])) ++skip;
      }
      consumed_ += skip;
      avail.remove_prefix(skip);
      if (avail.empty()) return std::nullopt;
      if (avail.front() != '{') {
        // Neither framing: answered in the binary one (the client has not shown it reads JSON).
        framing_ = Framing::kBinary;
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(avail.front()));
        return fail(ErrorCode::kInvalidArgument,
                    std::string("the connection began with byte ") + hex +
                        ", which starts neither a binary frame (a 4-byte length, first byte 0x00) "
                        "nor a JSON line ('{'); closing the connection");
      }
      framing_ = Framing::kJsonLines;
    }
  }
  if (framing_ == Framing::kBinary) {
    if (avail.size() < 4) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(avail.data());
    const size_t len = static_cast<size_t>(p[0]) << 24 | static_cast<size_t>(p[1]) << 16 |
                       static_cast<size_t>(p[2]) << 8 | p[3];
    if (len > max_frame_) {
      return fail(ErrorCode::kInvalidArgument,
                  "frame of " + std::to_string(len) + " bytes is over the limit of " +
                      std::to_string(max_frame_) + " bytes; closing the connection");
    }
    if (avail.size() < 4 + len) return std::nullopt;
    consumed_ += 4 + len;
    return std::string(avail.substr(4, len));
  }
  // JSON lines. A blank line between requests is not a request: skipped, as JSON-lines readers
  // do (in a loop: a megabyte of newlines is many blank lines).
  for (;;) {
    const size_t nl = avail.find('\n');
    if (nl == std::string_view::npos) {
      if (avail.size() > max_frame_) {
        return fail(ErrorCode::kInvalidArgument, "line longer than " + std::to_string(max_frame_) +
                                                     " bytes; closing the connection");
      }
      return std::nullopt;
    }
    if (nl > max_frame_) {
      return fail(ErrorCode::kInvalidArgument, "line longer than " + std::to_string(max_frame_) +
                                                   " bytes; closing the connection");
    }
    std::string_view line = avail.substr(0, nl);
    consumed_ += nl + 1;
    avail.remove_prefix(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!std::all_of(line.begin(), line.end(), is_json_space)) return std::string(line);
  }
}

Result<pos::v1::Request> decode_request(Framing framing, std::string_view payload) {
  pos::v1::Request req;
  if (framing == Framing::kJsonLines) {
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    auto st = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(payload.data(), payload.size()), &req, opts);
    if (!st.ok()) {
      return fail(
          ErrorCode::kInvalidArgument,
          "The till sent a request the loyalty agent cannot read: " + std::string(st.message()));
    }
    return req;
  }
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(ErrorCode::kInvalidArgument,
                "The till sent a request the loyalty agent cannot read: not a Request message.");
  }
  return req;
}

namespace {

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xe  ? 3
                     : (c >> 3) == 0x1e ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// What a request_id may be to be echoed: what the service accepts (at most 64 characters, no
// control characters), in valid UTF-8.
std::string echoable(std::string id) {
  if (id.size() > 64 || !valid_utf8(id)) return {};
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return {};
  }
  return id;
}

// The string value of a top-level "request_id" / "requestId" member of a JSON object, read in
// one pass without recursion (the frame may be 200,000 open brackets deep) and without decoding
// escapes (an id written with escapes is not echoed). nullopt when there is none.
std::optional<std::string> top_level_request_id(std::string_view json) {
  size_t depth = 0;
  size_t i = 0;
  const size_t n = json.size();
  // The string starting at json[i] == '"': its raw content, with i moved past its end.
  auto read_string = [&](bool& escaped) {
    std::string_view raw;
    const size_t start = ++i;
    escaped = false;
    while (i < n && json[i] != '"') {
      if (json[i] == '\\') {
        escaped = true;
        ++i;
      }
      ++i;
    }
    if (i >= n) return std::optional<std::string_view>{};
    raw = json.substr(start, i - start);
    ++i;
    return std::optional<std::string_view>{raw};
  };
  bool expect_key = false;
  while (i < n) {
    const char c = json[i];
    if (c == '{') {
      ++depth;
      expect_key = depth == 1;
      ++i;
    } else if (c == '[') {
      ++depth;
      ++i;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return std::nullopt;
      --depth;
      ++i;
    } else if (c == ',') {
      expect_key = depth == 1;
      ++i;
    } else if (c == '"') {
      bool escaped = false;
      auto s = read_string(escaped);
      if (!s) return std::nullopt;
      if (!expect_key) continue;
      expect_key = false;
      const bool wanted = !escaped && (*s == "request_id" || *s == "requestId");
      while (i < n && is_json_space(json[i])) ++i;
      if (i >= n || json[i] != ':') return std::nullopt;
      ++i;
      while (i < n && is_json_space(json[i])) ++i;
      if (!wanted) continue;
      if (i >= n || json[i] != '"') return std::nullopt;  // not a string: nothing to echo
      auto value = read_string(escaped);
      if (!value || escaped) return std::nullopt;
      return std::string(*value);
    } else {
      ++i;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string salvage_request_id(Framing framing, std::string_view payload) {
  if (framing == Framing::kJsonLines) {
    // Any JSON object: the frame failed as a Request (an unknown field, a wrong type), not
    // necessarily as JSON.
    auto id = top_level_request_id(payload);
    return id ? echoable(std::move(*id)) : std::string();
  }
  // Binary: the wire format read without the schema; request_id is field 1 of Request.
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return {};
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.number() == 1 && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      return echoable(f.length_delimited());
    }
  }
  return {};
}

namespace {
std::string encode(Framing framing, const google::protobuf::Message& m) {
  if (framing == Framing::kJsonLines) {
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(m, &json, opts);
    json += '\n';
    return json;
  }
  std::string body = m.SerializeAsString();
  std::string out(4, '\0');
  const size_t n = body.size();
  out[0] = static_cast<char>(n >> 24 & 0xff);
  out[1] = static_cast<char>(n >> 16 & 0xff);
  out[2] = static_cast<char>(n >> 8 & 0xff);
  out[3] = static_cast<char>(n & 0xff);
  return out + body;
}
}  // namespace

std::string encode_response(Framing framing, const pos::v1::Response& response) {
  return encode(framing, response);
}

std::string encode_request(Framing framing, const pos::v1::Request& request) {
  return encode(framing, request);
}

Result<pos::v1::Response> decode_response(Framing framing, std::string_view payload) {
  pos::v1::Response resp;
  if (framing == Framing::kJsonLines) {
    auto st = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(payload.data(), payload.size()), &resp);
    if (!st.ok()) return fail(ErrorCode::kInvalidArgument, "response is not valid JSON");
    return resp;
  }
  if (!resp.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(ErrorCode::kInvalidArgument, "response frame does not parse");
  }
  return resp;
}

}  // namespace accrue::agent
