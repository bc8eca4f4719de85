#include "cloud/sync/feed.h"

namespace accrue::cloud {

Result<void> feed_customer_changed(pg::Connection& c, const std::string& customer_id) {
  ACCRUE_TRY(c.query("INSERT INTO change_feed (kind, customer_id) VALUES ($1::smallint, $2)",
                     {pg::Param::text(std::to_string(to_int(FeedKind::kCustomer))),
                      pg::Param::text(customer_id)}));
  return {};
}

Result<void> feed_coupon_changed(pg::Connection& c, const std::string& coupon_id) {
  const std::string kind = std::to_string(to_int(FeedKind::kCoupon));
  ACCRUE_TRY(c.query("INSERT INTO change_feed (kind, coupon_id) VALUES ($1::smallint, $2::uuid)",
                     {pg::Param::text(kind), pg::Param::text(coupon_id)}));
  return {};
}

}  // namespace accrue::cloud
