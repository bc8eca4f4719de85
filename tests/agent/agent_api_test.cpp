// The till API end to end: the real accrue-agent process on a real SQLite file, driven over its
// unix socket in both framings, including the error paths.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/store/seed.h"
#include "tests/agent/agent_process.h"

namespace accrue::testing {
namespace {

namespace pb = accrue::pos::v1;
using agent::Framing;
using agent::seed_card_number;

pb::Identifier card(int64_t member) {
  pb::Identifier id;
  id.set_kind(pb::IDENTIFIER_KIND_CARD);
  id.set_value(seed_card_number(member));
  id.set_entry_mode(pb::ENTRY_MODE_SCANNED);
  return id;
}

pb::Identifier email(const std::string& v) {
  pb::Identifier id;
  id.set_kind(pb::IDENTIFIER_KIND_EMAIL);
  id.set_value(v);
  return id;
}

loyalty::v1::Basket basket(int64_t amount = 8999, std::string category = "shoes") {
  loyalty::v1::Basket b;
  b.set_currency("EUR");
  b.set_occurred_at_ms(1'795'768'200'000);  // 2026-11-27T09:30 Warsaw: Black Friday
  auto* l = b.add_lines();
  l->set_line_no(1);
  l->set_sku("SHOE-RUN-42");
  l->add_categories(category);
  l->set_quantity_milli(1000);
  l->set_amount_minor(amount);
  auto* t = b.add_lines();
  t->set_line_no(2);
  t->set_sku("TEE");
  t->add_categories("tops");
  t->set_quantity_milli(2000);
  t->set_amount_minor(2500);
  return b;
}

class AgentApiTest : public ::testing::TestWithParam<Framing> {
 protected:
  static void SetUpTestSuite() {
    agent_ = new AgentProcess(1000);
    ASSERT_EQ(agent_->seed_status(), 0);
    ASSERT_TRUE(agent_->start()) << "agent did not start; see " << agent_->log_path();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(agent_->stop(SIGTERM), 0) << "graceful stop must exit 0";
    delete agent_;
    agent_ = nullptr;
  }

  pb::Response call(pb::Request req, const std::string& till = "till-1") {
    req.set_till_id(till);
    if (req.request_id().empty()) req.set_request_id("r-" + std::to_string(++counter_));
    auto client = agent_->connect(GetParam());
    auto resp = client.call(req);
    EXPECT_TRUE(resp) << resp.error().message;
    if (!resp) return {};
    EXPECT_EQ(resp->request_id(), req.request_id());
    return *resp;
  }
  // Unique transaction ids per framing, so both parameterisations share one agent.
  std::string tx(const std::string& base) {
    return base + (GetParam() == Framing::kBinary ? "-bin" : "-json");
  }
  int64_t member(int64_t base) { return base + (GetParam() == Framing::kBinary ? 0 : 500); }
  // A member chosen per framing (seeded balances differ by member).
  int64_t pick(int64_t binary, int64_t json) {
    return GetParam() == Framing::kBinary ? binary : json;
  }
  static int64_t seeded_available(int64_t i) { return (i * 37) % 5000; }

  static AgentProcess* agent_;
  int counter_ = 0;
};

AgentProcess* AgentApiTest::agent_ = nullptr;

TEST_P(AgentApiTest, ValidatesKnownUnknownAndBlockedMembers) {
  pb::Request req;
  *req.mutable_validate()->mutable_identifier() = card(10);
  auto r = call(req);
  ASSERT_TRUE(r.has_validate()) << r.DebugString();
  EXPECT_EQ(r.validate().status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(r.validate().tier_id(), "gold");
  EXPECT_EQ(r.validate().tier_name(), "Gold");
  EXPECT_EQ(r.validate().available_points(), 370);
  EXPECT_EQ(r.validate().customer_id(), agent::seed_customer_id(10));
  EXPECT_TRUE(r.validate().offline());
  EXPECT_GE(r.validate().replica_age_s(), 0);  // seeded = a fresh snapshot
  EXPECT_LT(r.validate().replica_age_s(), 600);

  req.mutable_validate()->mutable_identifier()->set_value("6000 9999 9999 9999");
  EXPECT_EQ(call(req).validate().status(), pb::MEMBER_STATUS_UNKNOWN);
  *req.mutable_validate()->mutable_identifier() = card(13);  // seeded as blocked
  EXPECT_EQ(call(req).validate().status(), pb::MEMBER_STATUS_BLOCKED);
}

TEST_P(AgentApiTest, AccrualIsIdempotentAndConflictsOnADifferentBasket) {
  pb::Request req;
  auto* a = req.mutable_accrue();
  *a->mutable_identifier() = card(member(21));
  a->set_pos_tx_id(tx("sale-1"));
  *a->mutable_basket() = basket();
  auto first = call(req);
  ASSERT_TRUE(first.has_accrue()) << first.DebugString();
  // Bronze: shoes 89.99 x2 (Black Friday) = 179, tees 25, 50 bonus from 100 EUR.
  EXPECT_EQ(first.accrue().points_earned(), 254);
  EXPECT_FALSE(first.accrue().replayed());
  EXPECT_FALSE(first.accrue().provisional());
  EXPECT_EQ(first.accrue().program_version(), 3u);

  auto again = call(req);
  ASSERT_TRUE(again.has_accrue());
  EXPECT_TRUE(again.accrue().replayed());
  EXPECT_EQ(again.accrue().event_id(), first.accrue().event_id());
  EXPECT_EQ(again.accrue().points_earned(), 254);

  *a->mutable_basket() = basket(100);
  auto conflict = call(req);
  ASSERT_TRUE(conflict.has_error());
  EXPECT_EQ(conflict.error().code(), pb::ERROR_CODE_CONFLICT);

  // The same pos_tx_id on another till is another sale.
  *a->mutable_basket() = basket();
  EXPECT_TRUE(call(req, "till-2").has_accrue());
}

// What makes a retry "the same request" (proto/README.md, Idempotency): the identifier as the
// agent understands it. A card scanned, then keyed with spaces by another cashier under another
// request id and deadline, is the same sale; another sale time or another card is not.
TEST_P(AgentApiTest, ARetryIsTheSameRequestWhateverTheEntryModeCashierOrCardSpacing) {
  pb::Request req;
  req.set_cashier_id("c-1");
  auto* a = req.mutable_accrue();
  *a->mutable_identifier() = card(member(22));
  a->set_pos_tx_id(tx("sale-keyed"));
  *a->mutable_basket() = basket();
  auto first = call(req);
  ASSERT_TRUE(first.has_accrue()) << first.DebugString();

  pb::Request keyed = req;
  keyed.set_cashier_id("c-2");
  keyed.set_deadline_ms(900);
  std::string spaced;
  const std::string digits = seed_card_number(member(22));
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && i % 4 == 0) spaced += ' ';
    spaced += digits[i];
  }
  keyed.mutable_accrue()->mutable_identifier()->set_value(" " + spaced + " ");
  keyed.mutable_accrue()->mutable_identifier()->set_entry_mode(pb::ENTRY_MODE_KEYED);
  auto again = call(keyed);
  ASSERT_TRUE(again.has_accrue()) << again.DebugString();
  EXPECT_TRUE(again.accrue().replayed());
  EXPECT_EQ(again.accrue().event_id(), first.accrue().event_id());

  pb::Request later = req;
  later.mutable_accrue()->mutable_basket()->set_occurred_at_ms(
      req.accrue().basket().occurred_at_ms() + 60'000);
  EXPECT_EQ(call(later).error().code(), pb::ERROR_CODE_CONFLICT) << "the sale time counts";
  pb::Request other_card = req;
  *other_card.mutable_accrue()->mutable_identifier() = card(member(23));
  EXPECT_EQ(call(other_card).error().code(), pb::ERROR_CODE_CONFLICT) << "the card counts";
}

// Readers keep their snapshot open between requests while nothing is committed; an acknowledged
// accrual must still show in the very next validate, on any connection and any reader.
TEST_P(AgentApiTest, ValidateRightAfterAnAccrualSeesIt) {
  for (int round = 0; round < 10; ++round) {
    const int64_t m = member(300 + round);
    pb::Request v;
    *v.mutable_validate()->mutable_identifier() = card(m);
    pb::ValidateResult before;
    for (int warm = 0; warm < 8; ++warm) before = call(v).validate();  // every reader, warm
    pb::Request req;
    auto* a = req.mutable_accrue();
    *a->mutable_identifier() = card(m);
    a->set_pos_tx_id(tx("seen-" + std::to_string(round)));
    *a->mutable_basket() = basket();
    auto acc = call(req);
    ASSERT_TRUE(acc.has_accrue()) << acc.DebugString();
    ASSERT_GT(acc.accrue().points_earned(), 0);
    auto after = call(v).validate();
    EXPECT_EQ(after.available_points() + after.pending_points(),
              before.available_points() + before.pending_points() + acc.accrue().points_earned())
        << "round " << round;
  }
}

TEST_P(AgentApiTest, UnknownIdentifierAccruesProvisionallyUntilEnrolment) {
  pb::Request acc;
  auto* a = acc.mutable_accrue();
  *a->mutable_identifier() =
      email(GetParam() == Framing::kBinary ? "anna@example.com" : "ola@example.com");
  a->set_pos_tx_id(tx("prov-1"));
  *a->mutable_basket() = basket();
  auto r = call(acc);
  ASSERT_TRUE(r.has_accrue()) << r.DebugString();
  EXPECT_TRUE(r.accrue().provisional());
  EXPECT_EQ(r.accrue().pending_points(), 254);
  pb::Request before;  // an unknown identifier still shows what it earned provisionally
  *before.mutable_validate()->mutable_identifier() = a->identifier();
  auto unknown = call(before);
  EXPECT_EQ(unknown.validate().status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_EQ(unknown.validate().pending_points(), 254);

  pb::Request en;
  auto* e = en.mutable_enroll();
  *e->add_identifiers() = a->identifier();
  e->set_pos_tx_id(tx("enrol-1"));
  e->set_display_name("Anna K.");
  e->mutable_consents()->set_terms(true);
  auto enrolled = call(en);
  ASSERT_TRUE(enrolled.has_enroll()) << enrolled.DebugString();
  EXPECT_TRUE(enrolled.enroll().provisional());
  EXPECT_EQ(enrolled.enroll().bonus_points(), 100);

  pb::Request v;
  *v.mutable_validate()->mutable_identifier() = a->identifier();
  auto member_now = call(v);
  EXPECT_EQ(member_now.validate().status(), pb::MEMBER_STATUS_PROVISIONAL);
  EXPECT_EQ(member_now.validate().customer_id(), enrolled.enroll().customer_id());
  EXPECT_EQ(member_now.validate().pending_points(), 254);    // the earlier sale moved over
  EXPECT_EQ(member_now.validate().available_points(), 100);  // welcome bonus

  e->set_pos_tx_id(tx("enrol-2"));
  auto twice = call(en);
  ASSERT_TRUE(twice.has_error());
  EXPECT_EQ(twice.error().code(), pb::ERROR_CODE_ALREADY_EXISTS);

  e->set_pos_tx_id(tx("enrol-3"));
  *e->mutable_identifiers(0) = email("nobody-" + tx("x") + "@example.com");
  e->mutable_consents()->set_terms(false);
  auto no_terms = call(en);
  ASSERT_TRUE(no_terms.has_error());
  EXPECT_EQ(no_terms.error().code(), pb::ERROR_CODE_FAILED_PRECONDITION);
  EXPECT_EQ(no_terms.error().message_id(), "enrol.terms_required");
}

TEST_P(AgentApiTest, RedemptionRespectsBalanceStepsAndOfflineLimits) {
  const int64_t m = pick(30, 165);  // seeded with 1110 / 1105 confirmed points
  ASSERT_GE(seeded_available(m), 1000);
  ASSERT_LT(seeded_available(m), 1500);
  pb::Request req;
  auto* r = req.mutable_redeem();
  *r->mutable_identifier() = card(m);
  r->set_pos_tx_id(tx("redeem-1"));
  r->set_points(1000);
  auto offline_outstanding = [&] {
    pb::Request st;
    st.mutable_get_agent_status();
    return call(st).agent_status().offline_outstanding_points();
  };
  const int64_t outstanding_before = offline_outstanding();
  // What the till may propose: her points rounded down to the step, with the discount.
  pb::Request profile;
  *profile.mutable_get_profile()->mutable_identifier() = card(m);
  const auto offer = call(profile).profile().redeemable();
  EXPECT_EQ(offer.max_points(), seeded_available(m) / 100 * 100);
  EXPECT_EQ(offer.max_discount().minor_units(), offer.max_points()) << "1 cent a point";
  EXPECT_EQ(offer.max_discount().currency(), "EUR");
  EXPECT_EQ(offer.step_points(), 100);
  EXPECT_EQ(offer.min_points(), 100);
  EXPECT_EQ(offer.value_minor_units(), 1);
  EXPECT_EQ(offer.per_points(), 1);
  auto ok = call(req);
  ASSERT_TRUE(ok.has_redeem()) << ok.DebugString();
  EXPECT_EQ(ok.redeem().points_redeemed(), 1000);
  EXPECT_EQ(ok.redeem().discount().minor_units(), 1000);
  EXPECT_EQ(ok.redeem().discount().currency(), "EUR");
  EXPECT_EQ(ok.redeem().available_points(), seeded_available(m) - 1000);
  EXPECT_TRUE(ok.redeem().offline());
  EXPECT_EQ(offline_outstanding(), outstanding_before + 1000)
      << "the store's outstanding offline liability, until the cloud confirms it";

  r->set_pos_tx_id(tx("redeem-2"));
  r->set_points(150);
  auto off_step = call(req).error();
  EXPECT_EQ(off_step.code(), pb::ERROR_CODE_OUT_OF_RANGE);
  // Refusals carry their id and parameters, for the till's own words.
  EXPECT_EQ(off_step.message_id(), "redeem.off_step");
  EXPECT_EQ(off_step.params().at("step"), "100");
  EXPECT_EQ(off_step.message(), "Redeem in steps of 100 points.");
  r->set_points(500);
  auto short_of = call(req).error();
  EXPECT_EQ(short_of.code(), pb::ERROR_CODE_INSUFFICIENT_POINTS);
  EXPECT_EQ(short_of.message_id(), "points.insufficient");
  EXPECT_EQ(short_of.params().at("available"), std::to_string(seeded_available(m) - 1000));

  *r->mutable_identifier() = card(pick(70, 600));  // 2590 / 2200 available; offline max 2000
  ASSERT_GE(seeded_available(pick(70, 600)), 2100);
  r->set_pos_tx_id(tx("redeem-3"));
  r->set_points(2100);
  auto refused = call(req);
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), pb::ERROR_CODE_REFUSED);
  EXPECT_EQ(refused.error().message(),
            "While offline, at most 2000 points can be redeemed at once.");
  EXPECT_EQ(refused.error().message_id(), "offline.per_redemption_limit");
  EXPECT_EQ(refused.error().params().at("max"), "2000");

  // A discount in money is converted to points, rounded up to the step.
  r->set_pos_tx_id(tx("redeem-4"));
  r->mutable_discount()->set_minor_units(250);
  r->mutable_discount()->set_currency("EUR");
  auto by_amount = call(req);
  ASSERT_TRUE(by_amount.has_redeem()) << by_amount.DebugString();
  EXPECT_EQ(by_amount.redeem().points_redeemed(), 300);
  EXPECT_EQ(by_amount.redeem().discount().minor_units(), 300)
      << "what 300 points are worth, more than the 2.50 asked: the POS applies this";
}

TEST_P(AgentApiTest, ReturnsReverseInProportionAndNeverMoreThanSold) {
  pb::Request sale;
  *sale.mutable_accrue()->mutable_identifier() = card(member(31));
  sale.mutable_accrue()->set_pos_tx_id(tx("sale-r"));
  *sale.mutable_accrue()->mutable_basket() = basket();
  ASSERT_TRUE(call(sale).has_accrue());

  pb::Request ret;
  auto* r = ret.mutable_return_();
  r->set_pos_tx_id(tx("ret-1"));
  r->set_original_pos_tx_id(tx("sale-r"));
  auto* line = r->add_lines();
  line->set_line_no(2);
  line->set_quantity_milli(1000);  // one of two tees: they earned 25 + 11 of the bonus = 36
  auto first = call(ret);
  ASSERT_TRUE(first.has_return_()) << first.DebugString();
  EXPECT_EQ(first.return_().points_reversed(), 18);

  r->set_pos_tx_id(tx("ret-2"));
  line->set_quantity_milli(2000);
  EXPECT_EQ(call(ret).error().code(), pb::ERROR_CODE_OUT_OF_RANGE);
  line->set_quantity_milli(1000);
  EXPECT_EQ(call(ret).return_().points_reversed(), 18);

  r->set_pos_tx_id(tx("ret-3"));
  r->set_original_pos_tx_id("no-such-sale");
  auto unknown = call(ret);
  ASSERT_TRUE(unknown.has_error());
  EXPECT_EQ(unknown.error().code(), pb::ERROR_CODE_NOT_FOUND);
}

// The demo programme refunds redeemed points on returns (redemption.refund_on_return): the till
// names the redemptions that paid for the basket, and each return gives back their share.
TEST_P(AgentApiTest, AReturnRefundsItsShareOfThePointsRedeemedOnTheSale) {
  const int64_t m = member(37);  // 1369 / 4869 confirmed points
  pb::Request pay;
  *pay.mutable_redeem()->mutable_identifier() = card(m);
  pay.mutable_redeem()->set_pos_tx_id(tx("pay-1"));
  pay.mutable_redeem()->set_points(300);
  ASSERT_TRUE(call(pay).has_redeem());

  pb::Request sale;
  auto* a = sale.mutable_accrue();
  *a->mutable_identifier() = card(m);
  a->set_pos_tx_id(tx("sale-p"));
  *a->mutable_basket() = basket();  // 89.99 shoes + 25.00 for two tees
  a->add_redemption_pos_tx_ids(tx("pay-1"));
  auto sold = call(sale);
  ASSERT_TRUE(sold.has_accrue()) << sold.DebugString();

  a->set_pos_tx_id(tx("sale-p2"));  // one redemption pays for one sale
  auto twice = call(sale);
  ASSERT_TRUE(twice.has_error());
  EXPECT_EQ(twice.error().code(), pb::ERROR_CODE_FAILED_PRECONDITION);
  EXPECT_EQ(twice.error().message(),
            "Redemption " + tx("pay-1") + " already paid for another sale.");
  a->set_redemption_pos_tx_ids(0, "no-such-redemption");
  EXPECT_EQ(call(sale).error().code(), pb::ERROR_CODE_NOT_FOUND);
  *a->mutable_identifier() = card(member(38));
  a->set_redemption_pos_tx_ids(0, tx("pay-1"));
  EXPECT_EQ(call(sale).error().message(),
            "Redemption " + tx("pay-1") + " was made for another member.");

  pb::Request ret;
  auto* r = ret.mutable_return_();
  r->set_pos_tx_id(tx("ret-p1"));
  r->set_original_pos_tx_id(tx("sale-p"));
  auto* line = r->add_lines();
  line->set_line_no(1);  // the shoes: 8999 of 11499
  line->set_quantity_milli(1000);
  auto first = call(ret);
  ASSERT_TRUE(first.has_return_()) << first.DebugString();
  EXPECT_EQ(first.return_().points_refunded(), 234);  // floor(300 * 8999 / 11499)
  EXPECT_EQ(first.return_().available_points(), sold.accrue().available_points() + 234)
      << "the sale's own points were still pending; the refund is available at once";

  r->set_pos_tx_id(tx("ret-p2"));
  line->set_line_no(2);
  line->set_quantity_milli(2000);
  auto rest = call(ret);
  ASSERT_TRUE(rest.has_return_()) << rest.DebugString();
  EXPECT_EQ(rest.return_().points_refunded(), 66) << "everything back: all 300";
  EXPECT_EQ(rest.return_().available_points(), sold.accrue().available_points() + 300);
}

TEST_P(AgentApiTest, AReturnOfAnotherStoresSaleIsAcceptedAsPendingWithoutTheCloud) {
  pb::Request ret;
  auto* r = ret.mutable_return_();
  r->set_pos_tx_id(tx("away-1"));
  r->set_original_store_id("warsaw-01");
  r->set_original_till_id("till-3");
  r->set_original_pos_tx_id("w-123");
  auto* line = r->add_lines();
  line->set_line_no(1);
  line->set_quantity_milli(1000);
  auto pending = call(ret);
  ASSERT_TRUE(pending.has_return_()) << pending.DebugString();
  EXPECT_TRUE(pending.return_().pending()) << "the cloud decides when the event arrives";
  EXPECT_TRUE(pending.return_().offline());
  EXPECT_EQ(pending.return_().points_reversed(), 0);
  EXPECT_TRUE(call(ret).return_().replayed());

  // By the receipt id printed on the slip.
  r->clear_original_store_id();
  r->clear_original_till_id();
  r->clear_original_pos_tx_id();
  r->set_pos_tx_id(tx("away-2"));
  r->set_receipt_id("0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
  EXPECT_TRUE(call(ret).return_().pending());

  // Bad names of the sale change nothing.
  r->set_pos_tx_id(tx("away-3"));
  r->set_receipt_id("not-a-receipt");
  EXPECT_EQ(call(ret).error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  r->set_receipt_id("0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
  r->set_original_pos_tx_id("w-123");
  EXPECT_EQ(call(ret).error().code(), pb::ERROR_CODE_INVALID_ARGUMENT) << "both names at once";
  r->clear_receipt_id();
  r->set_original_store_id("warsaw-01");
  r->clear_lines();
  EXPECT_EQ(call(ret).error().code(), pb::ERROR_CODE_INVALID_ARGUMENT) << "no lines";
}

TEST_P(AgentApiTest, TransactionStatusRecoversALostResponse) {
  pb::Request sale;
  *sale.mutable_accrue()->mutable_identifier() = card(member(33));
  sale.mutable_accrue()->set_pos_tx_id(tx("lost"));
  *sale.mutable_accrue()->mutable_basket() = basket();
  auto original = call(sale);
  pb::Request st;
  st.mutable_get_transaction_status()->set_pos_tx_id(tx("lost"));
  auto s = call(st);
  ASSERT_TRUE(s.has_transaction_status());
  EXPECT_TRUE(s.transaction_status().found());
  EXPECT_EQ(s.transaction_status().kind(), pb::TRANSACTION_KIND_ACCRUAL);
  EXPECT_EQ(s.transaction_status().original().accrue().event_id(), original.accrue().event_id());
  st.mutable_get_transaction_status()->set_pos_tx_id(tx("never-sent"));
  EXPECT_FALSE(call(st).transaction_status().found());
}

TEST_P(AgentApiTest, ListsTransactionsNewestFirstWithPaging) {
  const int64_t m = member(35);
  for (int i = 0; i < 3; ++i) {
    pb::Request sale;
    *sale.mutable_accrue()->mutable_identifier() = card(m);
    sale.mutable_accrue()->set_pos_tx_id(tx("page-" + std::to_string(i)));
    *sale.mutable_accrue()->mutable_basket() = basket(1000 + i * 100);
    ASSERT_TRUE(call(sale).has_accrue());
  }
  pb::Request list;
  *list.mutable_list_transactions()->mutable_identifier() = card(m);
  list.mutable_list_transactions()->set_limit(2);
  auto page1 = call(list);
  ASSERT_EQ(page1.transactions().transactions_size(), 2);
  EXPECT_EQ(page1.transactions().transactions(0).pos_tx_id(), tx("page-2"));
  EXPECT_FALSE(page1.transactions().transactions(0).confirmed());
  ASSERT_FALSE(page1.transactions().next_page_token().empty());
  list.mutable_list_transactions()->set_page_token(page1.transactions().next_page_token());
  auto page2 = call(list);
  ASSERT_EQ(page2.transactions().transactions_size(), 1);
  EXPECT_EQ(page2.transactions().transactions(0).pos_tx_id(), tx("page-0"));
  EXPECT_TRUE(page2.transactions().next_page_token().empty());
}

TEST_P(AgentApiTest, PreviewWritesNothingAndStatusCountsTheOutbox) {
  pb::Request status;
  status.mutable_get_agent_status();
  auto before = call(status);
  ASSERT_TRUE(before.has_agent_status());
  pb::Request p;
  *p.mutable_preview()->mutable_identifier() = card(10);  // gold: x1.5
  *p.mutable_preview()->mutable_basket() = basket();
  auto r = call(p);
  ASSERT_TRUE(r.has_preview()) << r.DebugString();
  // Gold x1.5: shoes 89.99 x2 x1.5 = 269, tees 25 x1.5 = 37, 50 bonus.
  EXPECT_EQ(r.preview().points(), 356);
  EXPECT_EQ(r.preview().bonus_points(), 50);
  EXPECT_EQ(call(status).agent_status().outbox_depth(), before.agent_status().outbox_depth());
  EXPECT_EQ(before.agent_status().store_id(), "store-1");
  EXPECT_EQ(before.agent_status().program_version(), 3u);
  EXPECT_EQ(before.agent_status().currency(), "EUR");
  EXPECT_EQ(before.agent_status().currency_exponent(), 2u);
}

TEST_P(AgentApiTest, BadRequestsGetClearErrorsAndChangeNothing) {
  auto expect_invalid = [&](pb::Request req, std::string_view mentions) {
    auto r = call(req);
    ASSERT_TRUE(r.has_error()) << r.DebugString();
    EXPECT_EQ(r.error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
    EXPECT_NE(r.error().message().find(mentions), std::string::npos) << r.error().message();
    EXPECT_FALSE(r.error().retryable());
  };
  expect_invalid(pb::Request{}, "no operation");
  pb::Request bad_card;
  bad_card.mutable_validate()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
  bad_card.mutable_validate()->mutable_identifier()->set_value("12");
  expect_invalid(bad_card, "card:");
  pb::Request no_kind;
  no_kind.mutable_validate()->mutable_identifier()->set_value("6000000000000010");
  expect_invalid(no_kind, "identifier.kind");
  pb::Request bad_basket;
  *bad_basket.mutable_accrue()->mutable_identifier() = card(10);
  bad_basket.mutable_accrue()->set_pos_tx_id(tx("bad-basket"));
  *bad_basket.mutable_accrue()->mutable_basket() = basket(-5);
  expect_invalid(bad_basket, "basket.lines[0].amount_minor");
  pb::Request no_tx;
  *no_tx.mutable_accrue()->mutable_identifier() = card(10);
  *no_tx.mutable_accrue()->mutable_basket() = basket();
  expect_invalid(no_tx, "pos_tx_id");

  pb::Request st;
  st.mutable_get_transaction_status()->set_pos_tx_id(tx("bad-basket"));
  EXPECT_FALSE(call(st).transaction_status().found()) << "a rejected request must leave no trace";

  pb::Request blocked;
  *blocked.mutable_accrue()->mutable_identifier() = card(13);
  blocked.mutable_accrue()->set_pos_tx_id(tx("blocked"));
  *blocked.mutable_accrue()->mutable_basket() = basket();
  EXPECT_EQ(call(blocked).error().code(), pb::ERROR_CODE_FAILED_PRECONDITION);
}

INSTANTIATE_TEST_SUITE_P(Framings, AgentApiTest,
                         ::testing::Values(Framing::kBinary, Framing::kJsonLines),
                         [](const auto& param_info) {
                           return param_info.param == Framing::kBinary ? "Protobuf" : "JsonLines";
                         });

// Broken clients, each on its own connection, against one agent.
class BrokenClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    agent_ = new AgentProcess(100);
    ASSERT_TRUE(agent_->start());
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(agent_->stop(SIGTERM), 0);
    delete agent_;
  }
  static void expect_agent_still_serves() {
    pb::Request req;
    req.set_request_id("alive");
    *req.mutable_validate()->mutable_identifier() = card(10);
    auto c = agent_->connect();
    auto r = c.call(req);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->has_validate());
  }
  static AgentProcess* agent_;
};
AgentProcess* BrokenClientTest::agent_ = nullptr;

TEST_F(BrokenClientTest, OversizedFrameIsAnsweredThenClosed) {
  auto c = agent_->connect();
  std::string header = {'\x00', '\x20', '\x00', '\x00'};  // 2 MiB
  ASSERT_TRUE(c.send_bytes(header));
  auto r = c.read_response();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_NE(r->error().message().find("over the limit"), std::string::npos);
  EXPECT_TRUE(c.closed_by_peer());
  expect_agent_still_serves();
}

TEST_F(BrokenClientTest, GarbageFrameGetsAnErrorAndTheConnectionLives) {
  auto c = agent_->connect();
  std::string garbage = {'\x00', '\x00', '\x00', '\x05', '\xff', '\xff', '\xff', '\xff', '\xff'};
  ASSERT_TRUE(c.send_bytes(garbage));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  pb::Request req;
  req.set_request_id("after-garbage");
  *req.mutable_validate()->mutable_identifier() = card(10);
  auto ok = c.call(req);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->has_validate());
}

TEST_F(BrokenClientTest, TruncatedFrameThenHangUpHarmsNothing) {
  {
    auto c = agent_->connect();
    std::string partial = {'\x00', '\x00', '\x01', '\x00', 'a', 'b', 'c'};
    ASSERT_TRUE(c.send_bytes(partial));
  }  // hang up mid-frame
  expect_agent_still_serves();
}

TEST_F(BrokenClientTest, BadJsonLineGetsAnError) {
  auto c = agent_->connect(Framing::kJsonLines);
  ASSERT_TRUE(c.send_bytes("{\"request_id\": 5, \"nonsense\": true}\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  ASSERT_TRUE(c.send_bytes("{not json at all\n"));
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
}

// A JSON-lines client that starts with a byte order mark and a blank line is understood, and an
// answer to a line that is not a valid Request still carries its request_id, so a POS can match
// answers to requests by id in both framings.
TEST_F(BrokenClientTest, AJsonClientStartingWithAByteOrderMarkGetsItsRequestIdEchoedOnErrors) {
  auto c = agent_->connect(Framing::kJsonLines);
  ASSERT_TRUE(c.send_bytes("\xEF\xBB\xBF\r\n{\"request_id\":\"r-1\",\"colour\":\"blue\"}\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request_id(), "r-1");
  EXPECT_EQ(r->error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_NE(r->error().message().find("colour"), std::string::npos) << r->error().message();
  ASSERT_TRUE(c.send_bytes("{\"request_id\":\"r-2\",\"get_agent_status\":{}}\n"));
  auto ok = c.read_response();
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->request_id(), "r-2");
  EXPECT_TRUE(ok->has_agent_status());
}

TEST_F(BrokenClientTest, EndlessJsonLineIsCutOff) {
  auto c = agent_->connect(Framing::kJsonLines);
  std::string chunk = "{" + std::string(64 * 1024, 'x');
  for (int i = 0; i < 20; ++i) {
    if (!c.send_bytes(chunk)) break;  // the agent may close first
  }
  auto r = c.read_response();
  if (r) {
    EXPECT_EQ(r->error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  }
  expect_agent_still_serves();
}

// A write's deadline bounds its wait for the replica's writer (proto/README.md, Deadlines): one
// still waiting at its deadline is not applied, answered DEADLINE_EXCEEDED (retryable) and leaves
// no trace, so the same request can be sent again; one that waited less is applied.
TEST(AgentDeadlineTest, AWriteStillWaitingAtItsDeadlineIsNotAppliedAndSafeToRetry) {
  AgentProcess agent(100);
  ASSERT_EQ(agent.seed_status(), 0);
  ASSERT_TRUE(agent.start()) << "see " << agent.log_path();
  auto sale = [](const std::string& pos_tx_id, uint32_t deadline_ms) {
    pb::Request req;
    req.set_request_id(pos_tx_id);
    req.set_till_id("till-1");
    req.set_deadline_ms(deadline_ms);
    auto* a = req.mutable_accrue();
    *a->mutable_identifier() = card(21);
    a->set_pos_tx_id(pos_tx_id);
    *a->mutable_basket() = basket();
    return req;
  };
  // Another process holds the replica's write lock: the agent's writer waits. The lock goes
  // 1.5 s after both sales were sent (the writer's own patience for a lock is 5 s).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(agent.db_path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto patient = agent.connect();
  auto hasty = agent.connect();
  ASSERT_TRUE(patient.send_bytes(encode_request(Framing::kBinary, sale("patient", 6000))));
  ASSERT_TRUE(hasty.send_bytes(encode_request(Framing::kBinary, sale("hasty", 100))));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto late = hasty.read_response();
  auto applied = patient.read_response();
  ASSERT_TRUE(late) << late.error().message;
  EXPECT_EQ(late->error().code(), pb::ERROR_CODE_DEADLINE_EXCEEDED) << late->ShortDebugString();
  EXPECT_TRUE(late->error().retryable());
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_TRUE(applied->has_accrue()) << "waited 1.5 s of its 6: applied";

  auto c = agent.connect();
  pb::Request status;
  status.set_till_id("till-1");
  status.mutable_get_transaction_status()->set_pos_tx_id("hasty");
  auto st = c.call(status);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(st->transaction_status().found()) << "a write past its deadline leaves no trace";
  auto again = c.call(sale("hasty", 100));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->has_accrue()) << again->ShortDebugString();
  EXPECT_FALSE(again->accrue().replayed());
  EXPECT_EQ(agent.stop(SIGTERM), 0);
}

TEST(AgentIdleTest, SilentAndFinishedConnectionsAreClosedWhenIdle) {
  AgentProcess agent(10);
  ASSERT_TRUE(agent.start({"--idle-timeout", "1"}));
  auto quiet = agent.connect();  // never sends anything
  auto talker = agent.connect();
  pb::Request req;
  req.set_request_id("once");
  req.mutable_get_agent_status();
  ASSERT_TRUE(talker.call(req));
  quiet.set_timeout(std::chrono::milliseconds(3000));
  talker.set_timeout(std::chrono::milliseconds(3000));
  EXPECT_TRUE(quiet.closed_by_peer());
  EXPECT_TRUE(talker.closed_by_peer());
  EXPECT_EQ(agent.stop(SIGTERM), 0);
}

// Start-up refusals: the exit code and message an operator sees.
TEST(AgentStartupTest, RefusesAReplicaFromANewerVersion) {
  AgentProcess agent(10);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(agent.db_path().c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_FALSE(agent.start());
  std::ifstream log(agent.log_path());
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(text.find("newer than this agent"), std::string::npos) << text;
}

TEST(AgentStartupTest, RefusesADamagedReplica) {
  AgentProcess agent(2000);
  {
    std::fstream f(agent.db_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3);
    std::string junk(4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  EXPECT_FALSE(agent.start());
  std::ifstream log(agent.log_path());
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_TRUE(text.find("damaged") != std::string::npos ||
              text.find("quick_check") != std::string::npos ||
              text.find("malformed") != std::string::npos)
      << text;
}

TEST(AgentStartupTest, UnknownConfigKeyIsNamed) {
  AgentProcess agent(10);
  std::ofstream(agent.dir() + "/agent.toml")
      << "store_id = \"store-1\"\nlisten_everywhere = true\n";
  EXPECT_FALSE(agent.start({"--config", agent.dir() + "/agent.toml"}));
  std::ifstream log(agent.log_path());
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(text.find("listen_everywhere: unknown key"), std::string::npos) << text;
}

// One agent per replica: a second agent on the same data directory, or on another replica but
// the same socket, exits at once with 73 and says why; the running one keeps its socket. Once
// it is gone (SIGKILL: no clean-up), its lock and stale socket no longer stand in the way.
TEST(AgentStartupTest, ASecondAgentOnTheSameReplicaOrSocketIsRefused) {
  AgentProcess first(10);
  ASSERT_TRUE(first.start());
  // The exit code of the agent run with `args`, or -1 when it is still running after 10 s.
  auto exit_of = [&](const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv = {
        ACCRUE_AGENT_BINARY,  "--store-id", "store-1", "--program-key-file",
        first.dir() + "/key", "--currency", "EUR"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = accrue::testing::spawn(argv, log);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  };
  auto text_of = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  const std::string same_dir_log = first.dir() + "/second.log";
  EXPECT_EQ(exit_of({"--data-dir", first.dir() + "/data", "--socket", first.dir() + "/other.sock"},
                    same_dir_log),
            73);
  EXPECT_NE(text_of(same_dir_log).find("another accrue-agent is running on"), std::string::npos)
      << text_of(same_dir_log);

  AgentProcess other(10);
  const std::string same_socket_log = other.dir() + "/second.log";
  EXPECT_EQ(
      exit_of({"--data-dir", other.dir() + "/data", "--socket", first.socket()}, same_socket_log),
      73);
  EXPECT_NE(text_of(same_socket_log).find("is in use by a running accrue-agent"), std::string::npos)
      << text_of(same_socket_log);
  // The first agent still answers on its socket.
  auto client = first.connect();
  pb::Request status;
  status.mutable_get_agent_status();
  auto answer = client.call(status);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->has_agent_status());

  // Killed without clean-up, it leaves a socket file and no lock: a new agent starts.
  EXPECT_EQ(first.stop(SIGKILL), 128 + SIGKILL);
  EXPECT_TRUE(std::filesystem::exists(first.socket()));
  EXPECT_TRUE(first.start()) << text_of(first.log_path());
  EXPECT_EQ(first.stop(SIGTERM), 0);
}

// SIGHUP: what can change under running connections does; the rest is named and waits for a
// restart; a bad file changes nothing.
std::string wait_for_log(const AgentProcess& agent, const std::string& needle, size_t from = 0) {
  for (int i = 0; i < 500; ++i) {
    std::ifstream log(agent.log_path());
    std::string text((std::istreambuf_iterator<char>(log)), {});
    if (text.find(needle, from) != std::string::npos) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

TEST(AgentReloadTest, SighupAppliesLiveSettingsNamesTheRestAndRefusesABadFile) {
  AgentProcess agent(10);
  const std::string file = agent.dir() + "/agent.toml";
  std::ofstream(file) << "[limits]\nmax_connections = 50\nidle_timeout_s = 300\n";
  ASSERT_TRUE(agent.start({"--config", file})) << agent.log_path();
  pb::Request status;
  status.set_request_id("s");
  status.mutable_get_agent_status();

  std::ofstream(file, std::ios::trunc)
      << "log_level = \"debug\"\n[limits]\nmax_connections = 1\nidle_timeout_s = 1\nreaders = 2\n";
  ASSERT_EQ(::kill(agent.pid(), SIGHUP), 0);
  std::string log = wait_for_log(agent, "config_change_needs_restart");
  ASSERT_FALSE(log.empty()) << "no reload in " << agent.log_path();
  const size_t reloaded = log.find("config_reloaded");
  ASSERT_NE(reloaded, std::string::npos);
  const std::string line = log.substr(reloaded, log.find('\n', reloaded) - reloaded);
  EXPECT_NE(line.find("log_level"), std::string::npos) << line;
  EXPECT_NE(line.find("limits.max_connections"), std::string::npos) << line;
  EXPECT_NE(line.find("limits.idle_timeout_s"), std::string::npos) << line;
  EXPECT_EQ(line.find("limits.readers"), std::string::npos) << line;
  EXPECT_NE(log.find("limits.readers", log.find("config_change_needs_restart")), std::string::npos);

  // The cap of one connection holds for the next connection: the idle first one makes room.
  // (The first counts as busy until the agent has finished writing its answer, which the
  // client may see a moment earlier: then the second is refused and tries again.)
  auto first = agent.connect();
  ASSERT_TRUE(first.call(status));
  std::optional<ctl::AgentClient> second;
  for (int i = 0; i < 50 && !second; ++i) {
    auto c = agent.connect();
    auto r = c.call(status);
    if (r && !r->has_error()) {
      second.emplace(std::move(c));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_TRUE(second) << "the idle first connection did not make room";
  first.set_timeout(std::chrono::milliseconds(100));
  EXPECT_TRUE(first.closed_by_peer()) << "evicted at the cap";
  // The one-second idle timeout closes the second.
  second->set_timeout(std::chrono::milliseconds(4000));
  EXPECT_TRUE(second->closed_by_peer());

  // A bad value: refused by name, and the running limits stay (one connection is served).
  const size_t before = log.size();
  std::ofstream(file, std::ios::trunc) << "[limits]\nmax_connections = 0\n";
  ASSERT_EQ(::kill(agent.pid(), SIGHUP), 0);
  log = wait_for_log(agent, "config_reload_failed", before);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.find("limits.max_connections", before), std::string::npos);
  pb::Response served;
  for (int i = 0; i < 100; ++i) {  // the first connection's session ends asynchronously
    auto c = agent.connect();
    auto r = c.call(status);
    ASSERT_TRUE(r);
    served = *r;
    if (!served.has_error()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(served.has_error()) << served.error().message();
  EXPECT_EQ(agent.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace accrue::testing
