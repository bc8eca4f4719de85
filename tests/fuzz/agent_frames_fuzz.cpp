// The till API's byte stream: framing decided by the first byte, frames split in whatever
// chunks the bytes arrive in, each payload decoded as a Request. Bounded: the decoder must
// consume or refuse, never loop.
#include "agent/api/framing.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace accrue::agent;
  if (size == 0) return 0;
  const auto in = accrue::fuzz::text(data, size);
  // The first byte also picks the chunk size the stream is fed in (1..16 bytes).
  const size_t chunk = 1 + static_cast<uint8_t>(in[0]) % 16;
  FrameDecoder decoder(64 * 1024);
  size_t fed = 0;
  for (size_t rounds = 0; rounds < size + 2; ++rounds) {
    if (fed < size) {
      const size_t n = std::min(chunk, size - fed);
      decoder.feed(in.substr(fed, n));
      fed += n;
    }
    auto frame = decoder.next();
    if (!frame) break;  // the stream cannot be trusted any further: the server closes
    if (!*frame) {
      if (fed == size) break;
      continue;
    }
    auto request = decode_request(decoder.framing(), **frame);
    if (request) {
      // What the server would answer in the same framing must encode.
      accrue::pos::v1::Response r;
      (void)encode_response(decoder.framing(), r);
    } else {
      // The id the error answer echoes: read from any bytes, in one pass.
      (void)salvage_request_id(decoder.framing(), **frame);
    }
  }
  return 0;
}
