#include "cloud/core/webhooks.h"

#include <curl/curl.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <cmath>
#include <random>

#include "common/identifier.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud {

namespace json = boost::json;

Result<void> queue_webhook(pg::Connection& c, std::string_view event_type,
                           std::string_view event_id, std::string_view payload) {
  ACCRUE_TRY(
      c.query("INSERT INTO webhook_outbox (subscription_id, event_type, event_id, payload) SELECT "
              "subscription_id, $1, $2, $3::jsonb FROM webhook_subscription WHERE active AND $1 = "
              "ANY(event_types)",
              {pg::Param::text(event_type), pg::Param::text(event_id), pg::Param::text(payload)}));
  return {};
}

const char* const kQueueLedgerWebhooksSql =
    "INSERT INTO webhook_outbox (subscription_id, event_type, event_id, payload) "
    "SELECT s.subscription_id, e.type, e.event_id, e.payload FROM (SELECT CASE x.kind WHEN 1 "
    "THEN 'points.accrued' WHEN 2 THEN 'points.redeemed' WHEN 5 THEN 'points.adjusted' END AS "
    "type, x.event_id, jsonb_build_object('event_id', x.event_id, 'customer_id', x.customer_id, "
    "'points', x.points, 'store_id', x.store_id, 'occurred_at', to_char(to_timestamp("
    "x.occurred_at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) AS "
    "payload FROM jsonb_to_recordset($1::jsonb) AS x(event_id text, kind int, points bigint, "
    "customer_id text, store_id text, occurred_at_ms bigint) WHERE x.kind IN (1, 2, 5) AND "
    "x.customer_id IS NOT NULL) e JOIN webhook_subscription s ON s.active AND e.type = "
    "ANY(s.event_types)";

const char* const kQueueEnrolmentWebhooksSql =
    "INSERT INTO webhook_outbox (subscription_id, event_type, event_id, payload) "
    "SELECT s.subscription_id, 'member.enrolled', x.customer_id, jsonb_build_object("
    "'customer_id', x.customer_id, 'home_store_id', x.home_store_id, 'source', 'store') FROM "
    "jsonb_to_recordset($1::jsonb) AS x(customer_id text, home_store_id text) JOIN "
    "webhook_subscription s ON s.active AND 'member.enrolled' = ANY(s.event_types)";

std::string webhook_signature(std::string_view secret, int64_t unix_s, std::string_view body) {
  const std::string signed_text = std::to_string(unix_s) + "." + std::string(body);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), md, &len);
  return "t=" + std::to_string(unix_s) + ",v1=" + to_hex(std::span<const uint8_t>(md, len));
}

WebhookDispatcher::WebhookDispatcher(pg::Pool& pool, WebhookOptions options)
    : pool_(pool), options_(options) {}

void WebhookDispatcher::start() {
  if (!thread_.joinable()) thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

WebhookDispatcher::~WebhookDispatcher() {
  thread_.request_stop();  // wakes the wait in run(); the jthread then joins
}

void WebhookDispatcher::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void WebhookDispatcher::run(std::stop_token stop) {
  name_this_thread("accrue-hooks");
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    cv_.wait_for(lock, stop, options_.poll, [&] { return woken_; });
    woken_ = false;
    if (stop.stop_requested()) break;
    lock.unlock();
    auto n = run_once();
    if (!n) {
      log(LogLevel::kWarn, "webhook_round_failed", {{"error", n.error().message}});
    }
    lock.lock();
  }
}

namespace {

// The receiver's answer body is not kept: only its status counts.
size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

struct Due {
  std::string delivery_id, event_type, event_id, payload, url, secret, created_at;
  int attempts = 0;
};

}  // namespace

Result<int> WebhookDispatcher::run_once() {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  // Claim: due rows, each to one replica (SKIP LOCKED), leased for five minutes while we send.
  std::vector<Due> due;
  auto claimed = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query(
            "SELECT o.delivery_id, o.event_type, o.event_id, o.payload::text, o.attempts, s.url, "
            "s.secret, to_char(o.created_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
            "FROM webhook_outbox o JOIN webhook_subscription s USING (subscription_id) WHERE "
            "o.state = 'pending' AND o.next_attempt_at <= now() AND s.active ORDER BY "
            "o.next_attempt_at, o.delivery_id LIMIT $1::int FOR UPDATE OF o SKIP LOCKED",
            {pg::Param::text(std::to_string(options_.batch))}));
    std::string ids = "{";
    for (int i = 0; i < r.rows(); ++i) {
      due.push_back({std::string(r.text(i, 0)), std::string(r.text(i, 1)),
                     std::string(r.text(i, 2)), std::string(r.text(i, 3)),
                     std::string(r.text(i, 5)), std::string(r.text(i, 6)),
                     std::string(r.text(i, 7)), static_cast<int>(r.int64(i, 4))});
      ids += (i ? "," : "") + due.back().delivery_id;
    }
    ids += "}";
    if (due.empty()) return {};
    ACCRUE_TRY(
        c.query("UPDATE webhook_outbox SET next_attempt_at = now() + interval '5 minutes' "
                "WHERE delivery_id = ANY($1::bigint[])",
                {pg::Param::text(ids)}));
    return {};
  });
  if (!claimed) return std::unexpected(claimed.error());
  if (due.empty()) return 0;

  CURL* curl = curl_easy_init();
  if (!curl) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& d : due) {
    // Stopping: the rest of the claim is leased for five minutes, then sent by a replica.
    if (thread_.get_stop_token().stop_requested()) break;
    json::object envelope{{"delivery_id", std::stoll(d.delivery_id)},
                          {"event_type", d.event_type},
                          {"event_id", d.event_id},
                          {"occurred_at", d.created_at},
                          {"data", json::parse(d.payload)}};
    const std::string body = json::serialize(envelope);
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Accrue-Event: " + d.event_type).c_str());
    headers = curl_slist_append(headers, ("X-Accrue-Delivery: " + d.delivery_id).c_str());
    headers = curl_slist_append(
        headers, ("X-Accrue-Signature: " + webhook_signature(d.secret, now_s, body)).c_str());
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, d.url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "accrue-webhooks/1");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    const auto t0 = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(curl);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    const bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    std::string error = rc != CURLE_OK ? curl_easy_strerror(rc)
                        : ok           ? ""
                                       : "HTTP " + std::to_string(status);
    const int attempt = d.attempts + 1;
    std::string state = ok ? "delivered" : attempt >= options_.max_attempts ? "failed" : "pending";
    // Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random half to whole.
    const double exp = static_cast<double>(options_.backoff_base.count()) *
                       std::pow(2.0, std::min(attempt - 1, 30));
    const double cap = std::min(exp, static_cast<double>(options_.backoff_max.count()));
    std::uniform_real_distribution<double> jitter(cap / 2, cap);
    const int64_t delay_ms = static_cast<int64_t>(jitter(rng));
    auto recorded = pg::in_transaction(c, [&]() -> Result<void> {
      ACCRUE_TRY(c.query(
          "INSERT INTO webhook_attempt (delivery_id, attempt, status, error, duration_ms) VALUES "
          "($1::bigint, $2::int, $3::int, $4, $5::int) ON CONFLICT DO NOTHING",
          {pg::Param::text(d.delivery_id), pg::Param::text(std::to_string(attempt)),
           status ? pg::Param::text(std::to_string(status)) : pg::Param::null(),
           error.empty() ? pg::Param::null() : pg::Param::text(error),
           pg::Param::text(std::to_string(ms))}));
      ACCRUE_TRY(c.query(
          "UPDATE webhook_outbox SET state = $2, attempts = $3::int, last_status = $4::int, "
          "last_error = $5, delivered_at = CASE WHEN $2 = 'delivered' THEN now() END, "
          "next_attempt_at = now() + make_interval(secs => $6::double precision) WHERE "
          "delivery_id = $1::bigint",
          {pg::Param::text(d.delivery_id), pg::Param::text(state),
           pg::Param::text(std::to_string(attempt)),
           status ? pg::Param::text(std::to_string(status)) : pg::Param::null(),
           error.empty() ? pg::Param::null() : pg::Param::text(error),
           pg::Param::text(std::to_string(static_cast<double>(delay_ms) / 1000.0))}));
      return {};
    });
    if (!recorded) {
      curl_easy_cleanup(curl);
      return std::unexpected(recorded.error());
    }
    if (ok) {
      counters_.delivered.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters_.failed_attempts.fetch_add(1, std::memory_order_relaxed);
      if (state == "failed") {
        counters_.given_up.fetch_add(1, std::memory_order_relaxed);
        log(LogLevel::kWarn, "webhook_given_up",
            {{"delivery_id", d.delivery_id},
             {"attempts", std::to_string(attempt)},
             {"error", error}});
      }
    }
  }
  curl_easy_cleanup(curl);
  return static_cast<int>(due.size());
}

}  // namespace accrue::cloud
