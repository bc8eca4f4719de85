// `accrue-cloud import customers|receipts` against real PostgreSQL: row-by-row validation with line
// numbers and reasons, set-based writes that keep every balance equal to its ledger, a job that
// resumes after its last committed batch when a run dies midway, and members imported with a card
// collecting the points tills booked for it before.
#include "cloud/core/import.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "cloud/core/audit.h"
#include "cloud/core/claims.h"
#include "common/identifier.h"
#include "common/sys/system.h"
#include "tests/cloud/cloud_fixture.h"

namespace accrue::cloud {
namespace {

using accrue::testing::TestDatabase;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACCRUE_NEED_DATABASE(db_);
    auto c = db_.connect();
    ASSERT_TRUE(c);
    conn_.emplace(std::move(*c));
    std::ifstream in("packaging/demo/program.json");
    std::string program((std::istreambuf_iterator<char>(in)), {});
    ASSERT_TRUE(ProgramCatalog::publish(*conn_, program));
    ASSERT_TRUE(conn_->exec("INSERT INTO store (store_id) VALUES ('S1'), ('S2')"));
    dir_ = std::filesystem::temp_directory_path() / ("accrue-import-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  ImportOptions options(const std::string& file, size_t batch = 5000) {
    ImportOptions o;
    o.file = file;
    o.identifier_key = std::vector<uint8_t>(32, 0x42);
    o.batch = batch;
    o.connect_more = [this] { return db_.connect(); };
    return o;
  }
  Result<ImportReport> run(const ImportOptions& o) {
    ZoneinfoSource zones;
    ProgramCatalog programs(zones);
    return import_customers(*conn_, programs, o);
  }
  Result<ImportReport> run_receipts(const ImportOptions& o) {
    ZoneinfoSource zones;
    ProgramCatalog programs(zones);
    return import_receipts(*conn_, programs, o);
  }
  std::string scalar(const std::string& sql) { return db_.scalar(sql); }

  TestDatabase db_;
  std::optional<pg::Connection> conn_;
  std::filesystem::path dir_;
};

TEST_F(ImportTest, GoodRowsAreImportedAndEachBadOneIsReportedWithItsLineAndReason) {
  const std::string file = write("members.csv",
                                 "customer_id,display_name,email,phone,country,home_store_id,card,"
                                 "points,enrolled_at\n"
                                 "m1,\"Schmidt, Anna\",Anna@Example.org,0151 2345678,DE,S1,"
                                 "6006 0000 0000 0001,500,2024-03-01T10:00:00Z\n"
                                 "m2,\"Said \"\"Sam\"\" Okafor\",,,,S2,,0,\n"
                                 "m3,Bad Mail,not-an-email,,,S1,,,\n"
                                 "m4,No Store,,,,S9,,,\n"
                                 "m1,Again,,,,S1,,,\n"
                                 "m5,Same Card,,,,S1,6006-0000-0000-0001,,\n"
                                 "m6,Minus,,,,S1,,-5,\n"
                                 "m7,Too,many,fields,,,,,,,\n"
                                 "\n"
                                 "m8,\"Line\nbreak\",,,,,,10,\n");
  auto r = run(options(file));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->imported, 3);  // m1, m2, m8
  EXPECT_EQ(r->rejected, 6);
  auto rejects = import_rejects(*conn_, r->job);
  ASSERT_TRUE(rejects);
  std::map<int64_t, std::string> why;
  for (const auto& x : *rejects) why[x.line] = x.key + ": " + x.reason;
  EXPECT_EQ(why.size(), 6u);
  EXPECT_NE(why[4].find("m3: email"), std::string::npos) << why[4];
  EXPECT_NE(why[5].find("no store S9"), std::string::npos) << why[5];
  EXPECT_NE(why[6].find("appears earlier"), std::string::npos) << why[6];
  EXPECT_NE(why[7].find("card appears earlier"), std::string::npos) << why[7];
  EXPECT_NE(why[8].find("points"), std::string::npos) << why[8];
  EXPECT_NE(why[9].find("fields"), std::string::npos) << why[9];
  // What landed.
  EXPECT_EQ(scalar("SELECT display_name || '|' || email || '|' || phone FROM customer_pii WHERE "
                   "customer_id = 'm1'"),
            "Schmidt, Anna|anna@example.org|+491512345678");
  EXPECT_EQ(scalar("SELECT display_name FROM customer_pii WHERE customer_id = 'm2'"),
            "Said \"Sam\" Okafor");
  EXPECT_EQ(scalar("SELECT display_name FROM customer_pii WHERE customer_id = 'm8'"),
            "Line\nbreak");
  EXPECT_EQ(scalar("SELECT to_char(enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM customer "
                   "WHERE customer_id = 'm1'"),
            "2024-03-01");
  auto h = IdentifierHasher::create(std::vector<uint8_t>(32, 0x42));
  auto hash = h->hash({IdentifierKind::kCard, "6006000000000001"});
  EXPECT_EQ(scalar("SELECT customer_id || ' ' || masked FROM identifier WHERE hash = '\\x" +
                   to_hex(hash) + "'"),
            "m1 \u2022\u2022\u2022\u2022 0001");
  EXPECT_EQ(scalar("SELECT points FROM balance WHERE customer_id = 'm1'"), "500");
  EXPECT_EQ(scalar("SELECT count(*) FROM points_lot WHERE customer_id = 'm1' AND remaining = 500"),
            "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM change_feed WHERE kind = 1"), "3");
  auto a = audit(*conn_);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ok()) << "opening balances are ledger entries: every balance is its ledger";
  // The same job again: finished, refused; the same file under another job: every row taken.
  EXPECT_FALSE(run(options(file)));
  auto again = options(file);
  again.job = "second";
  auto r2 = run(again);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->imported, 0);
  EXPECT_EQ(r2->rejected, 9);
}

TEST_F(ImportTest, AHeaderWithAnUnknownColumnRefusesTheFileBeforeAnythingIsWritten) {
  auto r = run(options(write("bad.csv", "customer_id,balance\nx1,5\n")));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown column \"balance\""), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM customer"), "0");
  EXPECT_FALSE(run(options(write("noid.csv", "display_name\nAnna\n"))));
  EXPECT_FALSE(run(options(write("quote.csv", "customer_id\n\"open\n"))));
  // A 2 MiB line: refused by its size, not read whole.
  auto big = run(options(write("big.csv", "customer_id\n" + std::string(2 << 20, 'x') + "\n")));
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("longer than 1 MiB"), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM customer"), "0");
}

TEST_F(ImportTest, ARunThatDiesMidwayResumesAfterItsLastCommittedBatch) {
  std::string text = "customer_id,points\n";
  for (int i = 1; i <= 12; ++i) text += "r" + std::to_string(i) + "," + std::to_string(i) + "\n";
  const std::string file = write("resume.csv", text);
  // The database refuses r8: the second batch (r6..r10) rolls back, the first stays.
  ASSERT_TRUE(conn_->exec(
      "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
      "'disk on fire'; END $$; CREATE TRIGGER boom BEFORE INSERT ON customer FOR EACH ROW WHEN "
      "(NEW.customer_id = 'r8') EXECUTE FUNCTION boom()"));
  auto first = run(options(file, 5));
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("disk on fire"), std::string::npos);
  // Batches commit on two connections in any order: whatever committed is exactly what exists.
  EXPECT_EQ(scalar("SELECT count(*) FROM customer"),
            scalar("SELECT coalesce(sum(imported), 0) FROM import_batch"));
  EXPECT_EQ(scalar("SELECT count(*) FROM import_batch WHERE batch_no = 1"), "0");
  ASSERT_TRUE(conn_->exec("DROP TRIGGER boom ON customer"));
  auto second = run(options(file, 5));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->skipped + second->imported, 12);
  EXPECT_GE(second->imported, 5) << "at least the failed batch";
  EXPECT_EQ(second->rejected, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM customer"), "12");
  EXPECT_EQ(scalar("SELECT sum(points) FROM balance"), "78");
  auto a = audit(*conn_);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ok());
}

TEST_F(ImportTest, ReceiptsAreBookedAsTillSalesWereAndEachBadOneIsReported) {
  auto members = run(options(write("m.csv", "customer_id,points\nm1,500\nm2,\n")));
  ASSERT_TRUE(members) << members.error().message;
  ASSERT_EQ(members->imported, 2);
  const std::string file =
      write("receipts.csv",
            "receipt_id,store_id,till_id,customer_id,occurred_at,amount_minor,currency,points\n"
            "r1,S1,,m1,2026-10-01T10:00:00Z,2599,EUR,25\n"
            "r2,S1,T2,m1,2026-11-15T17:30:00+01:00,1000,EUR,10\n"
            "r3,S2,,m2,2026-11-20T09:00:00Z,4500,EUR,0\n"
            "r4,S1,,m9,2026-11-20T09:00:00Z,100,EUR,1\n"
            "r5,S9,,m1,2026-11-20T09:00:00Z,100,EUR,1\n"
            "r1,S1,,m2,2026-11-20T09:00:00Z,100,EUR,1\n"
            "r6,S1,,m1,yesterday,100,EUR,1\n"
            "r7,S1,,m1,2026-11-20T09:00:00Z,-100,EUR,1\n"
            "r8,S1,,m1,2026-11-20T09:00:00Z,100,EURO,1\n"
            "r9,S1,,m1,2099-01-01T00:00:00Z,100,EUR,1\n");
  std::set<std::string> told;
  auto o = options(file);
  o.on_commit = [&](const std::vector<std::string>& ids) { told.insert(ids.begin(), ids.end()); };
  auto r = run_receipts(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->imported, 3);
  EXPECT_EQ(r->rejected, 7);
  auto rejects = import_rejects(*conn_, r->job);
  ASSERT_TRUE(rejects);
  std::map<int64_t, std::string> why;
  for (const auto& x : *rejects) why[x.line] = x.key + ": " + x.reason;
  EXPECT_NE(why[5].find("S1/import/r4: no customer m9"), std::string::npos) << why[5];
  EXPECT_NE(why[6].find("no store S9"), std::string::npos) << why[6];
  EXPECT_NE(why[7].find("earlier in the file"), std::string::npos) << why[7];
  EXPECT_NE(why[8].find("occurred_at"), std::string::npos) << why[8];
  EXPECT_NE(why[9].find("amount_minor"), std::string::npos) << why[9];
  EXPECT_NE(why[10].find("currency"), std::string::npos) << why[10];
  EXPECT_NE(why[11].find("future"), std::string::npos) << why[11];

  // Booked as the tills' sales are.
  EXPECT_EQ(scalar("SELECT count(*) FROM receipt"), "3");
  EXPECT_EQ(scalar("SELECT string_agg(till_id || ':' || pos_tx_id, ',' ORDER BY pos_tx_id) FROM "
                   "receipt WHERE customer_id = 'm1'"),
            "import:r1,T2:r2");
  EXPECT_EQ(scalar("SELECT points FROM balance WHERE customer_id = 'm1'"), "535");
  EXPECT_EQ(scalar("SELECT to_char(last_purchase_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
                   "FROM balance WHERE customer_id = 'm1'"),
            "2026-11-15 16:30");
  EXPECT_EQ(scalar("SELECT count(*) || '/' || sum(points) FROM ledger WHERE kind = 1"), "3/35");
  EXPECT_EQ(scalar("SELECT to_char(earned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM points_lot "
                   "WHERE customer_id = 'm1' AND points = 25"),
            "2026-10-01")
      << "the lot was earned when the sale was";
  EXPECT_EQ(scalar("SELECT sum(spend_minor) || '/' || sum(qualifying_points) FROM customer_day "
                   "WHERE customer_id = 'm1'"),
            "3599/35")
      << "spend and qualifying points for tiers and segments";
  EXPECT_EQ(scalar("SELECT points FROM balance WHERE customer_id = 'm2'"), "0")
      << "points 0: history alone";
  EXPECT_EQ(told, (std::set<std::string>{"m1", "m2"})) << "the cache hears of both";
  auto a = audit(*conn_);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ok()) << "every balance is still its ledger";

  // The same receipts again under another job: in the books already, nothing booked twice.
  auto again = options(file);
  again.job = "receipts-again";
  auto r2 = run_receipts(again);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(r2->imported, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM import_reject WHERE job = 'receipts-again' AND reason = "
                   "'this receipt is in the books already'"),
            "3");
  EXPECT_EQ(scalar("SELECT points FROM balance WHERE customer_id = 'm1'"), "535");
  // A customers job name cannot be resumed as receipts, and a missing column refuses the file.
  auto wrong = options(file);
  wrong.job = "m.csv";
  EXPECT_FALSE(run_receipts(wrong));
  auto missing = run_receipts(options(write("short.csv", "receipt_id,store_id\nx,S1\n")));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("customer_id column is required"), std::string::npos)
      << missing.error().message;
}

TEST_F(ImportTest, MembersImportedWithACardCollectThePointsTillsBookedForIt) {
  ZoneinfoSource zones;
  ProgramCatalog programs(zones);
  pg::PoolOptions po;
  po.dsn = db_.dsn();
  po.size = 2;
  pg::Pool pool(po);
  SystemClock clock;
  SystemRandom random;
  Ingest ingest(pool, programs, clock, random, 1000);
  UuidV7Generator ids(clock, random);
  auto program = programs.latest(*conn_, clock.now_ms());
  ASSERT_TRUE(program);

  // A sale at a till in S1 for card 6006000000000001, which nobody had yet.
  auto h = IdentifierHasher::create(std::vector<uint8_t>(32, 0x42));
  auto hash = h->hash({IdentifierKind::kCard, "6006000000000001"});
  sync::v1::EventBatch batch;
  batch.set_store_id("S1");
  batch.set_agent_id("S1-till-agent");
  auto* e = batch.add_events();
  e->set_event_id(ids.next().to_string());
  e->set_store_id("S1");
  e->set_agent_id("S1-till-agent");
  e->set_seq(1);
  e->set_occurred_at_ms(clock.now_ms());
  e->set_program_id((*program)->program.program_id);
  e->set_program_version((*program)->program.version);
  e->set_schema_version(1);
  auto* a = e->mutable_accrual();
  a->mutable_identifier()->set_kind("card");
  a->mutable_identifier()->set_hash(std::string(hash.begin(), hash.end()));
  a->set_provisional(true);
  a->set_till_id("t1");
  a->set_pos_tx_id("walk-in");
  auto* b = a->mutable_basket();
  b->set_currency("EUR");
  b->set_occurred_at_ms(clock.now_ms());
  auto* l = b->add_lines();
  l->set_line_no(1);
  l->set_sku("TEE");
  l->set_quantity_milli(1000);
  l->set_amount_minor(7000);
  auto applied = ingest.apply(batch, "S1");
  ASSERT_TRUE(applied) << applied.error().message;
  ASSERT_EQ(applied->results(0).status(), sync::v1::EVENT_STATUS_APPLIED)
      << applied->results(0).message();
  const std::string booked = scalar("SELECT points FROM ledger WHERE customer_id IS NULL");
  ASSERT_NE(booked, "0");

  // The import claims after each committed batch, as `accrue-cloud import customers` does.
  auto o = options(write("cards.csv", "customer_id,card,points\nm1,6006000000000001,500\nm2,,\n"));
  int commits = 0;
  o.on_commit = [&](const std::vector<std::string>& members) {
    ++commits;
    EXPECT_EQ(members, (std::vector<std::string>{"m1", "m2"}));
    auto r = claim_after_import(pool, programs, ingest, members, "import");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->claimed, 1);
  };
  auto r = import_customers(*conn_, programs, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->imported, 2);
  EXPECT_EQ(commits, 1);
  EXPECT_EQ(scalar("SELECT points FROM balance WHERE customer_id = 'm1'"),
            std::to_string(500 + std::stoll(booked)))
      << "the opening balance and the till's sale";
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger WHERE kind = 7 AND customer_id = 'm1'"), "1");
  EXPECT_EQ(scalar("SELECT customer_id FROM receipt WHERE pos_tx_id = 'walk-in'"), "m1");
  EXPECT_EQ(scalar("SELECT points FROM balance WHERE customer_id = 'm2'"), "0");
  auto audited = audit(*conn_);
  ASSERT_TRUE(audited);
  EXPECT_TRUE(audited->ok());
}

}  // namespace
}  // namespace accrue::cloud
