// Download: the feed's balances replace the local view, events after the watermark stay on top
// of it, and a reset rebuilds the replica without ever showing it half built.
#include "agent/sync/downloader.h"

#include "tests/sync/sync_fixture.h"

namespace accrue::sync_testing {
namespace {

TEST_F(UploadTest, ADownloadedBalanceReplacesTheLocalViewWithoutCountingAnEventTwice) {
  start_agent(cloud_url());
  // Member 5 is not in the store's scope yet: the seeded replica says 185 available.
  EXPECT_EQ(validate(5).available_points(), 185);
  const int64_t seeded_pending = validate(5).pending_points();
  auto sale = accrue(5, "s-1");
  ASSERT_TRUE(sale.has_accrue());
  const int64_t earned = sale.accrue().points_earned();
  ASSERT_GT(earned, 0);
  EXPECT_EQ(validate(5).pending_points(), seeded_pending + earned)
      << "the local lot, before any upload";
  ASSERT_TRUE(drained());
  // The sale put member 5 in the store's scope: its snapshot comes down with the next pages.
  const auto v = validate_until(5, [&](const pb::ValidateResult& r) {
    return r.available_points() == 0 && r.pending_points() == earned;
  });
  EXPECT_EQ(v.pending_points(), earned) << "the cloud's pending lot, not it plus the local one";
  EXPECT_EQ(v.available_points(), 0) << "the cloud's figure (generated with no history)";
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = '" +
                       agent::seed_customer_id(5) + "'"),
            std::to_string(earned));
  EXPECT_FALSE(v.offline());
}

// The heart of invariant "local events stay on top", without a network: pages built by hand,
// applied by the writer.
class RebaseTest : public UploadTest {
 protected:
  void SetUp() override {
    UploadTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    start_agent("");  // no cloud: the events stay local, as in an outage
  }
  void apply(const sync::v1::ChangesPage& page) {
    std::promise<Result<void>> done;
    auto f = done.get_future();
    agent::WriteJob job;
    job.apply = [&page](agent::Replica& w) {
      return agent::apply_changes_page(w, page, SystemClock().now_ms(), nullptr);
    };
    job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
    ASSERT_TRUE(agent_->writer().submit(std::move(job)));
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().message;
  }
  // A lookup's answer for a member (no identifiers: the test reads it by customer id).
  void apply_lookup_of(int64_t member, int64_t available) {
    sync::v1::LookupResponse found;
    found.set_found(true);
    *found.mutable_customer() = snapshot(member, available, 0, 0).changes(0).customer();
    std::promise<Result<void>> done;
    auto f = done.get_future();
    agent::WriteJob job;
    job.apply = [&found](agent::Replica& w) {
      return agent::apply_lookup(w, found, SystemClock().now_ms());
    };
    job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
    ASSERT_TRUE(agent_->writer().submit(std::move(job)));
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().message;
  }
  sync::v1::ChangesPage snapshot(int64_t member, int64_t available, int64_t pending,
                                 uint64_t processed_seq) {
    sync::v1::ChangesPage page;
    page.set_agent_processed_seq(processed_seq);
    auto* c = page.add_changes()->mutable_customer();
    c->set_customer_id(agent::seed_customer_id(member));
    c->set_status(loyalty::v1::CUSTOMER_STATUS_ACTIVE);
    c->set_tier_id("bronze");
    c->set_available_points(available);
    c->set_pending_points(pending);
    c->set_as_of_ms(SystemClock().now_ms());
    return page;
  }
};

TEST_F(RebaseTest, EventsAfterTheWatermarkStayOnTopOfTheDownloadedBalance) {
  // Member 20: seeded with 740 available. Two sales, seqs 1 and 2.
  ASSERT_EQ(validate(20).available_points(), 740);
  const int64_t seeded_pending = validate(20).pending_points();
  const int64_t first = accrue(20, "a").accrue().points_earned();
  const int64_t second = accrue(20, "b").accrue().points_earned();
  ASSERT_EQ(validate(20).pending_points(), seeded_pending + first + second);
  // The cloud had processed seq 1 when it read the balance: 740 available, the first sale
  // pending. The second sale must stay on top; the first must not count twice.
  apply(snapshot(20, 740, first, 1));
  auto v = validate(20);
  EXPECT_EQ(v.available_points(), 740);
  EXPECT_EQ(v.pending_points(), first + second);
  // A later page that has both.
  apply(snapshot(20, 740, first + second, 2));
  v = validate(20);
  EXPECT_EQ(v.pending_points(), first + second);
  // An old page (read before seq 2 was processed) does not resurrect the local lot twice
  // nor drop it: the member's watermark never moves back.
  apply(snapshot(20, 740, first + second, 1));
  EXPECT_EQ(validate(20).pending_points(), first + second);
}

TEST_F(RebaseTest, TheDistanceToTheNextTierComesFromTheCloudsQualifyingValue) {
  auto page = snapshot(20, 740, 0, 0);
  page.mutable_changes(0)->mutable_customer()->set_qualifying_value(900);
  apply(page);
  pb::Request req;
  req.mutable_get_profile()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
  req.mutable_get_profile()->mutable_identifier()->set_value(agent::seed_card_number(20));
  const auto profile = call(req).profile();
  EXPECT_EQ(profile.next_tier_id(), "silver");
  EXPECT_EQ(profile.distance_to_next_tier(), 1000 - 900);
}

TEST_F(RebaseTest, ASaleHereThatCrossesAThresholdShowsTheTierReachedUntilTheCloudConfirmsIt) {
  auto page = snapshot(20, 740, 0, 0);
  page.mutable_changes(0)->mutable_customer()->set_qualifying_value(990);  // bronze, 10 short
  apply(page);
  pb::Request req;
  req.mutable_get_profile()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
  req.mutable_get_profile()->mutable_identifier()->set_value(agent::seed_card_number(20));
  EXPECT_EQ(call(req).profile().reached_tier_id(), "");

  const auto sale = accrue(20, "crossing").accrue();
  const int64_t value = 990 + sale.points_earned();
  ASSERT_GE(value, 1000) << "the sale must cross silver's threshold";
  EXPECT_EQ(sale.reached_tier_id(), "silver") << "the till can say so at checkout";
  EXPECT_EQ(sale.reached_tier_name(), "Silver");
  auto profile = call(req).profile();
  EXPECT_EQ(profile.member().tier_id(), "bronze") << "the cloud decides the tier";
  EXPECT_EQ(profile.reached_tier_id(), "silver");
  EXPECT_EQ(profile.next_tier_id(), "gold");
  EXPECT_EQ(profile.distance_to_next_tier(), 5000 - value);

  // The cloud has the sale (seq 1) and moved her: nothing is left to confirm.
  auto confirmed = snapshot(20, 740, sale.points_earned(), 1);
  confirmed.mutable_changes(0)->mutable_customer()->set_tier_id("silver");
  confirmed.mutable_changes(0)->mutable_customer()->set_qualifying_value(value);
  apply(confirmed);
  profile = call(req).profile();
  EXPECT_EQ(profile.member().tier_id(), "silver");
  EXPECT_EQ(profile.reached_tier_id(), "");
  EXPECT_EQ(profile.distance_to_next_tier(), 5000 - value);

  // A return here takes her below silver's threshold: no downgrade shows (the cloud decides
  // after the grace period).
  pb::Request ret;
  ret.set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("crossing-back");
  ret.mutable_return_()->set_original_pos_tx_id("crossing");
  auto* line = ret.mutable_return_()->add_lines();
  line->set_line_no(1);
  line->set_quantity_milli(1000);
  ASSERT_TRUE(call(ret).has_return_());
  profile = call(req).profile();
  EXPECT_EQ(profile.member().tier_id(), "silver");
  EXPECT_EQ(profile.reached_tier_id(), "");
}

TEST_F(RebaseTest, TheStoresZoneAndCountryComeFromTheRegistryOnTheFeed) {
  EXPECT_EQ(status().time_zone(), "Europe/Warsaw") << "the programme's, before the registry says";
  sync::v1::ChangesPage page;
  page.mutable_store()->set_country("US");
  page.mutable_store()->set_time_zone("America/New_York");
  apply(page);
  agent_->activate_newest_program();  // as the downloader does when a page changed them
  auto after = status();
  EXPECT_EQ(after.time_zone(), "America/New_York");
  EXPECT_EQ(after.country(), "US");
  // Back to the programme's zone: an empty zone in the registry.
  page.mutable_store()->set_time_zone("");
  apply(page);
  agent_->activate_newest_program();
  EXPECT_EQ(status().time_zone(), "Europe/Warsaw");
}

TEST_F(RebaseTest, ARedemptionAfterTheWatermarkIsReplayedAgainstTheNewBalance) {
  // Member 21: 777 available. Redeem 500 (seq 1), then the cloud's page, read before seq 1
  // was processed, says 900 available (the member earned elsewhere).
  ASSERT_EQ(validate(21).available_points(), 777);
  ASSERT_TRUE(redeem(21, 500, "r1").has_redeem());
  EXPECT_EQ(validate(21).available_points(), 277);
  apply(snapshot(21, 900, 0, 0));
  EXPECT_EQ(validate(21).available_points(), 400) << "900 from the cloud - 500 not yet counted";
  // The cloud processes the redemption: its balance is 400, watermark 1.
  apply(snapshot(21, 400, 0, 1));
  EXPECT_EQ(validate(21).available_points(), 400) << "not 400 - 500";
}

TEST_F(RebaseTest, AnOnlineRedemptionInTheSnapshotBeforeItsUploadIsNotCountedTwice) {
  // Member 22: 1000 available here. A redemption of 300 the cloud applied online (seq 1 here,
  // not uploaded yet), then a page read after it: 700 available, watermark 0, and the event
  // listed as already inside the balance.
  const int64_t before = validate(22).available_points();
  auto r = redeem(22, 300, "on-1");
  ASSERT_TRUE(r.has_redeem());
  auto page = snapshot(22, before - 300, 0, 0);
  page.add_online_applied_event_ids(r.redeem().event_id());
  apply(page);
  EXPECT_EQ(validate(22).available_points(), before - 300) << "not before - 600";
  // Without the list the same page would count it twice: the list is what prevents it.
  apply(snapshot(22, before - 300, 0, 0));
  EXPECT_EQ(validate(22).available_points(), before - 600);
}

TEST_F(RebaseTest, AnOnlineReturnsRefundInTheSnapshotBeforeItsUploadIsNotCountedTwice) {
  // Member 24: an online return of another store's sale gave back 100 redeemed points; the
  // agent holds them as the return's own lot (seq 1 here, not uploaded yet). A page read after
  // the cloud applied it has the 100 inside the balance and lists the event.
  const int64_t before = validate(24).available_points();
  const std::string owner = agent::seed_customer_id(24);
  const auto event = Uuid::parse("7d0f8a4e-3c1b-4e2a-9f6d-5b8c7a6e4d21", "id");
  ASSERT_TRUE(event);
  const std::string id(reinterpret_cast<const char*>(event->bytes().data()), 16);
  std::promise<Result<void>> done;
  auto f = done.get_future();
  agent::WriteJob job;
  job.apply = [&](agent::Replica& w) -> Result<void> {
    const TimestampMs now = SystemClock().now_ms();
    agent::LedgerRow row;
    row.event_id = id;
    row.kind = pos::v1::TRANSACTION_KIND_RETURN;
    row.owner = owner;
    row.occurred_at = now;
    row.till_id = "till-1";
    row.pos_tx_id = "back-1";
    ACCRUE_ASSIGN_OR_RETURN(auto seq, w.insert_ledger(row));
    return w.insert_lot(seq, owner, Lot{std::to_string(seq), now, now, kNeverExpires, 100, 100});
  };
  job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
  ASSERT_TRUE(agent_->writer().submit(std::move(job)));
  auto written = f.get();
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(validate(24).available_points(), before + 100);

  auto page = snapshot(24, before + 100, 0, 0);
  page.add_online_applied_event_ids(event->to_string());
  apply(page);
  EXPECT_EQ(validate(24).available_points(), before + 100) << "not before + 200";
  apply(snapshot(24, before + 100, 0, 1));  // uploaded: the lot is the cloud's
  EXPECT_EQ(validate(24).available_points(), before + 100);
}

// A voided online redemption (its outcome unknown: uploaded as sent, then given back) never
// shows its points missing, whichever page arrives: one read before the cloud applied it, one
// with it applied online but not yet given back, one with the redemption uploaded and the
// give-back not, and one with both.
TEST_F(RebaseTest, AVoidedOnlineRedemptionNeverShowsItsPointsMissing) {
  const int64_t before = validate(23).available_points();
  ASSERT_GE(before, 300);
  auto e = envelope(0);
  auto* red = e.mutable_redemption();
  red->set_customer_id(agent::seed_customer_id(23));
  red->set_till_id("till-1");
  red->set_pos_tx_id("void-1");
  red->set_points(300);
  red->mutable_value()->set_currency("EUR");
  red->mutable_value()->set_minor_units(300);
  {  // what a stop between asking the cloud and recording its answer leaves
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    auto id = Uuid::parse(e.event_id(), "id");
    ASSERT_TRUE(id);
    ASSERT_TRUE(w->insert_online_redemption(
        {"till-1", "void-1", std::string(reinterpret_cast<const char*>(id->bytes().data()), 16),
         "fingerprint", red->customer_id(), e.SerializeAsString(), 1}));
  }
  auto voided = agent_->service().recover_online_redemptions();
  ASSERT_TRUE(voided) << voided.error().message;
  ASSERT_EQ(*voided, 1);  // the redemption is seq 1 here, its give-back seq 2
  EXPECT_EQ(validate(23).available_points(), before);
  apply(snapshot(23, before, 0, 0));  // read before the cloud applied anything
  EXPECT_EQ(validate(23).available_points(), before);
  auto applied_online = snapshot(23, before - 300, 0, 0);
  applied_online.add_online_applied_event_ids(e.event_id());
  apply(applied_online);
  EXPECT_EQ(validate(23).available_points(), before) << "the give-back is still on its way";
  apply(snapshot(23, before - 300, 0, 1));  // the redemption uploaded, the give-back not yet
  EXPECT_EQ(validate(23).available_points(), before);
  apply(snapshot(23, before, 0, 2));  // both in the cloud
  EXPECT_EQ(validate(23).available_points(), before);
}

TEST_F(RebaseTest, AResetRebuildsTheReplicaWithoutEverShowingItHalfBuilt) {
  // The seeded replica knows members 0..59. The cloud resets the store: its scope is now
  // members 30 and 31 only, in two pages. Member 40 has a sale the cloud has not confirmed.
  ASSERT_TRUE(accrue(40, "keep-1").has_accrue());
  auto first = snapshot(30, 100, 0, 0);
  first.set_reset(true);
  first.set_has_more(true);
  first.set_next_cursor("b1");
  apply(first);
  EXPECT_EQ(validate(30).available_points(), 100);
  EXPECT_EQ(validate(20).status(), pb::MEMBER_STATUS_ACTIVE)
      << "mid-rebuild, tills still see every member";
  auto last = snapshot(31, 200, 0, 0);
  last.set_next_cursor("f1");
  apply(last);
  EXPECT_EQ(validate(31).available_points(), 200);
  EXPECT_EQ(validate(30).available_points(), 100);
  EXPECT_EQ(validate(20).status(), pb::MEMBER_STATUS_UNKNOWN) << "swept with the last page";
  EXPECT_EQ(validate(40).status(), pb::MEMBER_STATUS_ACTIVE)
      << "kept: it has a sale the cloud has not confirmed";
  // A later ordinary page does not sweep anything.
  apply(snapshot(30, 150, 0, 0));
  EXPECT_EQ(validate(31).available_points(), 200);
}

// A lookup puts the store in the member's scope after the cloud may already have written the
// rebuild's pages: the member a till was just told about must survive the sweep, whether the
// lookup lands during the rebuild or just before its first page.
TEST_F(RebaseTest, AMemberLookedUpWhileTheReplicaIsRebuiltIsNotSwept) {
  apply_lookup_of(kAgentMembers + 1, 50);  // before the reset page arrives
  auto first = snapshot(30, 100, 0, 0);
  first.set_reset(true);
  first.set_has_more(true);
  first.set_next_cursor("b1");
  apply(first);
  apply_lookup_of(kAgentMembers + 2, 60);  // between the pages
  auto last = snapshot(31, 200, 0, 0);
  last.set_next_cursor("f1");
  apply(last);
  EXPECT_EQ(validate(20).status(), pb::MEMBER_STATUS_UNKNOWN) << "swept with the last page";
  auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
  ASSERT_TRUE(w);
  for (int64_t m : {kAgentMembers + 1, kAgentMembers + 2}) {
    auto c = w->customer(agent::seed_customer_id(m));
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->has_value()) << "member " << m << " was swept";
  }
}

TEST_F(RebaseTest, AProvisionalSaleTheCloudCreditedIsNotCountedTwiceOnceTheCardIsLinked) {
  // Card 70 is unknown here: the sale is kept against the card's hash (seq 1).
  auto sale = accrue(70, "p1");
  ASSERT_TRUE(sale.accrue().provisional());
  const int64_t earned = sale.accrue().points_earned();
  // The cloud credited it to member 70 and says so: its snapshot (watermark 1) has the points,
  // and the card's link comes after it in the same page.
  auto page = snapshot(70, 0, earned, 1);
  auto key = read_key_file(agent_dir_ + "/program.key", "program key");
  ASSERT_TRUE(key);
  auto hasher = IdentifierHasher::create(*key);
  ASSERT_TRUE(hasher);
  auto hash = hasher->hash({IdentifierKind::kCard, agent::seed_card_number(70)});
  auto* link = page.add_changes()->mutable_identifier();
  link->mutable_identifier()->set_kind("card");
  link->mutable_identifier()->set_hash(std::string(hash.begin(), hash.end()));
  link->set_customer_id(agent::seed_customer_id(70));
  apply(page);
  auto v = validate(70);
  EXPECT_EQ(v.status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(v.pending_points(), earned) << "the cloud's figure, not it plus the local lot";
}

TEST_F(RebaseTest, AnIdentifierTheCloudNoLongerLinksStopsFindingTheMember) {
  ASSERT_EQ(validate(21).status(), pb::MEMBER_STATUS_ACTIVE) << "her card, seeded";
  auto key = read_key_file(agent_dir_ + "/program.key", "program key");
  ASSERT_TRUE(key);
  auto hasher = IdentifierHasher::create(*key);
  ASSERT_TRUE(hasher);
  const std::string code = "AC0123456789ABCDEF";  // her app's card, say
  auto qr = hasher->hash({IdentifierKind::kQrToken, code});
  auto by_code = [&] {
    pb::Request req;
    req.set_till_id("till-1");
    req.mutable_validate()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_QR_TOKEN);
    req.mutable_validate()->mutable_identifier()->set_value(code);
    return call(req).validate().status();
  };
  // A snapshot that does not say its identifiers follow (an older cloud) removes nothing.
  auto older = snapshot(21, 100, 0, 0);
  auto* link = older.add_changes()->mutable_identifier();
  link->mutable_identifier()->set_kind("qr");
  link->mutable_identifier()->set_hash(std::string(qr.begin(), qr.end()));
  link->set_customer_id(agent::seed_customer_id(21));
  apply(older);
  EXPECT_EQ(validate(21).status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(by_code(), pb::MEMBER_STATUS_ACTIVE);
  // Her card was removed in the cloud: the snapshot and all of her links now, the code only.
  auto page = snapshot(21, 100, 0, 0);
  page.mutable_changes(0)->mutable_customer()->set_identifiers_follow(true);
  *page.add_changes() = older.changes(1);
  apply(page);
  EXPECT_EQ(validate(21).status(), pb::MEMBER_STATUS_UNKNOWN) << "the card finds nobody";
  EXPECT_EQ(by_code(), pb::MEMBER_STATUS_ACTIVE);
  // And a snapshot with no identifier at all leaves her none.
  auto none = snapshot(21, 100, 0, 0);
  none.mutable_changes(0)->mutable_customer()->set_identifiers_follow(true);
  apply(none);
  EXPECT_EQ(by_code(), pb::MEMBER_STATUS_UNKNOWN);
}

}  // namespace
}  // namespace accrue::sync_testing
