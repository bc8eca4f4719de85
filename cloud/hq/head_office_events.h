// Head office changes points as a store of its own (Ingest::kHeadOfficeStore): its adjustments,
// transfers, enrolment bonuses, claims of provisional points and bulk jobs are events that
// ingestion applies like a till's, so that ledger kind, lots, tier qualification and the change
// feed follow the same rules. This is the one place such events are built.
#pragma once

#include <string>
#include <vector>

#include "accrue/sync/v1/sync.pb.h"
#include "cloud/core/programs.h"
#include "common/clock.h"
#include "common/coupon.h"

namespace accrue::cloud::hq {

class HeadOfficeBatch {
 public:
  // Events under `program` (the one in force), occurring `now`, from head office (store HQ) or,
  // with `web_shop`, from the web shop (store WEB).
  HeadOfficeBatch(const PublishedProgram& program, TimestampMs now, bool web_shop = false);

  // `points` (signed) for `customer_id`, by `actor` (a token's subject, or "job:<id>").
  sync::v1::EventEnvelope& adjustment(std::string event_id, const std::string& customer_id,
                                      int64_t points, const std::string& reason,
                                      const std::string& actor);
  // The programme's enrolment bonus for a new member (ingestion reads the amount).
  sync::v1::EventEnvelope& enrolment_bonus(std::string event_id, const std::string& customer_id,
                                           const std::string& actor);

  // The provisional accruals against `hashes` (raw, 32 bytes each; her own identifiers) become
  // the member's.
  sync::v1::EventEnvelope& claim(std::string event_id, const std::string& customer_id,
                                 const std::vector<std::string>& hashes, const std::string& actor);

  // A web-shop order as a sale: till "web", the order id as its transaction, occurring `at`.
  // Ingestion computes its points.
  sync::v1::EventEnvelope& sale(std::string event_id, const std::string& customer_id,
                                const std::string& order_id, TimestampMs at,
                                const loyalty::v1::Basket& basket);
  // A return of lines (line_no, quantity_milli) of the sale `sale_event_id`, as its own
  // transaction `pos_tx_id` at till "web".
  sync::v1::EventEnvelope& sale_return(std::string event_id, const std::string& sale_event_id,
                                       const std::string& pos_tx_id,
                                       const std::vector<std::pair<uint32_t, int64_t>>& lines);

  // A coupon used on web order `order_id` (till "web"), taking `discount_minor` off it.
  sync::v1::EventEnvelope& coupon_use(std::string event_id, const std::string& customer_id,
                                      const std::string& order_id, const CouponClaims& coupon,
                                      const std::string& currency, int64_t discount_minor,
                                      int64_t basket_total_minor);
  // Points redeemed on web order `order_id`, worth `value_minor` of `currency`.
  sync::v1::EventEnvelope& redemption(std::string event_id, const std::string& customer_id,
                                      const std::string& order_id, int64_t points,
                                      const std::string& currency, int64_t value_minor);

  const sync::v1::EventBatch& batch() const { return batch_; }
  bool empty() const { return batch_.events_size() == 0; }

 private:
  sync::v1::EventEnvelope& event(std::string event_id);

  const PublishedProgram& program_;
  TimestampMs now_;
  sync::v1::EventBatch batch_;
};

}  // namespace accrue::cloud::hq
