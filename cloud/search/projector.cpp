#include "cloud/search/projector.h"

#include <unistd.h>

#include <random>
#include <set>

#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud::search {

namespace {

constexpr const char* kName = "customers";

// The lease, taken or renewed; with the cursor, the index and whether the feed was pruned past
// the cursor (its rows are gone: only a rebuild can catch up).
constexpr const char* kTakeLeaseSql =
    "UPDATE search_projection SET lease_owner = $1, lease_until = now() + make_interval(secs => "
    "$2::double precision) WHERE name = 'customers' AND (lease_owner = $1 OR lease_until IS "
    "NULL OR lease_until < now()) RETURNING cursor_xid::text, cursor_id, index_name, EXISTS "
    "(SELECT 1 FROM feed_horizon h WHERE (h.pruned_through_xid, h.pruned_through_id) > "
    "(cursor_xid, cursor_id)), rebuild_requested";

constexpr const char* kNextEpochSql =
    "UPDATE search_projection SET epoch = epoch + 1, lease_until = now() + make_interval(secs => "
    "$2::double precision) WHERE name = 'customers' AND lease_owner = $1 RETURNING epoch";

// Rows of finished transactions only (see changes.h): none can later commit behind the cursor.
constexpr const char* kFeedRowsSql =
    "SELECT f.xid::text, f.id, coalesce(f.customer_id, '') FROM change_feed f WHERE (f.xid, f.id) "
    "> ($1::xid8, $2::bigint) AND f.xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY f.xid, "
    "f.id LIMIT $3::int";

constexpr const char* kAdvanceSql =
    "UPDATE search_projection SET cursor_xid = $2::xid8, cursor_id = $3::bigint, projected_at = "
    "now() WHERE name = 'customers' AND lease_owner = $1";

}  // namespace

SearchProjector::SearchProjector(pg::Pool& pool, ElasticClient& client, ProjectorOptions options)
    : pool_(pool), client_(client), o_(std::move(options)) {
  if (o_.owner.empty()) o_.owner = replica_name();
  o_.batch = std::max(o_.batch, 1);
}

SearchProjector::~SearchProjector() { stop(); }

void SearchProjector::start() {
  if (!thread_.joinable()) thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void SearchProjector::stop() {
  thread_.request_stop();  // wakes the wait in run()
  if (thread_.joinable()) thread_.join();
  thread_ = {};  // start() may run it again
}

void SearchProjector::run(std::stop_token stop) {
  name_this_thread("accrue-search");
  int failures = 0;
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    lock.unlock();
    auto t = tick();
    lock.lock();
    if (stop.stop_requested()) break;
    std::chrono::milliseconds wait = o_.poll;
    if (!t) {
      ++counters_.errors;
      ++failures;
      // Backoff while the cluster or PostgreSQL fails: poll x 2^n, at most 30 s.
      wait = std::min<std::chrono::milliseconds>(o_.poll * (1 << std::min(failures, 5)),
                                                 std::chrono::seconds(30));
      log(LogLevel::kWarn, "search_projection_failed",
          {{"error", t.error().message}, {"retry_in_ms", std::to_string(wait.count())}});
    } else {
      failures = 0;
      if (t->more) continue;
    }
    cv_.wait_for(lock, stop, wait, [] { return false; });
  }
}

Result<std::optional<SearchProjector::Lease>> SearchProjector::take_lease(pg::Connection& c) {
  ACCRUE_TRY(
      c.exec("INSERT INTO search_projection (name) VALUES ('customers') ON CONFLICT DO "
             "NOTHING"));
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query(kTakeLeaseSql, {pg::Param::text(o_.owner),
                                      pg::Param::text(std::to_string(o_.lease.count()))}));
  if (r.rows() != 1) return std::optional<Lease>();
  return std::optional<Lease>(Lease{{std::string(r.text(0, 0)), r.int64(0, 1)},
                                    std::string(r.text(0, 2)),
                                    r.boolean(0, 3),
                                    r.boolean(0, 4)});
}

Result<int64_t> SearchProjector::next_epoch(pg::Connection& c) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query(kNextEpochSql, {pg::Param::text(o_.owner),
                                      pg::Param::text(std::to_string(o_.lease.count()))}));
  if (r.rows() != 1) {
    return fail(ErrorCode::kFailedPrecondition,
                "the search projection's lease passed to another replica");
  }
  return r.int64(0, 0);
}

void SearchProjector::account(const BulkOutcome& b) {
  counters_.documents += static_cast<uint64_t>(b.indexed);
  counters_.stale += static_cast<uint64_t>(b.stale);
  counters_.failed += b.failed.size();
  for (const auto& [id, reason] : b.failed) {
    // The cursor moves on: one document the index refuses must not hold back every other
    // change. The customer's next change sends it again; a rebuild repairs it for good.
    log(LogLevel::kError, "search_document_refused", {{"customer_id", id}, {"reason", reason}});
  }
}

Result<TickOutcome> SearchProjector::tick() {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  TickOutcome out;
  ACCRUE_ASSIGN_OR_RETURN(auto leased, take_lease(c));
  out.leased = leased.has_value();
  if (out.leased) {
    const Lease& held = *leased;
    if (held.index.empty() || held.behind || held.requested) {
      log(LogLevel::kInfo, "search_rebuild_started",
          {{"why", held.index.empty() ? "never built"
                   : held.behind      ? "the feed was pruned past the cursor"
                                      : "an operator asked"}});
      ACCRUE_TRY(rebuild_leased(c, {}));
      out.rebuilt = true;
    } else {
      ACCRUE_ASSIGN_OR_RETURN(auto b, project_batch(c, held.cursor));
      out.rows = b.rows;
      out.documents = b.documents;
      out.more = b.more;
    }
  }
  ACCRUE_TRY(lag_on(c));
  return out;
}

Result<TickOutcome> SearchProjector::project_batch(pg::Connection& c, const Cursor& from) {
  TickOutcome out;
  out.leased = true;
  std::vector<CustomerDoc> docs;
  Cursor to = from;
  auto read = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto rows,
        c.query(kFeedRowsSql, {pg::Param::text(from.xid), pg::Param::text(std::to_string(from.id)),
                               pg::Param::text(std::to_string(o_.batch))}));
    out.rows = rows.rows();
    out.more = out.rows == o_.batch;
    if (out.rows == 0) return {};
    std::vector<std::string> ids;
    std::set<std::string> seen;
    for (int i = 0; i < rows.rows(); ++i) {
      std::string id(rows.text(i, 2));
      if (!id.empty() && seen.insert(id).second) ids.push_back(std::move(id));
    }
    to = {std::string(rows.text(out.rows - 1, 0)), rows.int64(out.rows - 1, 1)};
    if (ids.empty()) return {};  // programme rows only: nothing the search shows
    // The epoch first, then the documents, under the epoch's row lock: content read later
    // always carries a higher version.
    ACCRUE_ASSIGN_OR_RETURN(auto epoch, next_epoch(c));
    ACCRUE_ASSIGN_OR_RETURN(auto loaded, PgCustomerSearch::load(c, ids));
    docs = std::move(loaded);
    for (auto& d : docs) d.version = epoch;
    return {};
  });
  if (!read) return std::unexpected(read.error());
  if (out.rows == 0) return out;
  if (!docs.empty()) {
    auto sent = client_.bulk(docs);
    if (!sent) return std::unexpected(sent.error());  // the cursor stays: sent again next time
    account(*sent);
    out.documents = static_cast<int>(docs.size());
  }
  ACCRUE_TRY(c.query(kAdvanceSql, {pg::Param::text(o_.owner), pg::Param::text(to.xid),
                                   pg::Param::text(std::to_string(to.id))}));
  ++counters_.batches;
  return out;
}

Result<std::optional<RebuildOutcome>> SearchProjector::rebuild(
    const std::function<void(int64_t)>& progress) {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  ACCRUE_ASSIGN_OR_RETURN(auto leased, take_lease(c));
  if (!leased.has_value()) {
    // A serving replica projects (and renews its lease every batch): it rebuilds on its next
    // tick, so the index is never filled by two writers at once.
    ACCRUE_TRY(
        c.exec("UPDATE search_projection SET rebuild_requested = true WHERE name = 'customers'"));
    return std::optional<RebuildOutcome>();
  }
  auto out = rebuild_leased(c, progress);
  (void)c.query(
      "UPDATE search_projection SET lease_owner = NULL, lease_until = NULL WHERE name = "
      "'customers' AND lease_owner = $1",
      {pg::Param::text(o_.owner)});
  if (!out) return std::unexpected(out.error());
  return std::optional<RebuildOutcome>(std::move(*out));
}

Result<RebuildOutcome> SearchProjector::rebuild_leased(
    pg::Connection& c, const std::function<void(int64_t)>& progress) {
  const auto started = std::chrono::steady_clock::now();
  // The feed resumes from here once the index is full: every transaction older than this
  // snapshot's xmin is in the documents read below, the rest comes through the feed.
  ACCRUE_ASSIGN_OR_RETURN(auto start,
                          c.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"));
  const std::string resume_xid(start.text(0, 0));
  ACCRUE_ASSIGN_OR_RETURN(auto old,
                          c.query("SELECT index_name FROM search_projection WHERE name = $1",
                                  {pg::Param::text(kName)}));
  const std::string old_index = old.rows() ? std::string(old.text(0, 0)) : "";

  ACCRUE_TRY(client_.put_index_template());
  ACCRUE_ASSIGN_OR_RETURN(auto first, pg::in_transaction(c, [&] { return next_epoch(c); }));
  ACCRUE_ASSIGN_OR_RETURN(auto index, client_.create_index(std::to_string(first)));

  RebuildOutcome out;
  out.index = index;
  std::string after;
  for (int64_t round = 0; round < 100'000'000; ++round) {  // bounded: far past any member count
    std::vector<CustomerDoc> docs;
    auto read = pg::in_transaction(c, [&]() -> Result<void> {
      ACCRUE_ASSIGN_OR_RETURN(auto epoch, next_epoch(c));
      ACCRUE_ASSIGN_OR_RETURN(
          auto ids,
          c.query(
              "SELECT customer_id FROM customer WHERE customer_id > $1 ORDER BY customer_id LIMIT "
              "$2::int",
              {pg::Param::text(after), pg::Param::text(std::to_string(o_.batch))}));
      std::vector<std::string> list;
      for (int i = 0; i < ids.rows(); ++i) list.emplace_back(ids.text(i, 0));
      ACCRUE_ASSIGN_OR_RETURN(auto loaded, PgCustomerSearch::load(c, list));
      docs = std::move(loaded);
      for (auto& d : docs) d.version = epoch;
      return {};
    });
    if (!read) return std::unexpected(read.error());
    if (docs.empty()) break;
    after = docs.back().customer_id;
    auto sent = client_.bulk(docs, out.index);
    if (!sent) {
      return fail(sent.error().code, "rebuilding " + out.index +
                                         " (left half-filled; the alias "
                                         "still points at the previous index): " +
                                         sent.error().message);
    }
    account(*sent);
    out.documents += static_cast<int64_t>(docs.size());
    if (progress) progress(out.documents);
    if (static_cast<int>(docs.size()) < o_.batch) break;
  }
  ACCRUE_TRY(client_.swap_alias(out.index));
  ACCRUE_TRY(c.query(
      "UPDATE search_projection SET cursor_xid = $2::xid8, cursor_id = 0, index_name = $3, "
      "rebuilt_at = now(), projected_at = now(), rebuild_requested = false WHERE name = "
      "'customers' AND lease_owner = $1",
      {pg::Param::text(o_.owner), pg::Param::text(resume_xid), pg::Param::text(out.index)}));
  if (!old_index.empty() && old_index != out.index) {
    if (auto d = client_.delete_index(old_index); !d) {
      log(LogLevel::kWarn, "search_old_index_kept",
          {{"index", old_index}, {"error", d.error().message}});
    }
  }
  ++counters_.rebuilds;
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  log(LogLevel::kInfo, "search_rebuilt",
      {{"index", out.index},
       {"documents", std::to_string(out.documents)},
       {"took_ms", std::to_string(out.took.count())}});
  return out;
}

Result<std::chrono::milliseconds> SearchProjector::lag() {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  return lag_on(*lease);
}

Result<std::chrono::milliseconds> SearchProjector::lag_on(pg::Connection& c) {
  // The oldest change after the cursor, committed or not yet safe to read: its age is how far
  // the index is behind. Without a projection row, everything in the feed is behind.
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.exec(
          "SELECT coalesce((SELECT (extract(epoch FROM now() - f.created_at) * 1000)::bigint FROM "
          "change_feed f, (SELECT coalesce((SELECT cursor_xid FROM search_projection WHERE name = "
          "'customers'), '0'::xid8) AS x, coalesce((SELECT cursor_id FROM search_projection WHERE "
          "name = 'customers'), 0) AS i) s WHERE (f.xid, f.id) > (s.x, s.i) ORDER BY f.xid, f.id "
          "LIMIT 1), 0)"));
  const auto ms = std::chrono::milliseconds(std::max<int64_t>(r.int64(0, 0), 0));
  counters_.lag_ms = ms.count();
  return ms;
}

}  // namespace accrue::cloud::search
