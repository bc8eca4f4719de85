// Provisional points find their owner however head office registers the card
// (cloud/core/claims.h): a member created with it, and a card added to a member later. Points a
// till booked for an unknown card become hers in the same transaction, count towards her tier,
// and are never claimed twice.
#include "cloud/core/audit.h"
#include "common/hex.h"
#include "common/identifier.h"
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

class HqClaimTest : public HqApiTest {
 protected:
  // The keyed hash a till computes for `card` (the fixture's programme key is 32 bytes of 0xcc).
  static std::string till_hash(const std::string& card) {
    auto hasher = IdentifierHasher::create(std::vector<uint8_t>(32, 0xcc));
    auto n = normalize_identifier(IdentifierKind::kCard, card, "DE");
    EXPECT_TRUE(hasher && n);
    auto h = hasher->hash(*n);
    return {h.begin(), h.end()};
  }

  // A sale at the till for a card the store did not know; its points.
  int64_t provisional_sale(const std::string& card, int64_t amount_minor) {
    const auto seq = ++seq_;
    auto e = accrual(seq, "", amount_minor, "walk-in-" + std::to_string(seq));
    e.mutable_accrual()->mutable_identifier()->set_kind("card");
    e.mutable_accrual()->mutable_identifier()->set_hash(till_hash(card));
    e.mutable_accrual()->set_provisional(true);
    auto r = results(post(batch_of({e}), token_));
    EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
    return e.accrual().points();
  }

  std::string balance(const std::string& id) {
    return db_.scalar("SELECT points FROM balance WHERE customer_id = '" + id + "'");
  }
  std::string claimed_rows(const std::string& id) {
    return db_.scalar("SELECT count(*) FROM ledger WHERE kind = 7 AND customer_id = '" + id + "'");
  }
  void audit_clean() {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    auto a = audit(*c);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->ok()) << "every balance equals its ledger";
  }

  uint64_t seq_ = 0;
};

TEST_F(HqClaimTest, AMemberCreatedWithACardCollectsWhatTheTillsBookedForIt) {
  const int64_t p1 = provisional_sale("6006 1234 5678 9012", 4000);
  const int64_t p2 = provisional_sale("6006123456789012", 2550);
  ASSERT_GT(p1 + p2, 0);
  const std::string id = create(kAnna);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(balance(id), std::to_string(p1 + p2));
  EXPECT_EQ(claimed_rows(id), "2");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM receipt WHERE customer_id = '" + id + "'"), "2")
      << "the sales' receipts now name her";
  EXPECT_EQ(db_.scalar("SELECT coalesce(sum(remaining), 0) FROM points_lot WHERE customer_id = '" +
                       id + "'"),
            std::to_string(p1 + p2))
      << "each claimed sale is a lot of hers";
  audit_clean();
}

TEST_F(HqClaimTest, ACardAddedToAMemberBringsItsProvisionalPointsOnceAndOnlyToHer) {
  const std::string id = create(R"({"display_name": "Bo", "country": "DE"})");
  ASSERT_FALSE(id.empty());
  const int64_t p1 = provisional_sale("4000 0000 0000 0002", 12000);
  const int64_t p2 = provisional_sale("4000000000000002", 800);
  const std::string card = R"({"kind": "card", "value": "4000 0000 0000 0002"})";

  // Who may, and what is refused without changing anything.
  EXPECT_EQ(call(V::post, "/v1/customers/" + id + "/identifiers", card, analyst_).status, 403);
  EXPECT_EQ(call(V::post, "/v1/customers/nobody/identifiers", card, support_).status, 404);
  auto bad = call(V::post, "/v1/customers/" + id + "/identifiers",
                  R"({"kind": "card", "value": "not a card"})", support_);
  EXPECT_EQ(bad.status, 422) << bad.body;
  auto extra = call(V::post, "/v1/customers/" + id + "/identifiers",
                    R"({"kind": "card", "value": "4000000000000002", "points": 5})", support_);
  EXPECT_EQ(extra.status, 422) << "an unknown field is refused: " << extra.body;
  EXPECT_EQ(balance(id), "0");

  auto r = call(V::post, "/v1/customers/" + id + "/identifiers", card, support_);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.obj().at("masked"), "\u2022\u2022\u2022\u2022 0002");
  EXPECT_EQ(r.obj().at("claimed_points").as_int64(), p1 + p2);
  EXPECT_EQ(balance(id), std::to_string(p1 + p2));
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'customer.add_identifier' "
                       "AND subject = 'customer:" +
                       id + "' AND actor = 'support-sam'"),
            "1");
  EXPECT_EQ(
      get("/v1/customers/" + id + "/details", support_).obj().at("identifiers").as_array().size(),
      1u);

  // The same card again, here or for another member: taken, and nothing is claimed twice.
  auto again = call(V::post, "/v1/customers/" + id + "/identifiers", card, support_);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(problem_type(again), "/problems/identifier-taken");
  const std::string other = create(R"({"display_name": "Cy", "country": "DE"})");
  EXPECT_EQ(call(V::post, "/v1/customers/" + other + "/identifiers", card, support_).status, 409);
  EXPECT_EQ(claimed_rows(id), "2");
  EXPECT_EQ(balance(other), "0");

  // A sale at a till that still did not know the card stays provisional until the sweep or the
  // till's next download; a card with nothing booked claims nothing.
  auto none = call(V::post, "/v1/customers/" + other + "/identifiers",
                   R"({"kind": "phone", "value": "+49 151 1111 2222"})", support_);
  ASSERT_EQ(none.status, 201) << none.body;
  EXPECT_EQ(none.obj().at("claimed_points").as_int64(), 0);
  audit_clean();
}

TEST_F(HqClaimTest, AnErasedMemberTakesNoNewIdentifier) {
  const std::string id = create(R"({"display_name": "Di", "country": "DE"})");
  auto erase = call(V::post, "/v1/customers/" + id + "/erase", R"({"reason": "asked"})", admin_);
  ASSERT_EQ(erase.status, 200) << erase.body;
  auto r = call(V::post, "/v1/customers/" + id + "/identifiers",
                R"({"kind": "card", "value": "4000 0000 0000 0010"})", support_);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(problem_type(r), "/problems/customer-erased");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM identifier WHERE customer_id = '" + id + "'"), "0");
}

TEST_F(HqClaimTest, ALostCardIsRemovedWithAReasonAndFindsNobodyAfter) {
  const std::string id = create(R"({"display_name": "Ed", "country": "DE"})");
  auto added = call(V::post, "/v1/customers/" + id + "/identifiers",
                    R"({"kind": "card", "value": "4000 0000 0000 0028"})", support_);
  ASSERT_EQ(added.status, 201) << added.body;
  const std::string ref(added.obj().at("identifier_id").as_string());
  const auto listed = get("/v1/customers/" + id + "/details", support_).obj().at("identifiers");
  ASSERT_EQ(listed.as_array().size(), 1u);
  EXPECT_EQ(listed.as_array()[0].at("identifier_id").as_string(), ref);
  ASSERT_EQ(get("/v1/customers?q=4000000000000028", support_).obj().at("items").as_array().size(),
            1u);
  const std::string feed = "SELECT count(*) FROM change_feed WHERE customer_id = '" + id + "'";
  const std::string fed = db_.scalar(feed);

  const std::string target = "/v1/customers/" + id + "/identifiers/" + ref;
  EXPECT_EQ(call(V::delete_, target, R"({"reason": "lost"})", analyst_).status, 403);
  EXPECT_EQ(call(V::delete_, target, "", support_).status, 415) << "a reason is required";
  EXPECT_EQ(call(V::delete_, "/v1/customers/" + id + "/identifiers/0123456789abcdef",
                 R"({"reason": "lost"})", support_)
                .status,
            404);
  EXPECT_EQ(call(V::delete_, "/v1/customers/" + id + "/identifiers/not-one",
                 R"({"reason": "lost"})", support_)
                .status,
            404);
  EXPECT_EQ(call(V::delete_, target, R"({"reason": "reported lost at the desk"})", support_).status,
            204);
  EXPECT_EQ(call(V::delete_, target, R"({"reason": "again"})", support_).status, 404);
  EXPECT_TRUE(
      get("/v1/customers/" + id + "/details", support_).obj().at("identifiers").as_array().empty());
  EXPECT_TRUE(
      get("/v1/customers?q=4000000000000028", support_).obj().at("items").as_array().empty());
  EXPECT_EQ(std::stoi(db_.scalar(feed)), std::stoi(fed) + 1) << "the stores are told";
  EXPECT_EQ(db_.scalar("SELECT detail->>'reason' FROM audit_log WHERE action = "
                       "'customer.remove_identifier'"),
            "reported lost at the desk");
  // The card is free again: a new member may have it.
  const std::string next = create(R"({"display_name": "Flo", "country": "DE"})");
  EXPECT_EQ(call(V::post, "/v1/customers/" + next + "/identifiers",
                 R"({"kind": "card", "value": "4000 0000 0000 0028"})", support_)
                .status,
            201);
}

}  // namespace
}  // namespace accrue::cloud
