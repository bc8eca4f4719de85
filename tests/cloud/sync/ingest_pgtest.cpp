// POST /v1/sync/events end to end: the real accrue-cloud server (in this process) on a real
// PostgreSQL database, driven over HTTP like an agent would.
#include "cloud/sync/ingest.h"

#include <limits>

#include "common/sealed_contact.h"
#include "tests/cloud/cloud_app_fixture.h"

namespace accrue::cloud {
namespace {

namespace sv1 = accrue::sync::v1;
namespace bhttp = boost::beast::http;
using testing::HttpClient;
using testing::TestDatabase;

using IngestTest = testing_support::CloudAppTest;
using namespace testing_support;

TEST_F(IngestTest, TheSameBatchPostedTenTimesAtOnceAppliesOnce) {
  add_customers(20);
  std::vector<sv1::EventEnvelope> events;
  int64_t expected_total = 0;
  for (int i = 0; i < 50; ++i) {
    events.push_back(accrual(static_cast<uint64_t>(i + 1), "c" + std::to_string(i % 20),
                             1000 + 137 * i, "sale-" + std::to_string(i)));
    expected_total += events.back().accrual().points();
  }
  const auto batch = batch_of(events);
  std::atomic<int> applied{0}, duplicate{0}, other{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < 8; ++t) {
    posters.emplace_back([&, t] {
      for (int k = t; k < 10; k += 8) {
        auto res = post(batch, token_);
        sv1::EventBatchResult r;
        if (res.result_int() != 200 || !r.ParseFromString(res.body())) {
          ++other;
          continue;
        }
        for (const auto& e : r.results()) {
          if (e.status() == sv1::EVENT_STATUS_APPLIED)
            ++applied;
          else if (e.status() == sv1::EVENT_STATUS_DUPLICATE)
            ++duplicate;
          else
            ++other;
        }
      }
    });
  }
  for (auto& t : posters) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(applied.load(), 50);
  EXPECT_EQ(duplicate.load(), 9 * 50);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger"), "50");
  EXPECT_EQ(db_.scalar("SELECT sum(points) FROM balance"), std::to_string(expected_total));
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM points_lot"), "50");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM receipt"), "50");
  EXPECT_EQ(db_.scalar("SELECT last_seq FROM agent WHERE agent_id = 'S1-agent'"), "50");
  EXPECT_EQ(app_->ingest_counters().applied.load(), 50u);

  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  auto report = audit(*conn);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->customers, 20);
  EXPECT_EQ(report->ledger_rows, 50);

  // Tampering with one balance is caught, by the library and by the command.
  ASSERT_TRUE(conn->exec("UPDATE balance SET points = points + 1 WHERE customer_id = 'c7'"));
  report = audit(*conn);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->mismatches, 1);
  ASSERT_EQ(report->examples.size(), 1u);
  EXPECT_EQ(report->examples[0].customer_id, "c7");
  const std::string cmd = std::string(ACCRUE_CLOUD_BINARY) + " --set 'postgres.dsn=" + db_.dsn() +
                          "' audit > " + (dir_ / "audit.out").string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << read_file((dir_ / "audit.out").string());
  EXPECT_NE(read_file((dir_ / "audit.out").string()).find("customer c7"), std::string::npos);
}

TEST_F(IngestTest, OneBadEventNeverFailsTheBatch) {
  add_customers(2);
  std::vector<sv1::EventEnvelope> events;
  events.push_back(accrual(1, "c0", 5000, "a"));
  events.push_back(accrual(2, "nobody", 5000, "b"));  // unknown customer
  auto bad_id = accrual(3, "c1", 5000, "c");
  bad_id.set_event_id("not-a-uuid");
  events.push_back(bad_id);
  auto old_program = accrual(4, "c1", 5000, "d");
  old_program.set_program_version(1);  // never published
  events.push_back(old_program);
  auto lying = accrual(5, "c1", 5000, "e");
  lying.mutable_accrual()->set_points(999);  // the store's number is wrong
  events.push_back(lying);
  events.push_back(accrual(9, "c1", 1000, "f"));  // seq jumps 5 -> 9
  // A receipt key too long for the unique index would fail the whole batch in PostgreSQL.
  events.push_back(accrual(10, "c1", 1000, std::string(4000, 'x')));
  auto huge = envelope(11);
  huge.mutable_adjustment()->set_customer_id("c1");
  huge.mutable_adjustment()->set_points(std::numeric_limits<int64_t>::max());
  huge.mutable_adjustment()->set_reason("typo");
  events.push_back(huge);
  auto r = results(post(batch_of(events), token_));
  ASSERT_EQ(r.results_size(), 8);
  EXPECT_EQ(r.results(6).reject_code(), "bad_field");
  EXPECT_EQ(r.results(7).reject_code(), "bad_field");
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(r.results(1).status(), sv1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(r.results(1).reject_code(), "unknown_customer");
  EXPECT_EQ(r.results(2).reject_code(), "bad_event_id");
  EXPECT_EQ(r.results(3).reject_code(), "program_version");
  EXPECT_EQ(r.results(4).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(r.results(5).status(), sv1::EVENT_STATUS_APPLIED);
  const int64_t right = points_for(lying.accrual().basket());
  EXPECT_EQ(db_.scalar("SELECT points || '/' || agent_points FROM ledger WHERE event_id = '" +
                       lying.event_id() + "'"),
            std::to_string(right) + "/999")
      << "the cloud's figure wins and the store's is kept";
  EXPECT_EQ(db_.scalar("SELECT string_agg(from_seq || '-' || to_seq, ',' ORDER BY from_seq) "
                       "FROM agent_seq_gap"),
            "6-8");
  EXPECT_EQ(app_->ingest_counters().mismatched.load(), 1u);
  EXPECT_EQ(app_->ingest_counters().seq_gaps.load(), 1u);
}

TEST_F(IngestTest, RedemptionDrawsLotsAndAReturnNeverTakesBackMoreThanTheSaleEarned) {
  add_customers(1);
  auto sale = accrual(1, "c0", 20000, "sale");  // 200 EUR: 200 points, pending 14 days
  const int64_t earned = sale.accrual().points();
  ASSERT_GT(earned, 0);
  auto red = envelope(2);
  red.mutable_redemption()->set_customer_id("c0");
  red.mutable_redemption()->set_points(50);
  red.mutable_redemption()->set_offline(true);
  auto ret = envelope(3);
  ret.mutable_return_()->set_customer_id("c0");
  ret.mutable_return_()->set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("return-2");
  ret.mutable_return_()->set_original_event_id(sale.event_id());
  ret.mutable_return_()->set_points_reversed(earned + 500);  // more than the sale earned
  auto orphan = envelope(4);
  orphan.mutable_return_()->set_customer_id("c0");
  orphan.mutable_return_()->set_till_id("till-1");
  orphan.mutable_return_()->set_pos_tx_id("return-3");
  orphan.mutable_return_()->set_original_event_id("01a21f73-9c00-7000-8000-0000000000ff");
  orphan.mutable_return_()->set_points_reversed(1);
  auto r = results(post(batch_of({sale, red, ret, orphan}), token_));
  ASSERT_EQ(r.results_size(), 4);
  EXPECT_EQ(r.results(2).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(r.results(3).status(), sv1::EVENT_STATUS_APPLIED) << "held for review, not refused";
  EXPECT_EQ(db_.scalar("SELECT status || ' ' || points_reversed FROM sale_return WHERE "
                       "event_id = '" +
                       orphan.event_id() + "'"),
            "held 0");
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'c0'"), "-50")
      << "+earned -50 redeemed offline -earned returned";
  EXPECT_EQ(
      db_.scalar("SELECT points_reversed FROM receipt WHERE event_id = '" + sale.event_id() + "'"),
      std::to_string(earned));
  EXPECT_EQ(db_.scalar("SELECT remaining FROM points_lot WHERE lot_id = '" + sale.event_id() + "'"),
            "0");
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  EXPECT_TRUE(audit(*conn)->ok());
}

TEST_F(IngestTest, EnrolmentClaimsProvisionalPointsAndMapsTheStoresTempId) {
  std::string hash(32, '\x5a');
  auto prov = accrual(1, "", 3000, "walk-in");
  prov.mutable_accrual()->clear_customer_id();
  prov.mutable_accrual()->mutable_identifier()->set_kind("card");
  prov.mutable_accrual()->mutable_identifier()->set_hash(hash);
  prov.mutable_accrual()->set_provisional(true);
  auto r1 = results(post(batch_of({prov}), token_));
  ASSERT_EQ(r1.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r1.results(0).message();
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE customer_id IS NULL"), "1");

  auto en = envelope(2);
  auto* e = en.mutable_enrolment();
  e->set_temp_customer_id("temp-1");
  auto* id = e->add_identifiers();
  id->set_kind("card");
  id->set_hash(hash);
  e->set_display_name("Ada");
  e->set_consent_terms(true);
  e->set_bonus_points(100);
  auto later = accrual(3, "temp-1", 1000, "after-enrol");  // the store still uses its temp id
  auto r2 = results(post(batch_of({en, later}), token_));
  ASSERT_EQ(r2.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r2.results(0).message();
  ASSERT_EQ(r2.results(1).status(), sv1::EVENT_STATUS_APPLIED) << r2.results(1).message();
  const std::string cid =
      db_.scalar("SELECT customer_id FROM customer WHERE temp_customer_id = 'temp-1'");
  const int64_t want = prov.accrual().points() + 100 + later.accrual().points();
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = '" + cid + "'"),
            std::to_string(want));
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE kind = 7 AND customer_id = '" + cid +
                       "' AND ref_event_id = '" + prov.event_id() + "'"),
            "1");
  EXPECT_EQ(db_.scalar("SELECT customer_id FROM identifier"), cid);
  EXPECT_EQ(db_.scalar("SELECT display_name FROM customer_pii"), "Ada");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM change_feed WHERE kind = 5"), "1");

  // Replaying the enrolment creates nobody new.
  auto r3 = results(post(batch_of({en}), token_));
  EXPECT_EQ(r3.results(0).status(), sv1::EVENT_STATUS_DUPLICATE);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM customer"), "1");
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  EXPECT_TRUE(audit(*conn)->ok());
}

TEST_F(IngestTest, AuthenticationAndBadInputsAreRefusedChangingNothing) {
  add_customers(1);
  auto batch = batch_of({accrual(1, "c0", 1000, "x")});
  HttpClient client(app_->port());
  const std::string body = batch.SerializeAsString();
  auto status = [&](const std::string& b,
                    std::initializer_list<std::pair<std::string, std::string>> h) {
    return client.request(bhttp::verb::post, "/v1/sync/events", b, h).result_int();
  };
  const std::pair<std::string, std::string> proto{"Content-Type", "application/x-protobuf"};
  EXPECT_EQ(status(body, {proto}), 401u);
  EXPECT_EQ(status(body, {proto, {"Authorization", "Bearer " + expired_token_}}), 401u);
  std::string forged = token_;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(status(body, {proto, {"Authorization", "Bearer " + forged}}), 401u);
  EXPECT_EQ(status(body, {proto, {"Authorization", "Bearer v1.S1.9999999999.zz"}}), 401u);
  EXPECT_EQ(status(body, {proto, {"Authorization", "Bearer " + other_token_}}), 403u)
      << "store S2 may not upload S1's events";
  EXPECT_EQ(status(body, {{"Authorization", "Bearer " + token_}}), 415u);
  EXPECT_EQ(status("\xff\xff\xff garbage", {proto, {"Authorization", "Bearer " + token_}}), 400u);
  EXPECT_EQ(status("\x1f\x8b\x08 corrupt",
                   {proto, {"Authorization", "Bearer " + token_}, {"Content-Encoding", "gzip"}}),
            400u);
  // A gzip bomb: small on the wire, beyond the inflate limit.
  sv1::EventBatch big = batch;
  big.mutable_events(0)->mutable_accrual()->set_pos_tx_id(std::string(2 << 20, 'x'));
  EXPECT_EQ(post(big, token_, true).result_int(), 413u);
  // Over the body limit on the wire: answered, then the connection is closed.
  HttpClient other(app_->port());
  EXPECT_EQ(other
                .request(bhttp::verb::post, "/v1/sync/events", std::string(300000, 'x'),
                         {proto, {"Authorization", "Bearer " + token_}})
                .result_int(),
            413u);
  sv1::EventBatch too_many = batch;
  for (int i = 0; i < 2000; ++i) *too_many.add_events() = batch.events(0);
  EXPECT_EQ(post(too_many, token_, true).result_int(), 400u);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger"), "0") << "nothing was written";

  // And the same batch, gzipped and authenticated, goes through.
  auto ok = results(post(batch, token_, true));
  EXPECT_EQ(ok.results(0).status(), sv1::EVENT_STATUS_APPLIED);
}

TEST_F(IngestTest, HealthReadinessAndMetrics) {
  HttpClient client(app_->port());
  EXPECT_EQ(client.request(bhttp::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(client.request(bhttp::verb::get, "/readyz").result_int(), 200u);
  auto m = client.request(bhttp::verb::get, "/metrics");
  EXPECT_EQ(m.result_int(), 200u);
  EXPECT_NE(m.body().find("accrue_http_requests_total{route=\"readyz\",code=\"2xx\"} 1"),
            std::string::npos)
      << m.body();
  EXPECT_NE(m.body().find("accrue_pg_pool_connections{state=\"size\"} 8"), std::string::npos);
  EXPECT_NE(m.body().find("accrue_ingest_events_total{result=\"applied\"} 0"), std::string::npos);
}

// The contact details a till sealed at enrolment: opened with the cloud's key into the member's
// personal data, each consent with the till's time; sealed to another key, kept sealed (and
// counted), never a reason to refuse the enrolment.
class IngestContactTest : public CloudAppTest {
 protected:
  std::vector<std::string> extra_settings() override {
    key_file_path_ = (std::filesystem::temp_directory_path() /
                      ("accrue-contact-" + std::to_string(::getpid()) + ".pem"))
                         .string();
    auto pem = make_contact_key_pem();
    EXPECT_TRUE(pem);
    std::ofstream(key_file_path_) << *pem;
    opener_ = ContactOpener::from_pem(*pem).value();
    return {"auth.contact_key_file=" + key_file_path_};
  }
  sv1::EventEnvelope enrolment(uint64_t seq, const std::string& temp, const std::string& sealed) {
    auto en = envelope(seq);
    auto* e = en.mutable_enrolment();
    e->set_temp_customer_id(temp);
    auto* id = e->add_identifiers();
    id->set_kind("card");
    id->set_hash(std::string(32, static_cast<char>('a' + seq)));
    e->set_display_name("Ada");
    e->set_consent_terms(true);
    e->set_consent_marketing_email(true);
    e->set_bonus_points(100);
    e->set_sealed_contact(sealed);
    return en;
  }
  std::string key_file_path_;
  std::optional<ContactOpener> opener_;
};

TEST_F(IngestContactTest, SealedContactIsOpenedIntoThePersonalDataWithTheConsentTimes) {
  auto sealed = seal_contact(opener_->public_key(), {"ada@example.org", "+48600700800"});
  ASSERT_TRUE(sealed);
  auto en = enrolment(1, "temp-ada", *sealed);
  auto r = results(post(batch_of({en}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(db_.scalar("SELECT email || ' ' || phone || ' ' || (sealed_contact IS NULL) FROM "
                       "customer_pii WHERE display_name = 'Ada'"),
            "ada@example.org +48600700800 true");
  EXPECT_EQ(db_.scalar("SELECT (extract(epoch FROM consent_marketing_email_at) * 1000)::bigint "
                       "FROM customer_pii WHERE display_name = 'Ada'"),
            std::to_string(en.occurred_at_ms()))
      << "the time the member consented at the till";

  // The page carries the key stores seal to.
  auto page = get("/v1/sync/changes", token_);
  sv1::ChangesPage p;
  ASSERT_TRUE(p.ParseFromString(page.body()));
  EXPECT_EQ(p.contact_key(),
            std::string(opener_->public_key().begin(), opener_->public_key().end()));
}

TEST_F(IngestContactTest, ContactSealedToAnotherKeyIsKeptSealedAndTheMemberStillEnrols) {
  auto other = ContactOpener::from_pem(*make_contact_key_pem());
  ASSERT_TRUE(other);
  auto sealed = seal_contact(other->public_key(), {"bo@example.org", ""});
  auto en = enrolment(2, "temp-bo", *sealed);
  auto r = results(post(batch_of({en}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(db_.scalar("SELECT coalesce(email, '-') || ' ' || length(sealed_contact) FROM "
                       "customer_pii c JOIN customer USING (customer_id) WHERE "
                       "temp_customer_id = 'temp-bo'"),
            "- " + std::to_string(sealed->size()));
  HttpClient client(app_->port());
  auto m = client.request(bhttp::verb::get, "/metrics");
  EXPECT_NE(m.body().find("accrue_ingest_unreadable_contacts_total 1"), std::string::npos);
}

}  // namespace
}  // namespace accrue::cloud
