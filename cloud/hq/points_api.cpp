// Points changed by head office: an adjustment, a transfer between two members, an expiry run.
// Adjustments and transfers are head-office events (head_office_events.h) applied by ingestion.
#include <boost/json.hpp>

#include "cloud/core/expiry.h"
#include "cloud/hq/head_office_events.h"
#include "cloud/hq/resources.h"
#include "common/civil_time.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

void PointsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::post, "/v1/customers/{id}/adjustments", "points.adjust", kCustomerCare,
           [this](Call& c) { return adjust(c); });
  gate.add(r, V::post, "/v1/customers/{id}/transfers", "points.transfer", kCustomerCare,
           [this](Call& c) { return transfer(c); });
  gate.add(r, V::post, "/v1/points/expiry-runs", "points.expiry_run", kAdminOnly,
           [this](Call& c) { return expiry_run(c); });
}

http::Response PointsApi::refused(Call& call, const sync::v1::EventResult& result) {
  if (result.reject_code() == "unknown_customer") {
    return problem(call, Problem::kNotFound, result.message());
  }
  return problem(call,
                 result.reject_code() == "insufficient_points" ? Problem::kInsufficientPoints
                                                               : Problem::kAdjustmentRefused,
                 result.message());
}

http::Response PointsApi::adjust(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto points = in.integer("points", {.required = true, .min = -10'000'000, .max = 10'000'000});
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  if (points && *points == 0) errors.add("/points", "must not be 0");
  if (!errors.empty()) return invalid(call, errors);

  std::shared_ptr<const PublishedProgram> program;
  {
    auto lease = d_.pool.acquire();  // released before ingestion takes a connection of its own
    if (!lease) return problem(call, lease.error());
    auto latest = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!latest) return problem(call, latest.error());
    program = *latest;
  }
  HeadOfficeBatch batch(*program, d_.clock.now_ms());
  const auto& e = batch.adjustment(new_id(), id, *points, *reason, call.who.subject);
  auto result = d_.ingest.apply_head_office(
      batch.batch(), [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        if (r.results(0).status() != sync::v1::EVENT_STATUS_APPLIED) return {};
        return audit_change(c, call, "points.adjust", "customer:" + id,
                            {{"event_id", e.event_id()}, {"points", *points}, {"reason", *reason}});
      });
  if (!result) return problem(call, result.error());
  const auto& r = result->results(0);
  if (r.status() == sync::v1::EVENT_STATUS_REJECTED) {
    if (r.reject_code() == "unknown_customer") {
      return problem(call, Problem::kNotFound, "no customer " + id);
    }
    return refused(call, r);
  }
  auto status = d_.reads.status(id);
  json::object out{
      {"event_id", e.event_id()},  {"customer_id", id},
      {"points", *points},         {"reason", *reason},
      {"actor", call.who.subject}, {"occurred_at", format_utc_iso8601(e.occurred_at_ms())}};
  if (status) out["customer"] = json::parse(status->json);
  auto res = http::json(call.req, json::serialize(out), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/customers/" + id + "/transactions");
  return res;
}

// Points from one member to another, when the programme allows transfers: two adjustments in one
// ingestion transaction, both or neither (a deduction the giver cannot cover refuses the whole).
http::Response PointsApi::transfer(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto to = in.string("to_customer_id", {.required = true, .min = 1, .max = 64});
  auto points = in.integer("points", {.required = true, .min = 1, .max = 10'000'000});
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  if (to && *to == id) errors.add("/to_customer_id", "is the giver itself");
  if (!errors.empty()) return invalid(call, errors);
  std::shared_ptr<const PublishedProgram> program;
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto p = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!p) return problem(call, p.error());
    program = *p;
  }
  const auto& policy = program->program.transfers;
  if (!policy.allowed) {
    return problem(call, Problem::kTransfersNotAllowed,
                   "the programme in force does not allow transfers between members");
  }
  if (policy.max_points > 0 && *points > policy.max_points) {
    FieldErrors e;
    e.add("/points", "the programme allows at most " + std::to_string(policy.max_points) +
                         " points per transfer");
    return invalid(call, e);
  }
  HeadOfficeBatch batch(*program, d_.clock.now_ms());
  const std::string transfer_id = new_id();
  batch.adjustment(new_id(), id, -*points, "transfer to " + *to + ": " + *reason, call.who.subject);
  batch.adjustment(new_id(), *to, *points, "transfer from " + id + ": " + *reason,
                   call.who.subject);
  std::optional<sync::v1::EventResult> refusal;
  auto result = d_.ingest.apply_head_office(
      batch.batch(), [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        for (const auto& x : r.results()) {
          if (x.status() != sync::v1::EVENT_STATUS_APPLIED) {
            refusal = x;
            return fail(ErrorCode::kFailedPrecondition, "transfer refused");
          }
        }
        return audit_change(c, call, "points.transfer", "customer:" + id,
                            {{"to_customer_id", *to},
                             {"points", *points},
                             {"reason", *reason},
                             {"transfer_id", transfer_id}});
      });
  if (refusal) return refused(call, *refusal);
  if (!result) return problem(call, result.error());
  json::object out{{"transfer_id", transfer_id},
                   {"from_customer_id", id},
                   {"to_customer_id", *to},
                   {"points", *points},
                   {"reason", *reason}};
  return http::json(call.req, json::serialize(out), bhttp::status::created);
}

http::Response PointsApi::expiry_run(Call& call) {
  // A body is optional: {"max_seconds": 1..60} (default 20).
  int64_t max_seconds = 20;
  if (!call.req.body().empty()) {
    http::Response bad;
    auto body = json_body(call, bad);
    if (!body) return bad;
    FieldErrors errors;
    ObjectReader in(*body, errors);
    if (auto s = in.integer("max_seconds", {.min = 1, .max = 60})) max_seconds = *s;
    in.finish();
    if (!errors.empty()) return invalid(call, errors);
  }
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  SystemRandom random;
  auto r = run_expiry(**lease, d_.clock, random, std::chrono::seconds(max_seconds), 1000,
                      [this](const std::vector<std::string>& ids) {
                        if (!d_.cache.invalidate(ids)) {
                          log(LogLevel::kWarn, "cache_invalidation_failed",
                              {{"customers", std::to_string(ids.size())}});
                        }
                      });
  if (!r) return problem(call, r.error());
  json::object out{{"customers", r->customers},
                   {"lots", r->lots},
                   {"points", r->points},
                   {"complete", r->complete}};
  if (auto a = audit_change(**lease, call, "points.expiry_run", "points", out); !a) {
    log(LogLevel::kWarn, "audit_write_failed", {{"error", a.error().message}});
  }
  return http::json(call.req, json::serialize(out));
}

}  // namespace accrue::cloud::hq
