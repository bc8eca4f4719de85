#include "agent/api/framing.h"

#include <google/protobuf/util/json_util.h>

namespace accrue::agent {

Result<std::optional<std::string>> FrameDecoder::next() {
  // Compact now and then, so a long-lived connection's buffer does not grow without bound.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  std::string_view avail(buffer_.data() + consumed_, buffer_.size() - consumed_);
  if (framing_ == Framing::kUndecided) {
    if (avail.empty()) return std::nullopt;
    framing_ = avail.front() == '{' ? Framing::kJsonLines : Framing::kBinary;
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
  // JSON lines
  size_t nl = avail.find('\n');
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
  std::string line(avail.substr(0, nl));
  consumed_ += nl + 1;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
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
          "request is not valid JSON for accrue.pos.v1.Request: " + std::string(st.message()));
    }
    return req;
  }
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(ErrorCode::kInvalidArgument, "frame is not a valid accrue.pos.v1.Request");
  }
  return req;
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
