#include "cloud/core/audit.h"

namespace accrue::cloud {

Result<AuditReport> audit(pg::Connection& c) {
  ACCRUE_TRY(c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  auto body = [&]() -> Result<AuditReport> {
    AuditReport r;
    ACCRUE_ASSIGN_OR_RETURN(
        auto counts,
        c.exec("SELECT (SELECT count(*) FROM balance), (SELECT count(*) FROM ledger)"));
    r.customers = counts.int64(0, 0);
    r.ledger_rows = counts.int64(0, 1);
    ACCRUE_ASSIGN_OR_RETURN(
        auto bad,
        c.exec("SELECT coalesce(b.customer_id, l.customer_id), coalesce(b.points, 0), "
               "coalesce(l.total, 0), count(*) OVER () FROM balance b "
               "FULL JOIN (SELECT customer_id, sum(points) AS total FROM ledger "
               "WHERE customer_id IS NOT NULL GROUP BY customer_id) l USING (customer_id) "
               "WHERE coalesce(b.points, 0) <> coalesce(l.total, 0) "
               "ORDER BY 1 LIMIT 20"));
    for (int i = 0; i < bad.rows(); ++i) {
      r.examples.push_back({std::string(bad.text(i, 0)), bad.int64(i, 1), bad.int64(i, 2)});
      r.mismatches = bad.int64(i, 3);
    }
    return r;
  };
  auto r = body();
  (void)c.exec("ROLLBACK");
  return r;
}

}  // namespace accrue::cloud
