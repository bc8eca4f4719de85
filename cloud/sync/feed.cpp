#include "cloud/sync/feed.h"

namespace accrue::cloud {

Result<void> feed_customer_changed(pg::Connection& c, const std::string& customer_id) {
  ACCRUE_TRY(c.query("INSERT INTO change_feed (kind, customer_id) VALUES ($1::smallint, $2)",
                     {pg::Param::text(std::to_string(to_int(FeedKind::kCustomer))),
                      pg::Param::text(customer_id)}));
  return {};
}

}  // namespace accrue::cloud
