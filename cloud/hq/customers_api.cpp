// /v1/customers: the hot reads, create, details (personal data), update, block, tier floor.
// Search is in customer_search.cpp; the rows are written through customer_records.h.
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "cloud/core/tiers.h"
#include "cloud/hq/customer_records.h"
#include "cloud/hq/head_office_events.h"
#include "cloud/hq/resources.h"
#include "cloud/sync/feed.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr std::string_view kClosed =
    "this customer was erased or merged into another; nothing about them can change";

// What a refusal inside a transaction carries out of it (the transaction rolls back).
Result<void> refuse(std::optional<http::Response>& out, http::Response answer) {
  out = std::move(answer);
  return fail(ErrorCode::kFailedPrecondition, "refused");
}

// The identifiers' keyed hashes as the sync protocol carries them (raw bytes).
std::vector<std::string> raw_hashes(const std::vector<NewIdentifier>& ids) {
  std::vector<std::string> out;
  for (const auto& x : ids) out.emplace_back(x.hash.begin(), x.hash.end());
  return out;
}

}  // namespace

void CustomersApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/customers/{id}/status", "customers.status", kEveryRole,
           [this](Call& c) { return read(c, Read::kStatus); });
  gate.add(r, V::get, "/v1/customers/{id}", "customers.profile", kEveryRole,
           [this](Call& c) { return read(c, Read::kProfile); });
  gate.add(r, V::get, "/v1/customers/{id}/transactions", "customers.transactions", kEveryRole,
           [this](Call& c) { return read(c, Read::kTransactions); });
  gate.add(r, V::get, "/v1/customers", "customers.search", kEveryRole,
           [this](Call& c) { return search(c); });
  gate.add(r, V::post, "/v1/customers", "customers.create", kCustomerCare,
           [this](Call& c) { return create(c); });
  gate.add(r, V::get, "/v1/customers/{id}/details", "customers.details", kCustomerCare,
           [this](Call& c) { return details(c); });
  gate.add(r, V::patch, "/v1/customers/{id}/details", "customers.patch", kCustomerCare,
           [this](Call& c) { return patch(c); });
  gate.add(r, V::post, "/v1/customers/{id}/block", "customers.block", kCustomerCare,
           [this](Call& c) { return block(c, true); });
  gate.add(r, V::post, "/v1/customers/{id}/unblock", "customers.unblock", kCustomerCare,
           [this](Call& c) { return block(c, false); });
  gate.add(r, V::put, "/v1/customers/{id}/tier-floor", "customers.tier_floor", kCustomerCare,
           [this](Call& c) { return tier_floor(c); });
  gate.add(r, V::get, "/v1/customers/{id}/tier-history", "customers.tier_history", kEveryRole,
           [this](Call& c) { return tier_history(c); });
  gate.add(r, V::post, "/v1/customers/{id}/identifiers", "customers.add_identifier", kCustomerCare,
           [this](Call& c) { return add_identifier(c); });
  gate.add(r, V::delete_, "/v1/customers/{id}/identifiers/{identifier_id}",
           "customers.remove_identifier", kCustomerCare,
           [this](Call& c) { return remove_identifier(c); });
}

// --- the three hot reads -------------------------------------------------------------------

http::Response CustomersApi::read(Call& call, Read what) {
  const auto& req = call.req;
  const std::string& id = call.ctx.params.at(0);
  // Status, profile and the first page of transactions are cached (versioned by the customer's
  // generation, bumped by every applied event); later pages are read through.
  std::string kind = what == Read::kStatus ? "status" : "profile";
  int limit = kDefaultPageSize;
  std::string cursor;
  if (what == Read::kTransactions) {
    if (auto l = http::query_param(req.target(), "limit")) {
      auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
      if (ec != std::errc() || p != l->data() + l->size()) limit = -1;
    }
    cursor = http::query_param(req.target(), "cursor").value_or("");
    kind = "tx" + std::to_string(limit);
  }
  const bool cacheable =
      cursor.empty() && (what != Read::kTransactions || (limit >= 1 && limit <= kMaxPageSize));
  cache::CustomerCache::Lookup seen;
  if (cacheable) {
    seen = d_.cache.get(kind, id);
    if (seen.hit) return http::json(req, std::move(*seen.hit));
  }
  Result<std::string> body;
  if (what == Read::kTransactions) {
    body = d_.reads.transactions(id, limit, cursor);
  } else if (auto doc = what == Read::kStatus ? d_.reads.status(id) : d_.reads.profile(id)) {
    body = std::move(doc->json);
  } else {
    body = std::unexpected(doc.error());
  }
  if (!body) return problem(call, body.error());
  if (cacheable) d_.cache.fill(kind, id, seen, *body);
  return http::json(req, std::move(*body));
}

// --- details (personal data) ----------------------------------------------------------------

http::Response CustomersApi::details(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  if (!audit_->enqueue(
          {call.who.subject, "customer.read_details", "customer:" + id, call.ctx.request_id, {}})) {
    return problem(call, Problem::kAuditUnavailable,
                   "personal data cannot be read while its audit trail cannot be written");
  }
  return document(call, **lease, id);
}

// --- create ----------------------------------------------------------------------------------

http::Response CustomersApi::create(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  ProfileInput profile = read_profile(in, std::nullopt);
  const std::vector<NewIdentifier> ids = read_new_identifiers(in, errors, profile, hasher_);
  in.finish();
  if (!errors.empty()) return invalid(call, errors);

  const std::string id = new_id();
  std::shared_ptr<const PublishedProgram> program;
  {
    auto lease = d_.pool.acquire();  // released before ingestion takes a connection of its own
    if (!lease) return problem(call, lease.error());
    auto latest = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!latest) return problem(call, latest.error());
    program = *latest;
  }
  const auto& ladder = program->program.tiers.ladder;
  const std::string tier = ladder.empty() ? "" : ladder.front().tier_id;

  // The member's rows are written in the ingestion transaction of her enrolment bonus, before
  // the bonus is read: she exists with her points or not at all, and the bonus is booked as a
  // store's enrolment books it (ledger kind, lot, tier qualification).
  HeadOfficeBatch bonus(*program, d_.clock.now_ms());
  bonus.enrolment_bonus(new_id(), id, call.who.subject);
  // Points a till booked for one of her cards before she was registered become hers with her.
  if (!ids.empty()) bonus.claim(new_id(), id, raw_hashes(ids), call.who.subject);

  std::optional<http::Response> refused;
  auto write = [&](pg::Connection& c) -> Result<void> {
    if (profile.home_store) {
      ACCRUE_ASSIGN_OR_RETURN(auto exists, store_exists(c, *profile.home_store));
      if (!exists) {
        FieldErrors e;
        e.add("/home_store_id", "no such store");
        return refuse(refused, invalid(call, e));
      }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      ACCRUE_ASSIGN_OR_RETURN(auto taken, identifier_taken(c, ids[i].hash));
      if (taken) {
        return refuse(refused, problem(call, Problem::kIdentifierTaken,
                                       "another member already has this " +
                                           std::string(to_string(ids[i].kind)),
                                       {{"field", "/identifiers/" + std::to_string(i)}}));
      }
    }
    ACCRUE_TRY(insert_customer(c, id, tier, profile, ids));
    ACCRUE_TRY(feed_customer_changed(c, id));
    json::object event{{"customer_id", id},
                       {"home_store_id", profile.home_store ? json::value(*profile.home_store)
                                                            : json::value(nullptr)},
                       {"source", "hq"}};
    ACCRUE_TRY(queue_webhook(c, "member.enrolled", id, json::serialize(event)));
    json::array kinds;
    for (const auto& x : ids) kinds.push_back(json::value(to_string(x.kind)));
    return audit_change(c, call, "customer.create", "customer:" + id,
                        {{"identifiers", kinds}, {"fields", json::value_from(profile.fields)}});
  };
  // A refused bonus or claim (not expected: the member was written just before) rolls her back.
  auto bonus_booked = [](pg::Connection&, const sync::v1::EventBatchResult& r) -> Result<void> {
    for (const auto& e : r.results()) {
      if (e.status() == sync::v1::EVENT_STATUS_REJECTED) {
        return fail(ErrorCode::kInternal, "head office's enrolment was refused: " + e.message());
      }
    }
    return {};
  };
  auto done = d_.ingest.apply_head_office(bonus.batch(), bonus_booked, write);
  if (refused) return std::move(*refused);
  if (!done) {
    if (done.error().code == ErrorCode::kAlreadyExists) {
      return problem(call, Problem::kIdentifierTaken,
                     "another member took one of these identifiers meanwhile");
    }
    return problem(call, done.error());
  }
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto res = document(call, **lease, id, bhttp::status::created);
  if (res.result() == bhttp::status::created)
    res.set(bhttp::field::location, "/v1/customers/" + id);
  return res;
}

// --- add an identifier ---------------------------------------------------------------------

// A card, phone, e-mail or QR code joins an open member; the provisional points a till booked
// against it become hers in the same transaction. 201 with the identifier as shown to head office
// and the points claimed; 409 when another member has it.
http::Response CustomersApi::add_identifier(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  std::shared_ptr<const PublishedProgram> program;
  LockedCustomer row;
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto latest = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!latest) return problem(call, latest.error());
    program = *latest;
    auto found = lock_customer(**lease, id);  // no transaction: only read, for a phone's country
    if (!found) return problem(call, found.error());
    row = *found;
  }
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto x = read_identifier(in, errors, "", row.country, hasher_);
  in.finish();
  if (!x || !errors.empty()) return invalid(call, errors);

  HeadOfficeBatch claim(*program, d_.clock.now_ms());
  claim.claim(new_id(), id, raw_hashes({*x}), call.who.subject);
  std::optional<http::Response> refused;
  int64_t claimed = 0;
  auto write = [&](pg::Connection& c) -> Result<void> {
    ACCRUE_TRY(lock_open(c, call, id, refused));
    ACCRUE_ASSIGN_OR_RETURN(auto taken, identifier_taken(c, x->hash));
    if (taken) {
      return refuse(refused, problem(call, Problem::kIdentifierTaken,
                                     "a member already has this " + std::string(to_string(x->kind)),
                                     {{"field", "/value"}}));
    }
    ACCRUE_TRY(insert_identifier(c, id, *x));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.add_identifier", "customer:" + id,
                        {{"kind", to_string(x->kind)}, {"masked", x->masked}});
  };
  auto counted = [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
    if (r.results(0).status() == sync::v1::EVENT_STATUS_REJECTED) {
      return fail(ErrorCode::kInternal, "the claim was refused: " + r.results(0).message());
    }
    ACCRUE_ASSIGN_OR_RETURN(claimed, claimed_points(c, id, x->hash));
    return {};
  };
  auto done = d_.ingest.apply_head_office(claim.batch(), counted, write);
  if (refused) return std::move(*refused);
  if (!done) {
    if (done.error().code == ErrorCode::kAlreadyExists) {
      return problem(call, Problem::kIdentifierTaken,
                     "another member took this identifier meanwhile");
    }
    return problem(call, done.error());
  }
  after_change(id);
  json::object out{{"customer_id", id},
                   {"kind", to_string(x->kind)},
                   {"masked", x->masked},
                   {"claimed_points", claimed},
                   {"identifier_id", to_hex(std::span<const uint8_t>(x->hash.data(), 8))}};
  return http::json(call.req, json::serialize(out), bhttp::status::created);
}

// A lost card, a phone number she gave up: unlinked here, and at the stores with her next feed
// row (the snapshot says all of her identifiers follow it). Points already earned stay hers.
http::Response CustomersApi::remove_identifier(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  const std::string& ref = call.ctx.params.at(1);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  const bool well_formed = ref.size() == 16 && std::ranges::all_of(ref, [](char ch) {
                             return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                           });
  auto none = [&] {
    return problem(call, Problem::kNotFound, "customer " + id + " has no identifier " + ref);
  };
  if (!well_formed) return none();
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_TRY(lock_open(c, call, id, refused));
    ACCRUE_ASSIGN_OR_RETURN(
        auto gone, c.query("DELETE FROM identifier WHERE customer_id = $1 AND substring(hash FROM "
                           "1 FOR 8) = decode($2, 'hex') RETURNING kind, masked",
                           {pg::Param::text(id), pg::Param::text(ref)}));
    if (gone.rows() == 0) return refuse(refused, none());
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.remove_identifier", "customer:" + id,
                        {{"kind", std::string(gone.text(0, 0))},
                         {"masked", std::string(gone.text(0, 1))},
                         {"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  after_change(id);
  return no_content(call);
}

// --- update ----------------------------------------------------------------------------------

namespace {

// What a member may not change herself: her country and currency (they decide her earning), and
// a birthday once one is recorded (it decides a bonus); customer care does those.
Result<void> member_may_change(pg::Connection& c, const std::string& id, const ProfileInput& p,
                               FieldErrors& errors) {
  for (const auto& f : p.fields) {
    if (f == "country" || f == "currency") {
      errors.add("/" + f, "customer care changes this; a member cannot");
    } else if (f == "birthday") {
      ACCRUE_ASSIGN_OR_RETURN(
          auto r, c.query("SELECT 1 FROM customer_pii WHERE customer_id = $1 AND birthday_month "
                          "IS NOT NULL",
                          {pg::Param::text(id)}));
      if (r.rows() > 0) errors.add("/birthday", "is recorded already; customer care corrects it");
    }
  }
  return {};
}

}  // namespace

http::Response CustomersApi::patch(Call& call, By by) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto row, lock_open(c, call, id, refused));
    if (auto old = stale(call, etag(row.revision), "customer")) return refuse(refused, *old);
    FieldErrors errors;
    ObjectReader in(*body, errors);
    ProfileInput p = read_profile(in, row.country);
    in.finish();
    if (p.fields.empty() && errors.empty()) errors.add("", "no field to change");
    if (by == By::kMember) ACCRUE_TRY(member_may_change(c, id, p, errors));
    if (p.home_store && errors.empty()) {
      ACCRUE_ASSIGN_OR_RETURN(auto exists, store_exists(c, *p.home_store));
      if (!exists) errors.add("/home_store_id", "no such store");
    }
    if (!errors.empty()) return refuse(refused, invalid(call, errors));
    ACCRUE_TRY(update_profile(c, id, p));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.update", "customer:" + id,
                        {{"fields", json::value_from(p.fields)}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  after_change(id);
  return document(call, c, id);
}

// --- block / unblock / tier floor -------------------------------------------------------------

http::Response CustomersApi::block(Call& call, bool block) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_TRY(lock_open(c, call, id, refused));
    ACCRUE_TRY(
        set_status(c, id, block ? CustomerStatus::kBlocked : CustomerStatus::kActive, *reason));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, block ? "customer.block" : "customer.unblock", "customer:" + id,
                        {{"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  after_change(id);
  auto doc = customer_details(c, id);
  if (!doc) return problem(call, doc.error());
  // The answer holds no personal data beyond what the caller sent: status fields only.
  json::object out{{"customer_id", id},
                   {"status", doc->first["status"]},
                   {"status_reason", *reason},
                   {"revision", doc->second}};
  auto res = http::json(call.req, json::serialize(out));
  res.set(bhttp::field::etag, etag(doc->second));
  return res;
}

http::Response CustomersApi::tier_floor(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto tier = in.string("tier_id", {.required = true, .min = 1, .max = 64, .nullable = true});
  const bool clear = in.is_null("tier_id");
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  auto program = d_.programs.latest(c, d_.clock.now_ms());
  if (!program) return problem(call, program.error());
  const auto& tiers = (*program)->program;
  std::optional<size_t> rank;
  if (tier) {
    rank = tiers.tier_index(*tier);
    if (!rank) {
      std::string names;
      for (const auto& t : tiers.tiers.ladder) names += (names.empty() ? "" : ", ") + t.tier_id;
      errors.add("/tier_id", "no such tier in the programme (" + names + ")");
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  std::optional<http::Response> refused;
  std::string tier_now;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto row, lock_open(c, call, id, refused));
    tier_now = row.tier_id;
    // The floor lifts the member at once when it is above their tier; it never lowers them.
    auto current = tiers.tier_index(tier_now);
    if (rank && (!current || *rank > *current)) {
      ACCRUE_TRY(record_tier_moves(c, {{id, tier_now, *tier, TierReason::kManualFloor}},
                                   call.who.subject));
      tier_now = *tier;
    }
    ACCRUE_TRY(set_tier_floor(c, id, clear ? std::nullopt : tier, tier_now));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.tier_floor", "customer:" + id,
                        {{"tier_floor_id", clear ? json::value(nullptr) : json::value(*tier)},
                         {"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  after_change(id);
  json::object out{{"customer_id", id},
                   {"tier_id", tier_now},
                   {"tier_floor_id", clear ? json::value(nullptr) : json::value(*tier)}};
  return http::json(call.req, json::serialize(out));
}

// Every change of the member's tier, newest first (at most 500: a member moves a few times a
// year).
http::Response CustomersApi::tier_history(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!CustomerReads::valid_customer_id(id)) {
    return problem(call, Error{ErrorCode::kInvalidArgument,
                               "customer id: 1 to 64 printable "
                               "characters"});
  }
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      "SELECT h.from_tier, h.to_tier, h.reason, h.actor, (extract(epoch FROM h.at)*1000)::bigint "
      "FROM customer c LEFT JOIN LATERAL (SELECT * FROM tier_history t WHERE t.customer_id = "
      "c.customer_id ORDER BY t.change_id DESC LIMIT 500) h ON true WHERE c.customer_id = $1",
      {pg::Param::text(id)});
  if (!r) return problem(call, r.error());
  if (r->rows() == 0) return problem(call, Error{ErrorCode::kNotFound, "no customer " + id});
  json::array items;
  for (int i = 0; i < r->rows(); ++i) {
    if (r->is_null(i, 1)) continue;  // no change yet
    items.push_back(json::object{{"from", r->text(i, 0)},
                                 {"to", r->text(i, 1)},
                                 {"reason", r->text(i, 2)},
                                 {"actor", r->text(i, 3)},
                                 {"at", format_utc_iso8601(r->int64(i, 4))}});
  }
  return http::json(
      call.req, json::serialize(json::object{{"customer_id", id}, {"items", std::move(items)}}));
}

// --- shared by the handlers above -------------------------------------------------------------

Result<LockedCustomer> CustomersApi::lock_open(pg::Connection& c, Call& call, const std::string& id,
                                               std::optional<http::Response>& refused) {
  auto row = lock_customer(c, id);
  if (!row) return std::unexpected(row.error());
  if (is_closed(row->status)) {
    return std::unexpected(
        refuse(refused, problem(call, Problem::kCustomerErased, kClosed)).error());
  }
  return row;
}

http::Response CustomersApi::document(Call& call, pg::Connection& c, const std::string& id,
                                      bhttp::status status) {
  auto doc = customer_details(c, id);
  if (!doc) return problem(call, doc.error());
  auto res = http::json(call.req, json::serialize(doc->first), status);
  res.set(bhttp::field::etag, etag(doc->second));
  return res;
}

}  // namespace accrue::cloud::hq
