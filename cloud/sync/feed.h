// The change feed's vocabulary, for everything that writes to it (ingestion, head office,
// imports, expiry, programme publication); cloud/sync/changes.h reads it for the stores.
#pragma once

#include <cstdint>
#include <string>

#include "cloud/pg/pg.h"

namespace accrue::cloud {

// What a change-feed row says changed (change_feed.kind); a number never changes meaning.
enum class FeedKind : int16_t {
  kCustomer = 1,    // a member's record or balance: her stores download her snapshot
  kIdentifier = 2,  // an identifier joined a member
  kProgram = 3,     // a programme version was published (for every store)
  kRemoved = 4,     // reserved by the schema; not written (a closed member is a kCustomer row)
  kMapping = 5,     // a store's temporary customer id was mapped to the cloud's
  kCoupon = 6,      // a coupon (change_feed.coupon_id) was spent or is usable again (every store)
};
constexpr int16_t to_int(FeedKind k) { return static_cast<int16_t>(k); }

// Writes the change-feed row that sends member `customer_id` to her stores (and to the search
// index) again, in the caller's transaction: every change to what they show of her needs one.
Result<void> feed_customer_changed(pg::Connection& c, const std::string& customer_id);

// Writes the change-feed row that tells every store coupon `coupon_id` was spent (used or
// voided) or is usable again, in the caller's transaction.
Result<void> feed_coupon_changed(pg::Connection& c, const std::string& coupon_id);

}  // namespace accrue::cloud
