#include "cloud/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

namespace accrue::cloud::auth {
namespace {

namespace json = boost::json;
constexpr TimestampMs kNow = 1'795'880'000'000;  // 2026-11-28

std::string claims(int64_t exp_s, std::string iss = "https://hq.example",
                   std::string aud = "accrue", std::vector<std::string> roles = {"hq-support"}) {
  json::object c;
  c["iss"] = iss;
  c["aud"] = aud;
  c["sub"] = "ana@hq";
  c["exp"] = exp_s;
  json::array r;
  for (auto& x : roles) r.push_back(json::value(x));
  c["roles"] = r;
  return json::serialize(c);
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = make_dev_keys("k1");
    ASSERT_TRUE(keys);
    keys_ = *keys;
    path_ = std::filesystem::temp_directory_path() /
            ("accrue-jwks-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path_) << keys_.jwks_json;
    auto v = JwtVerifier::load(path_.string(), "https://hq.example", "accrue");
    ASSERT_TRUE(v) << v.error().message;
    verifier_ = std::make_unique<JwtVerifier>(std::move(*v));
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::string token(const std::string& c) { return *sign_es256(keys_.private_pem, "k1", c); }
  Result<Principal> check(const std::string& t) { return verifier_->verify(t, kNow); }

  DevKeys keys_;
  std::filesystem::path path_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST_F(JwtTest, AcceptsAValidTokenWithItsRoles) {
  auto p = check(token(claims(kNow / 1000 + 600, "https://hq.example", "accrue",
                              {"hq-support", "hq-analyst", "something-else"})));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->subject, "ana@hq");
  EXPECT_TRUE(p->roles.contains(Role::kSupport));
  EXPECT_TRUE(p->roles.contains(Role::kAnalyst));
  EXPECT_FALSE(p->roles.contains(Role::kAdmin));
  EXPECT_EQ(p->roles.size(), 2u) << "unknown roles are ignored";
}

TEST_F(JwtTest, RefusesExpiredWrongIssuerWrongAudienceAndTampering) {
  EXPECT_EQ(check(token(claims(kNow / 1000 - 120))).error().message, "token expired");
  EXPECT_TRUE(check(token(claims(kNow / 1000 - 30)))) << "within the clock leeway";
  EXPECT_EQ(check(token(claims(kNow / 1000 + 600, "https://evil"))).error().message,
            "wrong issuer");
  EXPECT_EQ(check(token(claims(kNow / 1000 + 600, "https://hq.example", "other"))).error().message,
            "wrong audience");
  std::string t = token(claims(kNow / 1000 + 600));
  auto d1 = t.find('.'), d2 = t.rfind('.');
  std::string admin =
      base64url_encode(claims(kNow / 1000 + 600, "https://hq.example", "accrue", {"hq-admin"}));
  std::string forged = t.substr(0, d1 + 1) + admin + t.substr(d2);
  EXPECT_EQ(check(forged).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(check(forged).error().message, "bad signature");
  EXPECT_EQ(check("a.b").error().message, "malformed token");
  EXPECT_EQ(check("").error().message, "malformed token");
}

TEST_F(JwtTest, ARememberedTokenStillExpiresAndTamperingStillFails) {
  const std::string t = token(claims(kNow / 1000 + 600));
  ASSERT_TRUE(verifier_->verify(t, kNow));
  ASSERT_TRUE(verifier_->verify(t, kNow + 1000)) << "the second call answers from memory";
  auto late = verifier_->verify(t, kNow + 700'000);
  ASSERT_FALSE(late) << "remembered, but past its expiry";
  EXPECT_EQ(late.error().message, "token expired");
  // One character in the middle of the signature changed: never taken for the remembered token.
  std::string tampered = t;
  char& mid = tampered[t.rfind('.') + 20];
  mid = mid == 'A' ? 'B' : 'A';
  EXPECT_EQ(verifier_->verify(tampered, kNow).error().message, "bad signature");
  // A token that failed is not remembered: it fails the same way the second time.
  const std::string expired = token(claims(kNow / 1000 - 120));
  EXPECT_FALSE(verifier_->verify(expired, kNow));
  EXPECT_EQ(verifier_->verify(expired, kNow + 1).error().message, "token expired");
}

TEST_F(JwtTest, RefusesAlgNoneHs256AndKeyConfusion) {
  const std::string body =
      base64url_encode(claims(kNow / 1000 + 600, "https://hq.example", "accrue", {"hq-admin"}));
  std::string none = base64url_encode(R"({"alg":"none","kid":"k1"})") + "." + body + ".";
  EXPECT_EQ(check(none).error().message, "algorithm not accepted");
  none = base64url_encode(R"({"alg":"none","kid":"k1"})") + "." + body + ".AA";
  EXPECT_EQ(check(none).error().message, "algorithm not accepted");
  std::string hs = base64url_encode(R"({"alg":"HS256","kid":"k1"})") + "." + body + ".AAAA";
  EXPECT_EQ(check(hs).error().message, "algorithm not accepted");
  std::string rs = base64url_encode(R"({"alg":"RS256","kid":"k1"})") + "." + body + ".AAAA";
  EXPECT_EQ(check(rs).error().message, "algorithm does not match the key");
  std::string unknown = base64url_encode(R"({"alg":"ES256","kid":"k9"})") + "." + body + ".AAAA";
  EXPECT_EQ(check(unknown).error().message, "unknown signing key");
}

TEST_F(JwtTest, VerifiesRs256AgainstAnRsaJwk) {
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  ASSERT_NE(rsa, nullptr);
  BIGNUM *n = nullptr, *e = nullptr;
  EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &e);
  std::string nb(static_cast<size_t>(BN_num_bytes(n)), '\0'),
      eb(static_cast<size_t>(BN_num_bytes(e)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(nb.data()));
  BN_bn2bin(e, reinterpret_cast<unsigned char*>(eb.data()));
  BN_free(n);
  BN_free(e);
  json::object jwk{{"kty", "RSA"},
                   {"kid", "r1"},
                   {"alg", "RS256"},
                   {"n", base64url_encode(nb)},
                   {"e", base64url_encode(eb)}};
  json::object doc{{"keys", json::array{jwk}}};
  std::ofstream(path_) << json::serialize(doc);
  auto v = JwtVerifier::load(path_.string(), "https://hq.example", "accrue");
  ASSERT_TRUE(v) << v.error().message;

  std::string input = base64url_encode(R"({"alg":"RS256","kid":"r1"})") + "." +
                      base64url_encode(claims(kNow / 1000 + 600));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, rsa);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(rsa);
  auto p = v->verify(input + "." + base64url_encode(sig), kNow);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->roles.contains(Role::kSupport));
  // An ES256 header naming the RSA key is refused before any signature check.
  std::string confused = base64url_encode(R"({"alg":"ES256","kid":"r1"})") + "." +
                         base64url_encode(claims(kNow / 1000 + 600)) + ".AAAA";
  EXPECT_EQ(v->verify(confused, kNow).error().message, "algorithm does not match the key");
}

TEST_F(JwtTest, BadJwksFilesAreNamed) {
  std::ofstream(path_) << R"({"keys":[{"kty":"EC","crv":"P-384","kid":"x","x":"AA","y":"AA"}]})";
  auto v = JwtVerifier::load(path_.string(), "i", "a");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("keys[0]"), std::string::npos) << v.error().message;
  std::ofstream(path_) << "not json";
  EXPECT_EQ(JwtVerifier::load(path_.string(), "i", "a").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(JwtVerifier::load("/nonexistent/jwks.json", "i", "a").error().code,
            ErrorCode::kNotFound);
}

TEST(Base64UrlTest, RefusesANonCanonicalLastCharacter) {
  EXPECT_EQ(base64url_encode("a"), "YQ");
  EXPECT_EQ(base64url_decode("YQ"), "a");
  EXPECT_FALSE(base64url_decode("YR")) << "the same byte with a trailing bit set";
  EXPECT_EQ(base64url_decode("YWI"), "ab");
  EXPECT_FALSE(base64url_decode("YWJ"));
}

TEST(Base64UrlTest, RoundTripsAndRejectsJunk) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                std::string("\0\xff", 2)}) {
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  }
  EXPECT_EQ(base64url_decode("a+b/"), std::nullopt);
  EXPECT_EQ(base64url_decode("abcde"), std::nullopt);
}

}  // namespace
}  // namespace accrue::cloud::auth
