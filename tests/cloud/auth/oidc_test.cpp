// The member sign-in's key handling with a provider stood in by a function (the member API's
// tests run a real provider): discovery checked, keys fetched once and reused, a rotation
// followed at once but not more often than allowed, a failed fetch keeping the keys held.
#include "cloud/auth/oidc.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "tests/common/test_support.h"

namespace accrue::cloud::auth {
namespace {

namespace json = boost::json;
constexpr const char* kIssuer = "https://id.example";

class OidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.set(1'795'880'000'000);
    rotate("k1");
    pages_[std::string(kIssuer) + "/.well-known/openid-configuration"] =
        R"({"issuer": "https://id.example", "jwks_uri": "https://id.example/jwks"})";
  }
  void rotate(const std::string& kid) {
    auto k = make_dev_keys(kid);
    ASSERT_TRUE(k);
    keys_ = *k;
    kid_ = kid;
    pages_["https://id.example/jwks"] = keys_.jwks_json;
  }
  std::string token(const std::string& sub = "member-1", const std::string& aud = "app") {
    json::object c{
        {"iss", kIssuer}, {"aud", aud}, {"sub", sub}, {"exp", clock_.now_ms() / 1000 + 600}};
    return *sign_es256(keys_.private_pem, kid_, json::serialize(c));
  }
  OidcVerifier verifier(std::chrono::seconds min_refresh = std::chrono::seconds(30)) {
    return OidcVerifier(
        {kIssuer, "app", std::chrono::seconds(3600), min_refresh},
        [this](const std::string& url) -> Result<std::string> {
          ++asked_[url];
          if (down_) return fail(ErrorCode::kUnavailable, url + ": down");
          auto it = pages_.find(url);
          if (it == pages_.end()) return fail(ErrorCode::kUnavailable, "404");
          return it->second;
        },
        clock_);
  }

  testing::FakeClock clock_;
  DevKeys keys_;
  std::string kid_;
  std::map<std::string, std::string> pages_;
  std::map<std::string, int> asked_;
  bool down_ = false;
};

TEST_F(OidcTest, KeysAreFetchedAtTheFirstTokenAndReused) {
  auto v = verifier();
  auto who = v.verify(token());
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->subject, "member-1");
  EXPECT_TRUE(v.verify(token("member-2")));
  EXPECT_EQ(v.fetches(), 1u);
  EXPECT_EQ(asked_["https://id.example/jwks"], 1);
  // Another audience, or no token at all: refused with a reason, no fetch.
  auto other = v.verify(token("member-1", "someone-else"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(v.verify("not.a.token"));
  EXPECT_EQ(v.fetches(), 1u);
  // After the refresh period the keys are fetched again.
  clock_.advance(3601 * 1000);
  EXPECT_TRUE(v.verify(token()));
  EXPECT_EQ(v.fetches(), 2u);
}

TEST_F(OidcTest, ARotationIsFollowedAtOnceButAForgedKeyIdCannotHammerTheProvider) {
  auto v = verifier();
  ASSERT_TRUE(v.verify(token()));
  clock_.advance(31 * 1000);
  rotate("k2");
  auto after = v.verify(token());
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(v.fetches(), 2u);
  // Tokens naming keys the provider never had: at most one fetch per min_refresh.
  rotate("forged");
  const std::string forged = token();
  rotate("k2-again");
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(v.verify(forged));
  EXPECT_EQ(v.fetches(), 2u) << "the last fetch was less than 30 s ago";
  clock_.advance(31 * 1000);
  EXPECT_FALSE(v.verify(forged));
  EXPECT_EQ(v.fetches(), 3u);
}

TEST_F(OidcTest, AProviderThatDoesNotAnswerKeepsTheKeysHeldAndSaysWhyOtherwise) {
  auto v = verifier(std::chrono::seconds(0));
  down_ = true;
  auto none = v.verify(token());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kUnavailable);
  down_ = false;
  ASSERT_TRUE(v.verify(token()));
  down_ = true;
  clock_.advance(3601 * 1000);
  EXPECT_TRUE(v.verify(token())) << "the keys held still verify";
}

TEST_F(OidcTest, ADiscoveryDocumentOfAnotherIssuerOrAPlainHttpKeySetIsRefused) {
  pages_[std::string(kIssuer) + "/.well-known/openid-configuration"] =
      R"({"issuer": "https://evil.example", "jwks_uri": "https://id.example/jwks"})";
  auto v = verifier(std::chrono::seconds(0));
  auto r = v.refresh();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("evil.example"), std::string::npos) << r.error().message;
  pages_[std::string(kIssuer) + "/.well-known/openid-configuration"] =
      R"({"issuer": "https://id.example", "jwks_uri": "http://id.example/jwks"})";
  r = v.refresh();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("https"), std::string::npos) << r.error().message;
  pages_[std::string(kIssuer) + "/.well-known/openid-configuration"] = "<html>";
  EXPECT_FALSE(v.refresh());
}

}  // namespace
}  // namespace accrue::cloud::auth
