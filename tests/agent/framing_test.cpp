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

// A JSON-lines client that begins with whitespace or a UTF-8 byte order mark (some editors and
// HTTP-minded libraries send them) is still a JSON-lines client, even one byte at a time.
TEST(FramingTest, LeadingWhitespaceAndAByteOrderMarkStillChooseJsonLines) {
  for (std::string start : {" ", "\r\n", "\t \n", "\xEF\xBB\xBF", "\xEF\xBB\xBF \n"}) {
    FrameDecoder d;
    for (char c : start + "{\"request_id\":\"x\",\"get_agent_status\":{}}\n") {
      d.feed(std::string_view(&c, 1));
      if (c != '\n') {
        auto early = d.next();
        ASSERT_TRUE(early) << early.error().message;
        EXPECT_FALSE(*early);
      }
    }
    auto f = d.next();
    ASSERT_TRUE(f && *f) << "start " << ::testing::PrintToString(start);
    EXPECT_EQ(d.framing(), Framing::kJsonLines);
    auto r = decode_request(Framing::kJsonLines, **f);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->request_id(), "x");
  }
}

// Blank lines (CRLF ones too) between requests are skipped, however many: a megabyte of them
// is not a megabyte of errors, nor a deep recursion.
TEST(FramingTest, BlankLinesBetweenRequestsAreSkipped) {
  FrameDecoder d;
  d.feed("{\"request_id\":\"a\"}\r\n\r\n  \n" + std::string(1 << 20, '\n') +
         "{\"request_id\":\"b\"}\n\n");
  for (const char* id : {"a", "b"}) {
    auto f = d.next();
    ASSERT_TRUE(f && *f);
    EXPECT_EQ(decode_request(Framing::kJsonLines, **f)->request_id(), id);
  }
  auto end = d.next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
  EXPECT_EQ(d.buffered(), 0u);
}

// A first byte that starts neither framing (an HTTP client, a typo) is told so and the stream
// is given up, in the binary framing.
TEST(FramingTest, AFirstByteOfNeitherFramingIsRefused) {
  for (std::string start : {"GET / HTTP/1.1\r\n", "\x01\x00\x00\x00", "  [1]\n", "\xEF\xBB{"}) {
    FrameDecoder d;
    d.feed(start);
    auto f = d.next();
    ASSERT_FALSE(f) << ::testing::PrintToString(start);
    EXPECT_EQ(f.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(f.error().message.find("starts neither a binary frame"), std::string::npos)
        << f.error().message;
    EXPECT_EQ(d.framing(), Framing::kBinary);
  }
}

// A frame that does not parse as a Request still has its request_id echoed where it can be
// read, so an answer can be matched to its request without relying on order.
TEST(FramingTest, TheRequestIdOfARefusedFrameIsSalvagedWhereReadable) {
  const std::string unknown_field = R"({"request_id":"r-7","colour":"blue","validate":{}})";
  ASSERT_FALSE(decode_request(Framing::kJsonLines, unknown_field));
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, unknown_field), "r-7");
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, R"({"requestId":"r-8","till_id":5})"), "r-8");
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, R"({"request_id":7})"), "");
  EXPECT_EQ(
      salvage_request_id(Framing::kJsonLines, "{\"request_id\":\"" + std::string(65, 'x') + "\"}"),
      "")
      << "an id the agent would not accept is not echoed";
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, "{\"request_id\":\"a\\nb\"}"), "");
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, "not json"), "");
  // Only the top level's, after whatever comes first; strings holding brackets do not confuse it.
  EXPECT_EQ(
      salvage_request_id(Framing::kJsonLines,
                         R"({"validate":{"request_id":"inner"},"x":"[{","request_id":"top"})"),
      "top");
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, R"({"validate":{"request_id":"inner"}})"), "");
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, R"({"request_id":"a\"b"})"), "")
      << "an id written with escapes is not echoed";
  // 200,000 open brackets: one pass, no recursion, nothing found.
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, "{\"request_id\":" + std::string(200'000, '[')),
            "");
  EXPECT_EQ(salvage_request_id(Framing::kJsonLines, std::string(200'000, '{')), "");
  // Binary: a Request whose till_id holds invalid UTF-8 does not parse; its request_id does.
  pos::v1::Request req = request("r-9");
  req.set_till_id("till-XY");
  std::string bytes = req.SerializeAsString();
  bytes[bytes.find("till-XY") + 5] = '\xff';
  ASSERT_FALSE(decode_request(Framing::kBinary, bytes));
  EXPECT_EQ(salvage_request_id(Framing::kBinary, bytes), "r-9");
  req.set_request_id("id-XY");
  req.set_till_id("t1");
  bytes = req.SerializeAsString();
  bytes[bytes.find("id-XY") + 3] = '\xff';
  EXPECT_EQ(salvage_request_id(Framing::kBinary, bytes), "") << "invalid UTF-8 is not echoed";
  EXPECT_EQ(salvage_request_id(Framing::kBinary, "\xff\xff\xff"), "");
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
