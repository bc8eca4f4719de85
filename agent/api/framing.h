// The till API's framing (proto/README.md), independent of sockets: a connection's first byte
// picks binary frames (4-byte big-endian length + protobuf, so 0x00 first) or JSON lines ('{'
// first, after any whitespace or UTF-8 byte order mark).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "accrue/pos/v1/pos.pb.h"
#include "common/error.h"

namespace accrue::agent {

inline constexpr size_t kMaxFrameBytes = 1 << 20;

enum class Framing { kUndecided, kBinary, kJsonLines };

// Splits a byte stream into frames. Not thread-safe (one per connection).
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame = kMaxFrameBytes) : max_frame_(max_frame) {}

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete frame's payload; nullopt when more bytes are needed. An error means the
  // stream cannot be trusted any further (a frame over the limit): answer it and close.
  Result<std::optional<std::string>> next();
  Framing framing() const { return framing_; }
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  size_t max_frame_;
  Framing framing_ = Framing::kUndecided;
  std::string buffer_;
  size_t consumed_ = 0;
};

// Parses one frame's payload as a Request in the connection's framing. Errors are
// kInvalidArgument and leave the connection usable.
Result<pos::v1::Request> decode_request(Framing framing, std::string_view payload);
// The request_id of a frame that decode_request refused, where it can still be read (a JSON
// object's "request_id", field 1 of the binary message) and is one the agent would echo; "" when
// not. The error answer then carries it, so a client can match it to its request.
std::string salvage_request_id(Framing framing, std::string_view payload);
// The bytes that carry `response` in the connection's framing.
std::string encode_response(Framing framing, const pos::v1::Response& response);

// Client side, for accruectl and tests.
std::string encode_request(Framing framing, const pos::v1::Request& request);
Result<pos::v1::Response> decode_response(Framing framing, std::string_view payload);

}  // namespace accrue::agent
