// Webhooks: head office subscribes a URL to event types; every change of those types is queued
// in webhook_outbox in the transaction that makes it, and delivered from there.
//
// Event types:
//   member.enrolled   a member was created (at a till, or through the API)
//   tier.changed      a member's tier changed: {customer_id, from, to, reason, at}, reason one of
//                     qualified, grace_ended, placed, manual_floor (cloud/core/tiers.h)
//   points.accrued    a sale earned points
//   points.redeemed   points were spent
//   points.adjusted   points were added or deducted by hand
//   reward.claimed    a reward was claimed: {coupon_id, reward_id, customer_id, cost_points,
//                     expires_at} (docs/rewards.md)
//   coupon.voided     an issued coupon was voided: {coupon_id, reward_id, customer_id,
//                     points_back, reason}
//   coupon.redeemed   a coupon was used at a till: {coupon_id, reward_id, customer_id, store_id,
//                     till_id, use_event_id, discount, offline}
//   coupon.double_use a store used a coupon that was spent already (or never issued): {coupon_id,
//                     store_id, till_id, use_event_id, discount, reason: used|voided|unknown}
//
// Each delivery is a POST of {"delivery_id", "event_type", "event_id", "occurred_at", "data"}
// with the headers
//   X-Accrue-Event: <type>   X-Accrue-Delivery: <delivery id>
//   X-Accrue-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<body>")>
// Receivers check the signature and the timestamp's age, and deduplicate by delivery id (a
// delivery may arrive twice if an answer is lost). A 2xx answer delivers; anything else (or no
// answer in 10 s) is retried with exponential backoff and jitter, up to `max_attempts`, then the
// delivery is marked failed. Every attempt is logged (webhook_attempt); a failed or delivered
// delivery can be sent again on request.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "cloud/pg/pool.h"

namespace accrue::cloud {

inline constexpr const char* kWebhookEventTypes[] = {
    "member.enrolled",   "tier.changed",   "points.accrued",  "points.redeemed",
    "points.adjusted",   "reward.claimed", "coupon.voided",   "coupon.redeemed",
    "coupon.double_use", "coupon.expired", "points.overdraft"};

// Queues one event for every active subscription to its type, in `c`'s transaction. `payload`
// is a JSON object (text).
Result<void> queue_webhook(pg::Connection& c, std::string_view event_type,
                           std::string_view event_id, std::string_view payload);

// The SQL that queues, in ingestion's transaction, the points events of the ledger rows given as
// a jsonb array in $1 (columns event_id, kind, points, customer_id, store_id, occurred_at_ms).
extern const char* const kQueueLedgerWebhooksSql;
// Same for the members ingestion created ($1: customer_id, home_store_id, enrolled_at_ms).
extern const char* const kQueueEnrolmentWebhooksSql;

// "t=<unix seconds>,v1=<hex>" for `body` signed with `secret` at `unix_s`.
std::string webhook_signature(std::string_view secret, int64_t unix_s, std::string_view body);

struct WebhookOptions {
  std::chrono::milliseconds poll{500};
  std::chrono::milliseconds backoff_base{10'000};  // first retry after about this
  std::chrono::milliseconds backoff_max{6 * 3600 * 1000};
  int max_attempts = 15;  // ~ two days at the defaults
  std::chrono::milliseconds timeout{10'000};
  int batch = 50;
};

struct WebhookCounters {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed_attempts{0};
  std::atomic<uint64_t> given_up{0};
};

// Delivers due webhooks from a background thread, one replica per row at a time.
class WebhookDispatcher {
 public:
  WebhookDispatcher(pg::Pool& pool, WebhookOptions options);
  ~WebhookDispatcher();
  // Starts the background thread (once the schema is in place).
  void start();
  // One round: claims due deliveries, sends them, records the outcome. Returns how many were
  // attempted. Public for tests.
  Result<int> run_once();
  void wake();
  const WebhookCounters& counters() const { return counters_; }

 private:
  void run(std::stop_token stop);
  pg::Pool& pool_;
  WebhookOptions options_;
  WebhookCounters counters_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool woken_ = false;
  std::jthread thread_;
};

}  // namespace accrue::cloud
