#include "agent/api/framing.h"

#include <gtest/gtest.h>

namespace accrue::agent {
namespace {

pos::v1::Request request(const std::string& id) {
  pos::v1::Request r;
  r.set_request_id(id);
  r.set_till_id("t1");
  r.mutable_get_agent_status();
  return r;
}

TEST(FramingTest, BinaryFramesSplitAcrossReads) {
  std::string bytes = encode_request(Framing::kBinary, request("a")) +
                      encode_request(Framing::kBinary, request("b"));
  FrameDecoder d;
  for (char c : bytes) d.feed(std::string_view(&c, 1));  // one byte at a time
  auto f1 = d.next();
  EXPECT_EQ(d.framing(), Framing::kBinary);
  ASSERT_TRUE(f1 && *f1);
  EXPECT_EQ(decode_request(Framing::kBinary, **f1)->request_id(), "a");
  auto f2 = d.next();
  ASSERT_TRUE(f2 && *f2);
  EXPECT_EQ(decode_request(Framing::kBinary, **f2)->request_id(), "b");
  EXPECT_FALSE(*d.next());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FramingTest, JsonLinesAreChosenByTheFirstByte) {
  FrameDecoder d;
  d.feed("{\"request_id\":\"x\",\"get_agent_status\":{}}\r\n{\"request_id\":\"y\"");
  EXPECT_EQ(d.framing(), Framing::kUndecided);
  auto f = d.next();
  EXPECT_EQ(d.framing(), Framing::kJsonLines);
  ASSERT_TRUE(f && *f);
  auto r = decode_request(Framing::kJsonLines, **f);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request_id(), "x");
  EXPECT_TRUE(r->has_get_agent_status());
  EXPECT_FALSE(*d.next());  // the second line is not complete yet
}

TEST(FramingTest, OversizedFramesBreakTheStream) {
  FrameDecoder d(1024);
  d.feed(std::string("\x00\x00\x04\x01", 4));  // 1025 bytes announced
  auto f = d.next();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::kInvalidArgument);
  FrameDecoder j(16);
  j.feed("{" + std::string(40, 'x'));
  EXPECT_FALSE(j.next());
}

TEST(FramingTest, BadPayloadsAreInvalidArguments) {
  EXPECT_EQ(decode_request(Framing::kBinary, "\xff\xff\xff").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(decode_request(Framing::kJsonLines, "{\"nope\": 1}").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(decode_request(Framing::kJsonLines, "[]").error().code, ErrorCode::kInvalidArgument);
}

TEST(FramingTest, ResponsesRoundTripInBothFramings) {
  pos::v1::Response resp;
  resp.set_request_id("r");
  resp.mutable_validate()->set_available_points(1234567890123);
  for (Framing f : {Framing::kBinary, Framing::kJsonLines}) {
    FrameDecoder d;
    d.feed(encode_response(f, resp));
    auto frame = d.next();
    ASSERT_TRUE(frame && *frame);
    auto back = decode_response(d.framing(), **frame);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->validate().available_points(), 1234567890123);
  }
}

}  // namespace
}  // namespace accrue::agent
