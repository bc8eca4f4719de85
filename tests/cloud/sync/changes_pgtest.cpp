// GET /v1/sync/changes: bootstrap, the feed, the store's scope, and the cursor's promise that a
// transaction committing late is never skipped.
#include "cloud/sync/changes.h"

#include <functional>
#include <thread>

#include "cloud/core/audit.h"
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/cloud/test_certs.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>

namespace accrue::cloud {
namespace {

using namespace testing_support;
using ChangesTest = CloudAppTest;

struct Seen {
  std::vector<std::string> customers;
  std::vector<std::string> removed;
  std::map<std::string, loyalty::v1::CustomerSnapshot> snapshot;
  int programs = 0;
  int links = 0;
  int mappings = 0;
  bool reset = false;
  bool has_more = false;
  std::string next;
};

class FeedTest : public ChangesTest {
 protected:
  Seen page(const std::string& cursor, int max = 100, const std::string& token = "") {
    HttpClient client(app_->port());
    std::string target = "/v1/sync/changes?max=" + std::to_string(max);
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto res = client.request(bhttp::verb::get, target, "",
                              {{"Authorization", "Bearer " + (token.empty() ? token_ : token)}});
    Seen s;
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    sv1::ChangesPage p;
    EXPECT_TRUE(p.ParseFromString(res.body()));
    for (const auto& ch : p.changes()) {
      if (ch.has_customer()) {
        s.customers.push_back(ch.customer().customer_id());
        s.snapshot[ch.customer().customer_id()] = ch.customer();
      }
      if (ch.has_removed()) s.removed.push_back(ch.removed().customer_id());
      s.programs += ch.has_program();
      s.links += ch.has_identifier();
      s.mappings += ch.has_mapping();
    }
    s.reset = p.reset();
    s.has_more = p.has_more();
    s.next = p.next_cursor();
    return s;
  }
  // Pages from `cursor` until `done` holds for what arrived (or 15 s pass). Delivery is
  // eventual: transaction ids are cluster-wide, so any transaction open on the server (other
  // tests' databases included) holds the feed back until it ends.
  Seen page_until(const std::string& cursor, const std::function<bool(const Seen&)>& done) {
    Seen all;
    all.next = cursor;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      auto p = page(all.next);
      all.customers.insert(all.customers.end(), p.customers.begin(), p.customers.end());
      all.removed.insert(all.removed.end(), p.removed.begin(), p.removed.end());
      for (auto& [k, v] : p.snapshot) all.snapshot[k] = v;
      all.programs += p.programs;
      all.links += p.links;
      all.mappings += p.mappings;
      all.next = p.next;
      if (done(all)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return all;
  }
  // Bootstraps and returns the feed cursor after it.
  std::string through_bootstrap(std::vector<std::string>* seen = nullptr) {
    std::string cursor;
    for (int i = 0; i < 20; ++i) {
      auto p = page(cursor, 2);
      if (seen) seen->insert(seen->end(), p.customers.begin(), p.customers.end());
      cursor = p.next;
      if (auto raw = auth::base64url_decode(cursor); raw && raw->starts_with("f:")) break;
    }
    // Drain whatever the feed holds from before.
    for (int i = 0; i < 20; ++i) {
      auto p = page(cursor);
      cursor = p.next;
      if (!p.has_more) break;
    }
    return cursor;
  }
  void homes() {
    add_customers(6);
    auto c = db_.connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(
        c->exec("INSERT INTO store (store_id) VALUES ('S1'), ('S2');"
                "UPDATE customer SET home_store_id = CASE WHEN customer_id = 'c5' THEN 'S2' ELSE "
                "'S1' END"));
  }
};

TEST_F(FeedTest, BootstrapsTheStoresScopeThenFollowsChanges) {
  homes();
  std::vector<std::string> boot;
  auto first = page("", 2);
  EXPECT_TRUE(first.reset) << "an empty cursor rebuilds the replica";
  EXPECT_EQ(first.programs, 1) << "the programme comes with the first page";
  boot = first.customers;
  std::string cursor = first.next;
  for (int i = 0; i < 5; ++i) {
    auto p = page(cursor, 2);
    EXPECT_FALSE(p.reset);
    boot.insert(boot.end(), p.customers.begin(), p.customers.end());
    cursor = p.next;
    if (auth::base64url_decode(cursor)->starts_with("f:")) break;
  }
  EXPECT_EQ(boot, (std::vector<std::string>{"c0", "c1", "c2", "c3", "c4"}))
      << "home customers of S1 only, in id order";

  for (int i = 0; i < 5; ++i) {  // nothing new yet
    auto p = page(cursor);
    cursor = p.next;
    if (!p.has_more) {
      EXPECT_TRUE(p.customers.empty());
      break;
    }
  }
  auto sale = accrual(1, "c1", 4000, "s");
  ASSERT_EQ(results(post(batch_of({sale}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  auto p = page_until(cursor, [](const Seen& s) { return !s.customers.empty(); });
  ASSERT_EQ(p.customers, std::vector<std::string>{"c1"});
  EXPECT_EQ(p.snapshot["c1"].pending_points(), sale.accrual().points());
  EXPECT_EQ(p.snapshot["c1"].home_store_id(), "S1");
  cursor = p.next;

  // c5 lives in S2; once S1 uploads an event of theirs, S1 keeps them in view.
  auto visit = accrual(2, "c5", 1000, "v");
  ASSERT_EQ(results(post(batch_of({visit}), token_)).results(0).status(),
            sv1::EVENT_STATUS_APPLIED);
  p = page_until(cursor, [](const Seen& s) { return !s.customers.empty(); });
  EXPECT_EQ(p.customers, std::vector<std::string>{"c5"});
  cursor = p.next;
  EXPECT_TRUE(page(cursor).customers.empty()) << "the cursor moved past what was delivered";

  // A new programme version reaches every store.
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  std::string v4 = program_json_;
  v4.replace(v4.find("\"version\": 3"), 12, "\"version\": 4");
  ASSERT_TRUE(ProgramCatalog::publish(*conn, v4));
  EXPECT_EQ(page_until(cursor, [](const Seen& s) { return s.programs > 0; }).programs, 1);
}

TEST_F(FeedTest, AnErasureReachesAStoreThatSawTheMemberLongAgo) {
  homes();  // c5 lives in S2
  auto c = db_.connect();
  ASSERT_TRUE(c);
  // S1 sold to c5 a year ago: its replica still holds her, but she is out of its scope now.
  ASSERT_TRUE(c->exec(
      "INSERT INTO store_customer (store_id, customer_id, last_seen_at) VALUES ('S1', 'c5', "
      "now() - interval '400 days')"));
  std::string cursor = through_bootstrap();
  ASSERT_TRUE(c->exec("INSERT INTO change_feed (kind, customer_id) VALUES (1, 'c5'), (1, 'c1')"));
  auto p = page_until(cursor, [](const Seen& s) { return !s.customers.empty(); });
  EXPECT_EQ(p.customers, std::vector<std::string>{"c1"}) << "her changes are S2's business now";
  cursor = p.next;

  // Erased: every store that ever saw her drops her name and identifiers.
  ASSERT_TRUE(
      c->exec("UPDATE customer SET status = 3 WHERE customer_id = 'c5';"
              "INSERT INTO change_feed (kind, customer_id) VALUES (1, 'c5')"));
  p = page_until(cursor, [](const Seen& s) { return !s.removed.empty(); });
  EXPECT_EQ(p.removed, std::vector<std::string>{"c5"});
  EXPECT_TRUE(p.customers.empty());
}

// prune-feed: rows older than the retention go; a store that had read them goes on, a store
// whose cursor is before them starts over with a reset; a second prune at the same time waits
// for nothing and does nothing.
TEST_F(FeedTest, PruningSendsAResetOnlyToACursorItOvertook) {
  homes();
  const std::string before = through_bootstrap();
  auto sale = accrual(1, "c1", 4000, "p1");
  ASSERT_EQ(results(post(batch_of({sale}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  const std::string read =
      page_until(before, [](const Seen& s) { return !s.customers.empty(); }).next;
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->exec("UPDATE change_feed SET created_at = now() - interval '40 days'"));
  {
    auto other = db_.connect();  // a prune already running elsewhere holds the lock
    ASSERT_TRUE(other);
    ASSERT_TRUE(other->exec("SELECT pg_advisory_lock(7378415046574110062)"));
    auto skipped = ChangeFeed::prune(*conn, std::chrono::hours(24 * 30));
    ASSERT_TRUE(skipped) << skipped.error().message;
    EXPECT_TRUE(skipped->skipped);
    // Released here: a closed connection's backend lets go of its locks only when it has
    // finished exiting, which on a busy machine is after the next line.
    ASSERT_TRUE(other->exec("SELECT pg_advisory_unlock(7378415046574110062)"));
  }
  auto pruned = ChangeFeed::prune(*conn, std::chrono::hours(24 * 30), 2);  // small batches
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_FALSE(pruned->skipped);
  EXPECT_GE(pruned->deleted, 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM change_feed"), "0");

  auto later = accrual(2, "c2", 4000, "p2");
  ASSERT_EQ(results(post(batch_of({later}), token_)).results(0).status(),
            sv1::EVENT_STATUS_APPLIED);
  auto p = page_until(read, [](const Seen& s) { return !s.customers.empty(); });
  EXPECT_EQ(p.customers, std::vector<std::string>{"c2"}) << "a store that had read it all goes on";
  auto stale = page(before);
  EXPECT_TRUE(stale.reset) << "a store that missed pruned rows rebuilds";
  EXPECT_EQ(stale.programs, 1);
  auto again = ChangeFeed::prune(*conn, std::chrono::hours(24 * 30));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->deleted, 0) << "nothing else is old";
}

TEST_F(FeedTest, ATransactionThatCommitsLateIsNeverSkipped) {
  homes();
  std::string cursor = through_bootstrap();
  auto a = db_.connect();
  auto b = db_.connect();
  ASSERT_TRUE(a && b);
  // A takes its transaction id first and stays open; B writes after it and commits first. A
  // cursor on the bigserial id would deliver B's row, move past A's smaller id, and lose A's.
  ASSERT_TRUE(a->exec("BEGIN"));
  auto a_row = a->exec("INSERT INTO change_feed (kind, customer_id) VALUES (1, 'c2') RETURNING id");
  ASSERT_TRUE(a_row);
  auto b_row = b->exec("INSERT INTO change_feed (kind, customer_id) VALUES (1, 'c3') RETURNING id");
  ASSERT_TRUE(b_row);
  EXPECT_LT(a_row->int64(0, 0), b_row->int64(0, 0)) << "A's id is smaller but commits later";
  auto held = page(cursor);
  EXPECT_TRUE(held.customers.empty()) << "B's row waits while A (older) is still open";
  ASSERT_TRUE(a->exec("COMMIT"));
  // (The cursor may have moved past rows of older transactions, such as the programme's.)
  auto both = page_until(held.next, [](const Seen& s) { return s.customers.size() >= 2; });
  std::sort(both.customers.begin(), both.customers.end());
  EXPECT_EQ(both.customers, (std::vector<std::string>{"c2", "c3"}));
  EXPECT_TRUE(page(both.next).customers.empty());
}

TEST_F(FeedTest, EnrolmentsArriveWithTheirIdentifiersAndTempIdMapping) {
  std::string cursor = through_bootstrap();
  auto en = envelope(1);
  en.mutable_enrolment()->set_temp_customer_id("tmp-7");
  auto* id = en.mutable_enrolment()->add_identifiers();
  id->set_kind("email");
  id->set_hash(std::string(32, '\x42'));
  en.mutable_enrolment()->set_display_name("Lin");
  ASSERT_EQ(results(post(batch_of({en}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  auto p = page_until(cursor, [](const Seen& s) { return !s.customers.empty(); });
  ASSERT_EQ(p.customers.size(), 1u);
  EXPECT_EQ(p.mappings, 1);
  EXPECT_EQ(p.links, 1);
  EXPECT_EQ(p.snapshot[p.customers[0]].display_name(), "Lin");
  EXPECT_EQ(p.snapshot[p.customers[0]].available_points(), 100) << "the enrolment bonus";
  EXPECT_EQ(p.snapshot[p.customers[0]].qualifying_value(), 100)
      << "the bonus counts towards the tier: the store's distance to the next one";
}

TEST_F(FeedTest, BadCursorsAndMissingCredentialsAreRefused) {
  HttpClient c(app_->port());
  auto status = [&](const std::string& target, const std::string& auth) {
    return c.request(bhttp::verb::get, target, "", {{"Authorization", auth}}).result_int();
  };
  const std::string ok = "Bearer " + token_;
  EXPECT_EQ(status("/v1/sync/changes", "Bearer nope"), 401u);
  EXPECT_EQ(status("/v1/sync/changes?cursor=%%%", ok), 400u);
  EXPECT_EQ(status("/v1/sync/changes?cursor=" + auth::base64url_encode("x:1:2"), ok), 400u);
  EXPECT_EQ(status("/v1/sync/changes?cursor=" + auth::base64url_encode("f:abc:2"), ok), 400u);
  EXPECT_EQ(status("/v1/sync/changes?max=0", ok), 400u);
  EXPECT_EQ(status("/v1/sync/changes?max=100000", ok), 400u);
  EXPECT_EQ(status("/v1/sync/changes", ok), 200u);
}

class SyncEndpointsTest : public ChangesTest {
 protected:
  sv1::OnlineRedeemResponse redeem(const sv1::EventEnvelope& e, unsigned want = 200,
                                   const std::string& token = "") {
    sv1::OnlineRedeemRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(bhttp::verb::post, "/v1/sync/redeem", req.SerializeAsString(),
                              {{"Authorization", "Bearer " + (token.empty() ? token_ : token)},
                               {"Content-Type", "application/x-protobuf"}});
    EXPECT_EQ(res.result_int(), want) << res.body();
    sv1::OnlineRedeemResponse out;
    if (res.result_int() == 200) {
      EXPECT_TRUE(out.ParseFromString(res.body()));
    }
    return out;
  }
  sv1::EventEnvelope redemption(uint64_t seq, const std::string& customer, int64_t points) {
    auto e = envelope(seq);
    e.mutable_redemption()->set_customer_id(customer);
    e.mutable_redemption()->set_points(points);
    e.mutable_redemption()->set_till_id("till-1");
    e.mutable_redemption()->set_pos_tx_id("r-" + std::to_string(seq));
    return e;
  }
  void give(const std::string& customer, int64_t points, uint64_t seq) {
    auto adj = envelope(seq);
    adj.mutable_adjustment()->set_customer_id(customer);
    adj.mutable_adjustment()->set_points(points);
    adj.mutable_adjustment()->set_reason("test");
    ASSERT_EQ(results(post(batch_of({adj}), token_)).results(0).status(),
              sv1::EVENT_STATUS_APPLIED);
  }
};

TEST_F(SyncEndpointsTest, OnlineRedemptionIsAtomicIdempotentAndRefusedBeyondTheBalance) {
  add_customers(1);
  give("c0", 100, 1);
  auto first = redemption(2, "c0", 60);
  auto r = redeem(first);
  EXPECT_EQ(r.result().status(), sv1::EVENT_STATUS_APPLIED) << r.result().message();
  EXPECT_EQ(r.available_points(), 40);
  auto again = redeem(first);
  EXPECT_EQ(again.result().status(), sv1::EVENT_STATUS_DUPLICATE);
  EXPECT_EQ(again.available_points(), 40);
  auto too_much = redeem(redemption(3, "c0", 50));
  EXPECT_EQ(too_much.result().status(), sv1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(too_much.result().reject_code(), "insufficient_points");
  EXPECT_EQ(too_much.available_points(), 40);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE kind = 2"), "1");

  // Two tills spend the last 40 points at once: exactly one wins.
  std::atomic<int> applied{0}, refused{0};
  std::vector<std::thread> tills;
  for (int t = 0; t < 2; ++t) {
    tills.emplace_back([&, t] {
      auto res = redeem(redemption(static_cast<uint64_t>(10 + t), "c0", 30));
      (res.result().status() == sv1::EVENT_STATUS_APPLIED ? applied : refused)++;
    });
  }
  for (auto& t : tills) t.join();
  EXPECT_EQ(applied.load(), 1);
  EXPECT_EQ(refused.load(), 1);
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'c0'"), "10");
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  EXPECT_TRUE(audit(*conn)->ok());

  StoreTokens tokens(std::vector<uint8_t>(32, 0xbb));
  auto other = tokens.issue("S2", SystemClock().now_ms() / 1000 + 600);
  redeem(redemption(20, "c0", 1), 403, other);
}

TEST_F(SyncEndpointsTest, AnOnlineRedemptionIsListedBesideTheWatermarkUntilItsUploadArrives) {
  add_customers(1);
  give("c0", 100, 1);
  auto online = redemption(0, "c0", 30);  // no seq: the agent has not recorded it yet
  ASSERT_EQ(redeem(online).result().status(), sv1::EVENT_STATUS_APPLIED);
  auto feed = [&] {
    HttpClient client(app_->port());
    auto res = client.request(bhttp::verb::get, std::string("/v1/sync/changes?agent=") + kAgent, "",
                              {{"Authorization", "Bearer " + token_}});
    sv1::ChangesPage p;
    EXPECT_TRUE(p.ParseFromString(res.body()));
    return p;
  };
  auto before = feed();
  EXPECT_EQ(before.agent_processed_seq(), 1u) << "the online redemption does not move W";
  ASSERT_EQ(before.online_applied_event_ids_size(), 1);
  EXPECT_EQ(before.online_applied_event_ids(0), online.event_id());
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM agent_seq_gap"), "0");
  // The agent records it as seq 2 and uploads it: a duplicate, and the list empties.
  online.set_seq(2);
  EXPECT_EQ(results(post(batch_of({online}), token_)).results(0).status(),
            sv1::EVENT_STATUS_DUPLICATE);
  auto after = feed();
  EXPECT_EQ(after.agent_processed_seq(), 2u);
  EXPECT_EQ(after.online_applied_event_ids_size(), 0);
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'c0'"), "70");
}

TEST_F(SyncEndpointsTest, LookupFindsACustomerByHashAndBringsThemIntoTheStoresScope) {
  const std::string hash(32, '\x7e');
  auto en = envelope(1);
  en.mutable_enrolment()->set_temp_customer_id("tmp-1");
  auto* id = en.mutable_enrolment()->add_identifiers();
  id->set_kind("card");
  id->set_hash(hash);
  ASSERT_EQ(results(post(batch_of({en}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  std::string hex;
  for (unsigned char c : hash) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  StoreTokens tokens(std::vector<uint8_t>(32, 0xbb));
  auto s2 = tokens.issue("S2", SystemClock().now_ms() / 1000 + 600);
  HttpClient client(app_->port());
  auto res = client.request(bhttp::verb::get, "/v1/sync/lookup?identifier=" + hex, "",
                            {{"Authorization", "Bearer " + s2}});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  sv1::LookupResponse found;
  ASSERT_TRUE(found.ParseFromString(res.body()));
  EXPECT_TRUE(found.found());
  EXPECT_EQ(found.customer().available_points(), 100);
  EXPECT_EQ(found.customer().qualifying_value(), 100);
  ASSERT_EQ(found.identifiers_size(), 1);
  EXPECT_EQ(found.identifiers(0).identifier().hash(), hash);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM store_customer WHERE store_id = 'S2'"), "1")
      << "S2 keeps this customer now";

  auto status = [&](const std::string& q) {
    return client
        .request(bhttp::verb::get, "/v1/sync/lookup" + q, "", {{"Authorization", "Bearer " + s2}})
        .result_int();
  };
  EXPECT_EQ(status("?identifier=" + std::string(64, '0')), 404u);
  EXPECT_EQ(status("?identifier=abc"), 400u);
  EXPECT_EQ(status("?identifier=" + std::string(64, 'z')), 400u);
  EXPECT_EQ(status(""), 400u);
}

// Agents connecting straight to the service: mutual TLS, the certificate names the store.
class MutualTlsTest : public ChangesTest {
 protected:
  std::vector<std::string> extra_settings() override {
    auto dir =
        std::filesystem::temp_directory_path() / ("accrue-mtls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto server = ca_.issue("localhost", true);
    auto write = [&](const char* name, const std::string& content) {
      std::ofstream((dir / name).string()) << content;
      return (dir / name).string();
    };
    return {"tls.cert_file=" + write("server.pem", server.cert),
            "tls.key_file=" + write("server.key", server.key),
            "tls.client_ca_file=" + write("ca.pem", ca_.cert_pem())};
  }
  unsigned post_tls(const sv1::EventBatch& batch, const accrue::testing::Pem& client,
                    sv1::EventBatchResult* out) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(boost::asio::buffer(ca_.cert_pem()));
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.use_certificate_chain(boost::asio::buffer(client.cert));
    ctx.use_private_key(boost::asio::buffer(client.key), ssl::context::pem);
    boost::asio::io_context ioc;
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(ioc, ctx);
    boost::beast::get_lowest_layer(stream).connect(
        {boost::asio::ip::make_address("127.0.0.1"), app_->port()});
    stream.handshake(ssl::stream_base::client);
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/sync/events", 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::content_type, "application/x-protobuf");
    req.body() = batch.SerializeAsString();
    req.prepare_payload();
    bhttp::write(stream, req);
    boost::beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buf, res);
    if (out) out->ParseFromString(res.body());
    return res.result_int();
  }
  accrue::testing::TestCa ca_{"Accrue stores CA"};
};

TEST_F(MutualTlsTest, AStoreCertificateUploadsForItsStoreOnly) {
  add_customers(1);
  auto batch = batch_of({accrual(1, "c0", 1000, "tls")});
  sv1::EventBatchResult r;
  EXPECT_EQ(post_tls(batch, ca_.issue("S2", false), nullptr), 403u)
      << "S2's certificate cannot upload S1's events";
  ASSERT_EQ(post_tls(batch, ca_.issue("S1", false), &r), 200u);
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(post_tls(batch, ca_.issue("not a store id", false), nullptr), 401u);
}

}  // namespace
}  // namespace accrue::cloud
