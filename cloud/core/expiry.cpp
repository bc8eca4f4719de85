#include "cloud/core/expiry.h"

#include <boost/json.hpp>

#include "cloud/sync/feed.h"
#include "common/uuid.h"

namespace accrue::cloud {

namespace json = boost::json;

Result<ExpiryReport> run_expiry(
    pg::Connection& c, const Clock& clock, Random& random, std::chrono::milliseconds time_limit,
    int batch_customers, const std::function<void(const std::vector<std::string>&)>& after_batch) {
  const auto until = std::chrono::steady_clock::now() + time_limit;
  UuidV7Generator ids(clock, random);
  ExpiryReport report;
  std::string after;  // customers in order: a customer whose lots failed to go stays behind
  // "Now" is the clock's, not the database's: the run and its ledger rows follow the service's
  // clock (a test's injected one included).
  const std::string now = std::to_string(clock.now_ms());
  for (int round = 0; round < 1'000'000; ++round) {
    if (std::chrono::steady_clock::now() >= until) {
      report.complete = false;
      break;
    }
    ACCRUE_TRY(c.exec("BEGIN"));
    auto body = [&]() -> Result<std::vector<std::string>> {
      ACCRUE_ASSIGN_OR_RETURN(
          auto due,
          c.query("SELECT DISTINCT customer_id FROM points_lot WHERE remaining > 0 AND expires_at "
                  "<= to_timestamp($3::bigint / 1000.0) AND customer_id > $1 ORDER BY customer_id "
                  "LIMIT $2::int",
                  {pg::Param::text(after), pg::Param::text(std::to_string(batch_customers)),
                   pg::Param::text(now)}));
      std::vector<std::string> customers;
      for (int i = 0; i < due.rows(); ++i) customers.emplace_back(due.text(i, 0));
      if (customers.empty()) return customers;
      const std::string arr = pg::text_array(customers);
      // Balances first, in customer order (ingestion's order), then their due lots.
      ACCRUE_TRY(
          c.query("SELECT 1 FROM balance WHERE customer_id = ANY($1::text[]) ORDER BY "
                  "customer_id FOR UPDATE",
                  {pg::Param::text(arr)}));
      ACCRUE_ASSIGN_OR_RETURN(
          auto sums,
          c.query(
              "WITH due AS (SELECT lot_id, customer_id, remaining FROM points_lot WHERE "
              "customer_id "
              "= ANY($1::text[]) AND remaining > 0 AND expires_at <= to_timestamp($2::bigint / "
              "1000.0) FOR UPDATE), gone AS (UPDATE points_lot p SET remaining = 0 FROM due WHERE "
              "p.lot_id = due.lot_id) SELECT customer_id, count(*), sum(remaining) FROM due GROUP "
              "BY customer_id",
              {pg::Param::text(arr), pg::Param::text(now)}));
      json::array rows;
      for (int i = 0; i < sums.rows(); ++i) {
        const int64_t points = sums.int64(i, 2);
        report.lots += sums.int64(i, 1);
        if (points <= 0) continue;
        report.points += points;
        ++report.customers;
        rows.push_back(json::object{{"event_id", ids.next().to_string()},
                                    {"customer_id", sums.text(i, 0)},
                                    {"points", points}});
      }
      if (!rows.empty()) {
        const std::string js = json::serialize(rows);
        ACCRUE_TRY(c.query(
            "INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at) "
            "SELECT x.event_id, x.customer_id, 6, -x.points, 'expired', 'expiry-run', "
            "to_timestamp($2::bigint / 1000.0) FROM jsonb_to_recordset($1::jsonb) AS x(event_id "
            "uuid, customer_id text, points bigint)",
            {pg::Param::text(js), pg::Param::text(now)}));
        ACCRUE_TRY(c.query(
            "UPDATE balance b SET points = b.points - x.points, lifetime_expired = "
            "b.lifetime_expired + x.points, version = b.version + 1, updated_at = now() FROM "
            "jsonb_to_recordset($1::jsonb) AS x(customer_id text, points bigint) WHERE "
            "b.customer_id = x.customer_id",
            {pg::Param::text(js)}));
        ACCRUE_TRY(c.query(
            "INSERT INTO change_feed (kind, customer_id) SELECT $2::smallint, "
            "x.customer_id FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text)",
            {pg::Param::text(js), pg::Param::text(std::to_string(to_int(FeedKind::kCustomer)))}));
      }
      return customers;
    };
    auto done = body();
    if (!done) {
      (void)c.exec("ROLLBACK");
      return std::unexpected(done.error());
    }
    ACCRUE_TRY(c.exec("COMMIT"));
    if (done->empty()) break;
    after = done->back();
    if (after_batch) after_batch(*done);
  }
  return report;
}

}  // namespace accrue::cloud
