// Coupon codes: signed by the cloud, checked at any store without a lookup (common/coupon.h).
#include "common/coupon.h"

#include <gtest/gtest.h>

#include "common/base32.h"
#include "common/sealed_contact.h"

namespace accrue {
namespace {

constexpr TimestampMs kNow = 1'798'113'600'000;  // 2026-12-24T12:00Z

Uuid id(uint8_t b) {
  std::array<uint8_t, 16> bytes{};
  bytes.fill(b);
  bytes[6] = 0x40 | (b & 0x0f);
  return Uuid(bytes);
}

struct Keys {
  CouponSigner signer;
  CouponVerifier verifier;
};

Keys keys(uint32_t key_id = 7) {
  auto signer = CouponSigner::from_pem(*make_coupon_key_pem(), key_id);
  EXPECT_TRUE(signer) << signer.error().message;
  CouponVerifier verifier;
  EXPECT_TRUE(verifier.add_key(key_id, signer->public_key()));
  return {std::move(*signer), std::move(verifier)};
}

CouponClaims claims() { return {0, id(1), id(2), kNow + 30LL * 86'400'000, "five-off"}; }

std::string refusal_of(const Result<CouponClaims>& r) { return r ? "" : r.error().message_id; }

TEST(Base32Test, RoundTripsAndReadsWhatPeopleType) {
  for (std::string bytes :
       {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("foob"),
        std::string("fooba"), std::string("foobar"), std::string("\x00\xff\x10\x80\x7f", 5)}) {
    auto back = base32_decode(base32_encode(bytes));
    ASSERT_TRUE(back) << bytes;
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(base32_encode("foobar"), "CSQPYRK1E8");
  EXPECT_EQ(*base32_decode("csqp-yrkl e8"), "foobar") << "lower case, groups, l for 1";
  EXPECT_EQ(*base32_decode("CSQPYRK1E8"), *base32_decode("CSQPYRKIE8")) << "I reads as 1";
  EXPECT_FALSE(base32_decode("CSQPYRK1EU")) << "U is not in the alphabet";
  EXPECT_FALSE(base32_decode("C")) << "one digit is no byte";
  EXPECT_FALSE(base32_decode("CT")) << "trailing bits must be zero";
}

TEST(CouponTest, ACodeSaysWhatWasSigned) {
  auto k = keys();
  auto code = k.signer.sign(claims());
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_LE(code->size(), 200u) << "fits a QR code comfortably";
  auto c = k.verifier.verify(*code, kNow);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->key_id, 7u);
  EXPECT_EQ(c->coupon_id, id(1));
  EXPECT_EQ(c->member_id, id(2));
  EXPECT_EQ(c->expires_at_ms, claims().expires_at_ms);
  EXPECT_EQ(c->reward_id, "five-off");
  // As a person keys it: lower case, in groups of five.
  std::string keyed;
  for (size_t i = 0; i < code->size(); ++i) {
    if (i > 0 && i % 5 == 0) keyed += '-';
    keyed += static_cast<char>(std::tolower(static_cast<unsigned char>((*code)[i])));
  }
  EXPECT_TRUE(k.verifier.verify(keyed, kNow));
  // A bearer coupon of a campaign batch names no member.
  auto bearer = claims();
  bearer.member_id.reset();
  auto b = k.verifier.verify(*k.signer.sign(bearer), kNow);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->member_id);
}

TEST(CouponTest, ForgedAlteredExpiredAndForeignCodesAreRefused) {
  auto k = keys();
  const std::string code = *k.signer.sign(claims());
  // Any changed byte, in the claims or in the signature.
  const std::string raw = *base32_decode(code);
  for (size_t at : {size_t{5}, size_t{30}, size_t{40}, size_t{50}, raw.size() - 1}) {
    std::string altered = raw;
    altered[at] = static_cast<char>(altered[at] ^ 0x01);
    EXPECT_EQ(refusal_of(k.verifier.verify(base32_encode(altered), kNow)), "coupon.forged") << at;
  }
  // A longer expiry written in by hand.
  {
    std::string later = raw;
    later[37 + 3] = static_cast<char>(later[37 + 3] + 1);
    EXPECT_EQ(refusal_of(k.verifier.verify(base32_encode(later), kNow)), "coupon.forged");
  }
  // Signed by another key under the same key id.
  auto other = keys(7);
  EXPECT_EQ(refusal_of(k.verifier.verify(*other.signer.sign(claims()), kNow)), "coupon.forged");
  // A key id this store has not received.
  auto rotated = keys(8);
  auto unknown = k.verifier.verify(*rotated.signer.sign(claims()), kNow);
  EXPECT_EQ(refusal_of(unknown), "coupon.unknown_key");
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnavailable) << "retryable: the feed brings it";
  // Expired: the expiry instant itself is too late.
  auto expired = k.verifier.verify(code, claims().expires_at_ms);
  EXPECT_EQ(refusal_of(expired), "coupon.expired");
  EXPECT_TRUE(k.verifier.verify(code, claims().expires_at_ms - 1));
  // Not a code at all, truncated, padded, too long.
  for (std::string bad :
       {std::string(""), std::string("hello"), code.substr(0, code.size() - 2), code + "00",
        std::string(kMaxCouponCodeChars + 1, '0'), std::string("\xff\xfe")}) {
    EXPECT_EQ(refusal_of(k.verifier.verify(bad, kNow)), "coupon.malformed") << bad.size();
  }
}

TEST(CouponTest, SigningChecksWhatItSigns) {
  auto k = keys();
  auto c = claims();
  c.reward_id = std::string(41, 'r');
  EXPECT_FALSE(k.signer.sign(c));
  c = claims();
  c.coupon_id = Uuid{};
  EXPECT_FALSE(k.signer.sign(c));
  EXPECT_FALSE(CouponSigner::from_pem("not a key", 1));
  auto x25519 = make_contact_key_pem();  // a key, but not a signing one
  ASSERT_TRUE(x25519);
  EXPECT_FALSE(CouponSigner::from_pem(*x25519, 1));
}

}  // namespace
}  // namespace accrue
