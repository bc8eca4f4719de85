// The member API (docs/members.md) against a real OpenID Connect provider (tests/oidc: the npm
// oidc-provider on Node.js, its discovery document and keys as a chain's provider serves them):
// a member signed in with her provider's token reads and claims only her own, whatever she sends;
// a token the service cannot trust, or one linked to nobody, reaches nothing; a rotated key is
// fetched at once; the rate limit is hers alone.
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/coupon.h"
#include "tests/cloud/hq/hq_api_fixture.h"
#include "tests/common/child_process.h"

namespace accrue::cloud {
namespace {

constexpr const char* kAudience = "accrue-members";

// The provider, a child process: `node tests/oidc/provider.mjs PORT KID`.
class OidcProvider {
 public:
  ~OidcProvider() { stop(); }
  // Starts it (PORT 0: a free one) and waits, at most 20 s, for it to listen. Empty: why not.
  std::string start(const std::string& dir, const std::string& kid, uint16_t port = 0) {
    out_ = dir + "/oidc-" + kid + ".out";
    pid_ = ::accrue::testing::start_child(
        ::accrue::testing::ChildSpec(
            {"node", "tests/oidc/provider.mjs", std::to_string(port), kid, kAudience})
            .stdout_to(out_)
            .stderr_to(dir + "/oidc.err"));
    if (pid_ <= 0) return "node is not installed";
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      std::ifstream in(out_);
      std::string word;
      int got = 0;
      if (in >> word >> got && word == "ready") {
        port_ = static_cast<uint16_t>(got);
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return "the provider did not start; see " + dir + "/oidc.err";
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    (void)::accrue::testing::wait_child(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }
  uint16_t port() const { return port_; }
  std::string issuer() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // An access token for `subject`, minted by the provider and signed with its key.
  std::string token(const std::string& subject) {
    ::accrue::testing::HttpClient client(port_);
    auto r = client.request(bhttp::verb::get, "/test/token?sub=" + subject);
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return r.body();
  }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string out_;
};

class MemberApiTest : public HqApiTest {
 protected:
  void SetUp() override {
    ACCRUE_NEED_SERVICE("ACCRUE_TEST_PG_DSN");
    dir_of_provider_ = std::filesystem::temp_directory_path() /
                       ("accrue-oidc-" + std::to_string(::getpid()) + "-" + std::to_string(++n_));
    std::filesystem::create_directories(dir_of_provider_);
    if (!std::filesystem::exists("tests/oidc/node_modules/oidc-provider")) {
      if (::accrue::testing::services_required())
        FAIL() << "tests/oidc: run packaging/dev/bootstrap";
      GTEST_SKIP() << "tests/oidc has no npm packages; run packaging/dev/bootstrap";
    }
    const std::string why = provider_.start(dir_of_provider_.string(), "k1");
    if (!why.empty()) {
      if (::accrue::testing::services_required()) FAIL() << why;
      GTEST_SKIP() << why;
    }
    const std::string pem = *make_coupon_key_pem();
    std::ofstream((dir_of_provider_ / "coupon.pem").string()) << pem;
    more_settings_ = {"member_auth.issuer=" + provider_.issuer(),
                      std::string("member_auth.audience=") + kAudience,
                      "auth.coupon_key_file=" + (dir_of_provider_ / "coupon.pem").string(),
                      "auth.coupon_key_id=3", "member_auth.jwks_min_refresh_s=0"};
    more_settings_.insert(more_settings_.end(), limits_.begin(), limits_.end());
    HqApiTest::SetUp();
  }
  void TearDown() override {
    HqApiTest::TearDown();
    provider_.stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_of_provider_, ec);
  }
  std::string program_json() override {
    auto p = boost::json::parse(HqApiTest::program_json()).as_object();
    p["rewards"] = boost::json::parse(R"([
      {"reward_id": "five-off", "name": "5 EUR off", "cost_points": 100,
       "fixed_discount": {"amounts": [{"currency": "EUR", "minor_units": 500}]}}
    ])");
    return boost::json::serialize(p);
  }
  // A member with `points`, her sign-in linked to `subject` by customer care.
  std::string member(const std::string& subject, int64_t points) {
    const std::string id = create("{}");
    if (points > 0) {
      EXPECT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                     R"({"points": )" + std::to_string(points) + R"(, "reason": "start"})", admin_)
                    .status,
                201);
    }
    auto r =
        call(V::put, "/v1/customers/" + id + "/login",
             R"({"subject": ")" + subject + R"(", "reason": "signed up in the app"})", support_);
    EXPECT_EQ(r.status, 200) << r.body;
    return id;
  }
  std::string text(const Res& r, const char* field) {
    const auto* v = r.doc.is_object() ? r.obj().if_contains(field) : nullptr;
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }

  OidcProvider provider_;
  std::filesystem::path dir_of_provider_;
  std::vector<std::string> limits_;
  static inline int n_ = 0;
};

TEST_F(MemberApiTest, AMemberReadsAndClaimsHerOwnWithHerProvidersToken) {
  const std::string anna = member("anna-sub", 300);
  const std::string bob = member("bob-sub", 50);
  const std::string as_anna = provider_.token("anna-sub");
  const std::string as_bob = provider_.token("bob-sub");

  auto me = call(V::get, "/v1/me", "", as_anna);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(text(me, "customer_id"), anna);
  EXPECT_EQ(text(call(V::get, "/v1/me/status", "", as_anna), "customer_id"), anna);
  EXPECT_EQ(text(call(V::get, "/v1/me", "", as_bob), "customer_id"), bob);
  EXPECT_EQ(call(V::get, "/v1/me/transactions?limit=5", "", as_anna).status, 200);
  auto rewards = call(V::get, "/v1/me/rewards", "", as_anna);
  ASSERT_EQ(rewards.status, 200) << rewards.body;

  // She claims a reward: no body, no reason; the coupon is hers, signed, and her points paid.
  auto claim = call(V::post, "/v1/me/rewards/five-off/claims", "", as_anna);
  ASSERT_EQ(claim.status, 201) << claim.body;
  EXPECT_EQ(text(claim, "customer_id"), anna);
  EXPECT_FALSE(text(claim, "code").empty());
  EXPECT_EQ(claim.header(bhttp::field::location), "/v1/me/coupons");
  auto hers = call(V::get, "/v1/me/coupons", "", as_anna);
  ASSERT_EQ(hers.status, 200);
  EXPECT_EQ(hers.obj().at("items").as_array().size(), 1u);
  EXPECT_EQ(call(V::get, "/v1/me/coupons", "", as_bob).obj().at("items").as_array().size(), 0u);
  // Bob's points do not cover it: refused, nothing of his moves.
  auto poor = call(V::post, "/v1/me/rewards/five-off/claims", "", as_bob);
  EXPECT_EQ(poor.status, 422) << poor.body;
  EXPECT_EQ(db_.scalar("SELECT actor FROM audit_log WHERE action = 'rewards.claim'"),
            "member:" + anna);

  // Her token opens nothing of head office's, not even her own record there.
  for (const auto& id : {anna, bob}) {
    EXPECT_EQ(call(V::get, "/v1/customers/" + id, "", as_anna).status, 401);
    EXPECT_EQ(call(V::get, "/v1/customers/" + id + "/coupons", "", as_anna).status, 401);
  }
  // A query or a body naming another member changes nothing: her id comes from her token.
  EXPECT_EQ(text(call(V::get, "/v1/me?customer_id=" + bob, "", as_anna), "customer_id"), anna);

  // Unlinked by customer care: her token reaches nothing any more.
  EXPECT_EQ(call(V::get, "/v1/customers/" + anna + "/login", "", support_).status, 200);
  EXPECT_EQ(
      call(V::delete_, "/v1/customers/" + anna + "/login", R"({"reason": "lost phone"})", support_)
          .status,
      204);
  EXPECT_EQ(call(V::get, "/v1/me", "", as_anna).status, 403);
  // A sign-in linked to one member cannot be linked to another.
  auto taken = call(V::put, "/v1/customers/" + anna + "/login",
                    R"({"subject": "bob-sub", "reason": "mix-up"})", support_);
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_EQ(text(taken, "type"), "/problems/login-taken");
}

TEST_F(MemberApiTest, EveryMemberRouteRefusesATokenItCannotTrustOrLinkedToNobody) {
  member("carla-sub", 0);
  const std::string stranger = provider_.token("nobody-linked-this");
  std::string forged = provider_.token("carla-sub");
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  int checked = 0;
  for (const auto& op : testing::operations(doc_)) {
    if (!op.path.starts_with("/v1/me")) continue;
    std::string target = op.path;
    if (auto at = target.find("{reward_id}"); at != std::string::npos) {
      target.replace(at, 11, "five-off");
    }
    if (auto at = target.find("{symbology}"); at != std::string::npos) target.replace(at, 12, "qr");
    const V verb = op.method == "post" ? V::post : op.method == "patch" ? V::patch : V::get;
    const std::string body = verb == V::patch ? R"({"language": "de"})" : "";
    // No token, a forged one, and head office's (another issuer): 401, told how to sign in.
    for (const auto& bad : {std::string(), forged, admin_}) {
      auto r = call(verb, target, body, bad);
      EXPECT_EQ(r.status, 401) << op.method << " " << op.path;
      EXPECT_FALSE(r.header(bhttp::field::www_authenticate).empty());
      ++checked;
    }
    // A valid token of the provider that no member is linked to: 403.
    EXPECT_EQ(call(verb, target, body, stranger).status, 403) << op.method << " " << op.path;
    ++checked;
  }
  EXPECT_EQ(checked, 11 * 4);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM digital_card"), "0") << "nobody was issued a card";
}

TEST_F(MemberApiTest, HerDigitalCardIsIssuedOnceDrawnRenewedAndFindsHer) {
  const std::string gus = member("gus-sub", 0);
  const std::string hana = member("hana-sub", 0);
  const std::string as_gus = provider_.token("gus-sub");
  auto card = call(V::get, "/v1/me/card", "", as_gus);
  ASSERT_EQ(card.status, 200) << card.body;
  EXPECT_EQ(card.header(bhttp::field::cache_control), "no-store");
  const std::string code = text(card, "code");
  ASSERT_EQ(code.size(), 18u);
  EXPECT_TRUE(code.starts_with("AC"));
  EXPECT_EQ(text(card, "identifier_kind"), "qr");
  EXPECT_EQ(text(call(V::get, "/v1/me/card", "", as_gus), "code"), code) << "issued once";
  const std::string hanas =
      text(call(V::get, "/v1/me/card", "", provider_.token("hana-sub")), "code");
  EXPECT_NE(hanas, code);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'customer.issue_card' AND "
                       "actor = 'member:" +
                       gus + "'"),
            "1");

  // Drawn as QR and Code 128, in SVG and PNG; never kept by a cache on the way.
  auto svg = call(V::get, "/v1/me/card/qr", "", as_gus);
  ASSERT_EQ(svg.status, 200) << svg.body;
  EXPECT_EQ(svg.header(bhttp::field::content_type), "image/svg+xml");
  EXPECT_TRUE(svg.body.starts_with("<?xml"));
  EXPECT_EQ(svg.header(bhttp::field::cache_control), "no-store");
  auto png = call(V::get, "/v1/me/card/code128?format=png&scale=2", "", as_gus);
  ASSERT_EQ(png.status, 200) << png.body;
  EXPECT_EQ(png.header(bhttp::field::content_type), "image/png");
  EXPECT_TRUE(png.body.starts_with("\x89PNG"));
  EXPECT_EQ(call(V::get, "/v1/me/card/qr?format=gif", "", as_gus).status, 422);
  EXPECT_EQ(call(V::get, "/v1/me/card/qr?scale=0", "", as_gus).status, 422);
  EXPECT_EQ(call(V::get, "/v1/me/card/ean13", "", as_gus).status, 404);

  // The code is one of her identifiers: customer care finds her by it, and the stores are sent
  // its keyed hash with her next feed row.
  auto found = call(V::get, "/v1/customers?q=" + code, "", support_);
  ASSERT_EQ(found.status, 200) << found.body;
  ASSERT_EQ(found.obj().at("items").as_array().size(), 1u);
  EXPECT_EQ(found.obj().at("items").as_array()[0].at("customer_id").as_string(), gus);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM identifier WHERE customer_id = '" + gus +
                       "' AND kind = 'qr'"),
            "1");
  const std::string feed_rows =
      "SELECT count(*) FROM change_feed WHERE customer_id = '" + gus + "'";
  const std::string fed = db_.scalar(feed_rows);

  // Renewed (a screenshot went round): a new code, the old one finds nobody any more.
  auto renewed = call(V::post, "/v1/me/card/renewal", "", as_gus);
  ASSERT_EQ(renewed.status, 201) << renewed.body;
  const std::string fresh = text(renewed, "code");
  EXPECT_NE(fresh, code);
  EXPECT_EQ(std::stoi(db_.scalar(feed_rows)), std::stoi(fed) + 1) << "the stores are told";
  EXPECT_EQ(
      call(V::get, "/v1/customers?q=" + code, "", support_).obj().at("items").as_array().size(),
      0u);
  EXPECT_EQ(
      call(V::get, "/v1/customers?q=" + fresh, "", support_).obj().at("items").as_array().size(),
      1u);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM identifier WHERE customer_id = '" + gus +
                       "' AND kind = 'qr'"),
            "1");

  // Erased: her card goes with her identifiers.
  ASSERT_EQ(
      call(V::post, "/v1/customers/" + gus + "/erase", R"({"reason": "her request"})", support_)
          .status,
      200);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM digital_card WHERE customer_id = '" + gus + "'"), "0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM digital_card WHERE customer_id = '" + hana + "'"),
            "1");
}

TEST_F(MemberApiTest, AMergeKeepsOneCardAndItsCode) {
  const std::string jo = member("jo-sub", 0), kim = member("kim-sub", 0),
                    lea = member("lea-sub", 0);
  const std::string jos = text(call(V::get, "/v1/me/card", "", provider_.token("jo-sub")), "code");
  const std::string kims =
      text(call(V::get, "/v1/me/card", "", provider_.token("kim-sub")), "code");
  auto merge = [&](const std::string& into, const std::string& from) {
    auto r = call(V::post, "/v1/customers/" + into + "/merge",
                  R"({"merged_customer_id": ")" + from + R"(", "reason": "one person"})", support_);
    EXPECT_EQ(r.status, 200) << r.body;
  };
  auto finds = [&](const std::string& code) {
    auto items = call(V::get, "/v1/customers?q=" + code, "", support_).obj().at("items").as_array();
    return items.empty() ? std::string() : std::string(items[0].at("customer_id").as_string());
  };
  // Lea has no card: Jo's comes with Jo, and still finds her.
  merge(lea, jo);
  EXPECT_EQ(finds(jos), lea);
  EXPECT_EQ(text(call(V::get, "/v1/me/card", "", provider_.token("lea-sub")), "code"), jos);
  // Kim has one: Lea's (Jo's) is dropped beside it.
  merge(kim, lea);
  EXPECT_EQ(finds(jos), "");
  EXPECT_EQ(finds(kims), kim);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM digital_card"), "1");
}

TEST_F(MemberApiTest, SheChangesHerPreferencesAndConsentsButNotWhatCustomerCareKeeps) {
  const std::string ida = member("ida-sub", 0);
  const std::string as_ida = provider_.token("ida-sub");
  auto mine = call(V::get, "/v1/me/details", "", as_ida);
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(text(mine, "customer_id"), ida);
  EXPECT_TRUE(mine.obj().at("language").is_null());

  auto changed = call(V::patch, "/v1/me/details",
                      R"({"display_name": "Ida", "language": "pt-BR",
                          "consents": {"marketing_email": true, "marketing_sms": false},
                          "birthday": {"month": 2, "day": 29}})",
                      as_ida);
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(text(changed, "language"), "pt-BR");
  const auto& consents = changed.obj().at("consents").as_object();
  EXPECT_TRUE(consents.at("marketing_email").as_bool());
  EXPECT_TRUE(consents.at("marketing_email_at").is_string());
  EXPECT_EQ(db_.scalar("SELECT actor FROM audit_log WHERE action = 'customer.update' AND "
                       "subject = 'customer:" +
                       ida + "'"),
            "member:" + ida);

  // Her country and currency decide her earning, her birthday a bonus: customer care's.
  for (const char* body :
       {R"({"country": "PL"})", R"({"currency": "PLN"})", R"({"birthday": {"month": 3, "day": 1}})",
        R"({"birthday": null})", R"({"language": "Deutsch"})", R"({"tier_id": "gold"})", "{}"}) {
    auto refused = call(V::patch, "/v1/me/details", body, as_ida);
    EXPECT_EQ(refused.status, 422) << body << ": " << refused.body;
  }
  auto after = call(V::get, "/v1/me/details", "", as_ida);
  EXPECT_EQ(after.obj().at("birthday").at("month").as_int64(), 2);
  EXPECT_EQ(text(after, "country"), text(mine, "country"));
  // Customer care may.
  EXPECT_EQ(call(V::patch, "/v1/customers/" + ida + "/details",
                 R"({"birthday": {"month": 3, "day": 1}, "language": "de"})", support_)
                .status,
            200);
}

TEST_F(MemberApiTest, ARotatedKeyIsFetchedAtOnceAndTheOldOneSignsInNoMore) {
  member("dora-sub", 0);
  const std::string before = provider_.token("dora-sub");
  ASSERT_EQ(call(V::get, "/v1/me", "", before).status, 200);
  // The provider rotates: the same issuer, a new key (k2); k1 is gone from its JWKS.
  const uint16_t port = provider_.port();
  provider_.stop();
  ASSERT_EQ(provider_.start(dir_of_provider_.string(), "k2", port), "");
  const std::string after = provider_.token("dora-sub");
  EXPECT_EQ(call(V::get, "/v1/me", "", after).status, 200) << "the new key was fetched";
  EXPECT_EQ(call(V::get, "/v1/me", "", before).status, 401) << "k1 is no longer the provider's";
}

class MemberRateLimitTest : public MemberApiTest {
 protected:
  void SetUp() override {
    limits_ = {"member_auth.rate_limit_per_minute=3"};
    MemberApiTest::SetUp();
  }
};

TEST_F(MemberRateLimitTest, TheLimitIsPerMember) {
  member("eve-sub", 0);
  member("finn-sub", 0);
  const std::string eve = provider_.token("eve-sub");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(call(V::get, "/v1/me", "", eve).status, 200);
  auto over = call(V::get, "/v1/me", "", eve);
  EXPECT_EQ(over.status, 429);
  EXPECT_FALSE(over.header(bhttp::field::retry_after).empty());
  EXPECT_EQ(call(V::get, "/v1/me", "", provider_.token("finn-sub")).status, 200);
}

}  // namespace
}  // namespace accrue::cloud
