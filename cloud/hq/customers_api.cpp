// /v1/customers: the hot reads, search, create, details (personal data), block, tier floor,
// points adjustments.
#include <array>
#include <boost/json.hpp>
#include <charconv>

#include "cloud/core/customer_status.h"
#include "cloud/hq/api.h"
#include "cloud/sync/feed.h"
#include "common/base64url.h"
#include "common/civil_time.h"
#include "common/sys/log.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using auth::Role;

namespace {

constexpr int kMaxIdentifiers = 10;

std::string masked(IdentifierKind kind, const std::string& v) {
  auto tail = [&](size_t n) { return v.size() > n ? v.substr(v.size() - n) : v; };
  switch (kind) {
    case IdentifierKind::kCard:
      return "\u2022\u2022\u2022\u2022 " + tail(4);
    case IdentifierKind::kPhone:
      return v.substr(0, std::min<size_t>(3, v.size())) + "\u2022\u2022\u2022" + tail(2);
    case IdentifierKind::kEmail: {
      auto at = v.find('@');
      return v.substr(0, 1) + "\u2022\u2022\u2022" + (at == std::string::npos ? "" : v.substr(at));
    }
    case IdentifierKind::kQrToken:
      return "\u2022\u2022\u2022" + tail(4);
  }
  return "";
}

bool upper_letters(const std::string& s, size_t n) {
  return s.size() == n && std::ranges::all_of(s, [](char c) { return c >= 'A' && c <= 'Z'; });
}

// A column and its new value (nullopt: NULL).
using Column = std::pair<std::string, std::optional<std::string>>;

struct ProfileInput {
  std::vector<Column> pii;       // customer_pii
  std::vector<Column> customer;  // customer
  std::vector<std::string> fields;
  std::optional<std::string> home_store;  // to check it exists
};

// The profile fields of create and update (update: every field optional, null clears a
// nullable one). Identifiers, status, tier and points are other operations.
ProfileInput read_profile(ObjectReader& in, const std::optional<std::string>& default_country) {
  ProfileInput p;
  auto note = [&](std::string_view f) { p.fields.emplace_back(f); };
  auto null_or = [&](std::string_view key, std::vector<Column>& into, const char* column,
                     const std::optional<std::string>& value) {
    if (in.is_null(key)) {
      into.emplace_back(column, std::nullopt);
      note(key);
    } else if (value) {
      into.emplace_back(column, *value);
      note(key);
    }
  };
  if (auto v = in.string("display_name", {.max = 200})) {
    p.pii.emplace_back("display_name", *v);
    note("display_name");
  }
  std::optional<std::string> email;
  if (auto v = in.string("email", {.min = 3, .max = 254, .nullable = true})) {
    auto n = normalize_email(*v);
    if (n) {
      email = *n;
    } else {
      in.errors().add("/email", "is not an e-mail address");
    }
  }
  null_or("email", p.pii, "email", email);
  std::optional<std::string> country;
  if (auto v = in.string("country", {.min = 2, .max = 2})) {
    if (upper_letters(*v, 2)) {
      country = *v;
      p.customer.emplace_back("country", *v);
      note("country");
    } else {
      in.errors().add("/country", "must be an ISO 3166-1 alpha-2 code, e.g. DE");
    }
  }
  std::optional<std::string> phone;
  if (auto v = in.string("phone", {.min = 3, .max = 32, .nullable = true})) {
    auto n = normalize_phone(*v, country.value_or(default_country.value_or("")));
    if (n) {
      phone = *n;
    } else {
      in.errors().add("/phone", "is not a phone number (use +<country code><number>)");
    }
  }
  null_or("phone", p.pii, "phone", phone);
  if (in.is_null("birthday")) {
    (void)in.object("birthday");
    p.pii.emplace_back("birthday_month", std::nullopt);
    p.pii.emplace_back("birthday_day", std::nullopt);
    note("birthday");
  } else if (const auto* b = in.object("birthday")) {
    ObjectReader bd(*b, in.errors(), "/birthday");
    auto m = bd.integer("month", {.required = true, .min = 1, .max = 12});
    auto d = bd.integer("day", {.required = true, .min = 1, .max = 31});
    bd.finish();
    if (m && d && *d > days_in_month(2000, static_cast<int>(*m))) {
      in.errors().add("/birthday/day", "is not a day of that month");
    } else if (m && d) {
      p.pii.emplace_back("birthday_month", std::to_string(*m));
      p.pii.emplace_back("birthday_day", std::to_string(*d));
      note("birthday");
    }
  }
  if (const auto* c = in.object("consents")) {
    ObjectReader cr(*c, in.errors(), "/consents");
    for (const char* k : {"terms", "marketing_email", "marketing_sms"}) {
      if (auto v = cr.boolean(k)) {
        p.pii.emplace_back(std::string("consent_") + k, *v ? "true" : "false");
        note(std::string("consents.") + k);
      }
    }
    cr.finish();
  }
  std::optional<std::string> home;
  if (auto v = in.string("home_store_id", {.min = 1, .max = 64, .nullable = true})) {
    home = *v;
    p.home_store = *v;
  }
  null_or("home_store_id", p.customer, "home_store_id", home);
  if (auto v = in.string("currency", {.min = 3, .max = 3})) {
    if (upper_letters(*v, 3)) {
      p.customer.emplace_back("currency", *v);
      note("currency");
    } else {
      in.errors().add("/currency", "must be an ISO 4217 code, e.g. EUR");
    }
  }
  return p;
}

std::string etag(int64_t revision) { return "\"" + std::to_string(revision) + "\""; }

// An identifier given with a new member: normalised, masked for display and hashed.
struct NewIdentifier {
  IdentifierKind kind;
  std::string masked;
  IdentifierHash hash;
};

// The create body's identifiers (phones read with the profile's country); problems go to
// `errors`, each at its field.
std::vector<NewIdentifier> read_new_identifiers(ObjectReader& in, FieldErrors& errors,
                                                const ProfileInput& profile,
                                                const std::optional<IdentifierHasher>& hasher) {
  std::vector<NewIdentifier> ids;
  if (const auto* list = in.array("identifiers", kMaxIdentifiers)) {
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string at = "/identifiers/" + std::to_string(i);
      if (!(*list)[i].is_object()) {
        errors.add(at, "must be an object {kind, value}");
        continue;
      }
      ObjectReader ir((*list)[i].as_object(), errors, at);
      auto kind = ir.one_of("kind", {"card", "phone", "email", "qr"}, true);
      auto value = ir.string("value", {.required = true, .min = 1, .max = 512});
      ir.finish();
      if (!kind || !value) continue;
      if (!hasher) {
        errors.add(at,
                   "this server has no programme key (auth.identifier_key_file): "
                   "identifiers cannot be given here");
        continue;
      }
      auto k = identifier_kind_from_string(*kind);
      std::string country;
      for (const auto& [col, v] : profile.customer) {
        if (col == "country" && v) country = *v;
      }
      auto n = normalize_identifier(*k, *value, country);
      if (!n) {
        errors.add(at + "/value", n.error().message);
        continue;
      }
      NewIdentifier id{n->kind, masked(n->kind, n->value), hasher->hash(*n)};
      if (std::ranges::any_of(ids, [&](const NewIdentifier& o) { return o.hash == id.hash; })) {
        errors.add(at, "the same identifier twice");
        continue;
      }
      ids.push_back(std::move(id));
    }
  }
  return ids;
}

// The head-office event that books a new member's enrolment bonus (ingestion reads the amount
// from the programme).
sync::v1::EventBatch enrolment_bonus_batch(const std::string& customer_id,
                                           const PublishedProgram& program, TimestampMs now,
                                           const std::string& actor, const std::string& event_id) {
  sync::v1::EventBatch batch;
  batch.set_store_id(std::string(Ingest::kHeadOfficeStore));
  batch.set_agent_id(std::string(Ingest::kHeadOfficeAgent));
  auto* ev = batch.add_events();
  ev->set_event_id(event_id);
  ev->set_store_id(batch.store_id());
  ev->set_agent_id(batch.agent_id());
  ev->set_occurred_at_ms(now);
  ev->set_program_id(program.program.program_id);
  ev->set_program_version(program.program.version);
  ev->set_schema_version(1);
  auto* bonus = ev->mutable_adjustment();
  bonus->set_customer_id(customer_id);
  bonus->set_reason("enrolment bonus");
  bonus->set_actor(actor);
  bonus->set_enrolment_bonus(true);
  return batch;
}

// What the search text `q` looks like decides where it is looked for: an e-mail address, a phone
// or card number (by its keyed hash, as the stores know it, and the contact phone), or a name
// (substring); a customer id always. Answers which of these it was, for the audit trail.
std::string read_search_text(const std::string& text, const std::optional<IdentifierHasher>& hasher,
                             search::SearchQuery& q, FieldErrors& errors) {
  std::string kind;
  auto len = utf8_length(text);
  if (!len || *len < 2 || *len > 100) {
    errors.add("/q", "must be 2 to 100 characters");
  } else {
    auto hash_of = [&](IdentifierKind k, const std::string& v) {
      if (!hasher) return;
      auto h = hasher->hash({k, v});
      q.identifier_hashes.push_back(to_hex(std::span<const uint8_t>(h.data(), h.size())));
    };
    const bool digits_only = std::ranges::all_of(text, [](char ch) {
      return (ch >= '0' && ch <= '9') || ch == '+' || ch == ' ' || ch == '-';
    });
    if (text.find('@') != std::string::npos) {
      kind = "email";
      auto e = normalize_email(text);
      if (e) hash_of(IdentifierKind::kEmail, *e);
      q.email_contains = e ? *e : text;
    } else if (digits_only) {
      kind = "number";
      if (auto card = normalize_card(text)) hash_of(IdentifierKind::kCard, *card);
      if (auto phone = normalize_phone(text, "")) {
        hash_of(IdentifierKind::kPhone, *phone);
        q.phone = *phone;
      }
    } else {
      kind = "name";
      q.name_contains = text;
    }
    q.customer_id = text;
  }
  return kind;
}

// One search hit as the API shows it; names and contact data only for `personal` roles.
json::object search_hit(const search::CustomerDoc& d, bool personal) {
  json::object o;
  o["customer_id"] = d.customer_id;
  o["status"] = status_name(d.status);
  o["tier_id"] = d.tier_id;
  o["home_store_id"] =
      d.home_store_id.empty() ? json::value(nullptr) : json::value(d.home_store_id);
  o["enrolled_at"] = format_utc_iso8601(d.enrolled_at_ms);
  o["points"] = d.points;
  o["last_purchase_at"] = d.last_purchase_ms > 0
                              ? json::value(format_utc_iso8601(d.last_purchase_ms))
                              : json::value(nullptr);
  if (personal) {
    o["display_name"] = d.display_name;
    o["email"] = d.email.empty() ? json::value(nullptr) : json::value(d.email);
    o["phone"] = d.phone.empty() ? json::value(nullptr) : json::value(d.phone);
  }
  o["identifiers"] = d.identifiers;
  return o;
}

}  // namespace

// --- the three hot reads -------------------------------------------------------------------

http::Response HqApi::customer_read(Call& call, int what) {
  const auto& req = call.req;
  const std::string& id = call.ctx.params.at(0);
  // Status, profile and the first page of transactions are cached (versioned by the customer's
  // generation, bumped by every applied event); later pages are read through.
  std::string kind = what == 0 ? "status" : "profile";
  int limit = kDefaultPageSize;
  std::string cursor;
  if (what == 2) {
    if (auto l = http::query_param(req.target(), "limit")) {
      auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
      if (ec != std::errc() || p != l->data() + l->size()) limit = -1;
    }
    cursor = http::query_param(req.target(), "cursor").value_or("");
    kind = "tx" + std::to_string(limit);
  }
  const bool cacheable = cursor.empty() && (what != 2 || (limit >= 1 && limit <= kMaxPageSize));
  cache::CustomerCache::Lookup seen;
  if (cacheable) {
    seen = d_.cache.get(kind, id);
    if (seen.hit) return http::json(req, std::move(*seen.hit));
  }
  Result<std::string> body;
  if (what == 2) {
    body = d_.reads.transactions(id, limit, cursor);
  } else if (auto doc = what == 0 ? d_.reads.status(id) : d_.reads.profile(id)) {
    body = std::move(doc->json);
  } else {
    body = std::unexpected(doc.error());
  }
  if (!body) return http::problem(req, call.ctx, body.error());
  if (cacheable) d_.cache.fill(kind, id, seen, *body);
  return http::json(req, std::move(*body));
}

// --- details (personal data) ----------------------------------------------------------------

Result<std::pair<json::object, int64_t>> HqApi::details_of(pg::Connection& c,
                                                           const std::string& id) {
  auto r = c.query(
      "SELECT c.customer_id, c.status, c.tier_id, coalesce(c.tier_floor_id, ''), "
      "coalesce(c.home_store_id, ''), c.country, c.currency, c.revision, "
      "(extract(epoch FROM c.enrolled_at)*1000)::bigint, coalesce(c.status_reason, ''), "
      "coalesce(p.display_name, ''), p.email, p.phone, p.birthday_month, p.birthday_day, "
      "coalesce(p.consent_terms, false), coalesce(p.consent_marketing_email, false), "
      "coalesce(p.consent_marketing_sms, false), (SELECT coalesce(json_agg(json_build_object("
      "'kind', i.kind, 'masked', i.masked) ORDER BY i.created_at), '[]') FROM identifier i "
      "WHERE i.customer_id = c.customer_id) FROM customer c LEFT JOIN customer_pii p "
      "USING (customer_id) WHERE c.customer_id = $1",
      {pg::Param::text(id)});
  if (!r) return std::unexpected(r.error());
  if (r->rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
  json::object o;
  o["customer_id"] = std::string(r->text(0, 0));
  o["status"] = status_name(r->int64(0, 1));
  if (!r->text(0, 9).empty()) o["status_reason"] = std::string(r->text(0, 9));
  o["tier_id"] = std::string(r->text(0, 2));
  o["tier_floor_id"] = r->text(0, 3).empty() ? json::value(nullptr) : json::value(r->text(0, 3));
  o["home_store_id"] = r->text(0, 4).empty() ? json::value(nullptr) : json::value(r->text(0, 4));
  o["country"] = std::string(r->text(0, 5));
  o["currency"] = std::string(r->text(0, 6));
  o["enrolled_at"] = format_utc_iso8601(r->int64(0, 8));
  o["display_name"] = std::string(r->text(0, 10));
  o["email"] = r->is_null(0, 11) ? json::value(nullptr) : json::value(r->text(0, 11));
  o["phone"] = r->is_null(0, 12) ? json::value(nullptr) : json::value(r->text(0, 12));
  if (r->is_null(0, 13)) {
    o["birthday"] = nullptr;
  } else {
    o["birthday"] = json::object{{"month", r->int64(0, 13)}, {"day", r->int64(0, 14)}};
  }
  o["consents"] = json::object{{"terms", r->boolean(0, 15)},
                               {"marketing_email", r->boolean(0, 16)},
                               {"marketing_sms", r->boolean(0, 17)}};
  o["identifiers"] = json::parse(r->text(0, 18));
  const int64_t revision = r->int64(0, 7);
  o["revision"] = revision;
  return std::make_pair(std::move(o), revision);
}

http::Response HqApi::customer_details(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  auto lease = d_.pool.acquire();
  if (!lease) return http::problem(call.req, call.ctx, lease.error());
  auto doc = details_of(**lease, id);
  if (!doc) return http::problem(call.req, call.ctx, doc.error());
  if (!audit_->enqueue(
          {call.who.subject, "customer.read_details", "customer:" + id, call.ctx.request_id, {}})) {
    return problem(call, bhttp::status::service_unavailable, "audit-unavailable",
                   "personal data cannot be read while its audit trail cannot be written");
  }
  auto res = http::json(call.req, json::serialize(doc->first));
  res.set(bhttp::field::etag, etag(doc->second));
  return res;
}

// --- create ----------------------------------------------------------------------------------

http::Response HqApi::customer_create(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  ProfileInput profile = read_profile(in, std::nullopt);
  const std::vector<NewIdentifier> ids = read_new_identifiers(in, errors, profile, hasher_);
  in.finish();
  if (!errors.empty()) return invalid(call, errors);

  const std::string id = new_customer_id();
  std::shared_ptr<const PublishedProgram> program;
  {
    auto lease = d_.pool.acquire();  // released before ingestion takes a connection of its own
    if (!lease) return http::problem(call.req, call.ctx, lease.error());
    auto latest = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!latest) return http::problem(call.req, call.ctx, latest.error());
    program = *latest;
  }
  const auto& ladder = program->program.tiers.ladder;
  const std::string tier = ladder.empty() ? "" : ladder.front().tier_id;

  // The member's rows are written in the ingestion transaction of her enrolment bonus, before
  // the bonus is read: she exists with her points or not at all, and the bonus is booked as a
  // store's enrolment books it (ledger kind, lot, tier qualification).
  const sync::v1::EventBatch batch =
      enrolment_bonus_batch(id, *program, d_.clock.now_ms(), call.who.subject, new_customer_id());

  std::optional<http::Response> refused;
  auto write = [&](pg::Connection& c) -> Result<void> {
    if (profile.home_store) {
      auto s = c.query("SELECT 1 FROM store WHERE store_id = $1",
                       {pg::Param::text(*profile.home_store)});
      if (!s) return std::unexpected(s.error());
      if (s->rows() == 0) {
        FieldErrors e;
        e.add("/home_store_id", "no such store");
        refused = invalid(call, e);
        return fail(ErrorCode::kFailedPrecondition, "refused");
      }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      std::string_view h(reinterpret_cast<const char*>(ids[i].hash.data()), ids[i].hash.size());
      auto taken = c.query("SELECT 1 FROM identifier WHERE hash = $1", {pg::Param::bytes(h)});
      if (!taken) return std::unexpected(taken.error());
      if (taken->rows() > 0) {
        json::object extra;
        extra["field"] = "/identifiers/" + std::to_string(i);
        refused =
            http::problem(call.req, call.ctx, bhttp::status::conflict, "identifier-taken",
                          "another member already has this " + std::string(to_string(ids[i].kind)),
                          std::move(extra));
        return fail(ErrorCode::kFailedPrecondition, "refused");
      }
    }
    std::string cols = "customer_id, tier_id", vals = "$1, $2";
    std::vector<pg::Param> params{pg::Param::text(id), pg::Param::text(tier)};
    std::vector<std::string> keep;  // owns the values the params point to
    keep.reserve(32);
    auto add_cols = [&](const std::vector<Column>& columns, std::string& cl, std::string& vl,
                        std::vector<pg::Param>& ps) {
      for (const auto& [col, v] : columns) {
        cl += ", " + col;
        vl += ", $" + std::to_string(ps.size() + 1);
        if (v) {
          keep.push_back(*v);
          ps.push_back(pg::Param::text(keep.back()));
        } else {
          ps.push_back(pg::Param::null());
        }
      }
    };
    add_cols(profile.customer, cols, vals, params);
    ACCRUE_TRY(c.query(("INSERT INTO customer (" + cols + ") VALUES (" + vals + ")").c_str(),
                       std::span<const pg::Param>(params)));
    ACCRUE_TRY(c.query("INSERT INTO balance (customer_id) VALUES ($1)", {pg::Param::text(id)}));
    std::string pcols = "customer_id", pvals = "$1";
    std::vector<pg::Param> pparams{pg::Param::text(id)};
    add_cols(profile.pii, pcols, pvals, pparams);
    ACCRUE_TRY(c.query(("INSERT INTO customer_pii (" + pcols + ") VALUES (" + pvals + ")").c_str(),
                       std::span<const pg::Param>(pparams)));
    for (const auto& x : ids) {
      std::string_view h(reinterpret_cast<const char*>(x.hash.data()), x.hash.size());
      ACCRUE_TRY(c.query(
          "INSERT INTO identifier (hash, kind, customer_id, masked) VALUES ($1, $2, $3, $4)",
          {pg::Param::bytes(h), pg::Param::text(to_string(x.kind)), pg::Param::text(id),
           pg::Param::text(x.masked)}));
    }
    ACCRUE_TRY(feed_customer_changed(c, id));
    ACCRUE_TRY(
        queue_webhook(c, "member.enrolled", id,
                      json::serialize(json::object{
                          {"customer_id", id},
                          {"home_store_id", profile.home_store ? json::value(*profile.home_store)
                                                               : json::value(nullptr)},
                          {"source", "hq"}})));
    json::array kinds;
    for (const auto& x : ids) kinds.push_back(json::value(to_string(x.kind)));
    return audit_change(c, call, "customer.create", "customer:" + id,
                        {{"identifiers", kinds}, {"fields", json::value_from(profile.fields)}});
  };
  // A refused bonus (not expected: the member was written just before) rolls her back too.
  auto bonus_booked = [](pg::Connection&, const sync::v1::EventBatchResult& r) -> Result<void> {
    if (r.results(0).status() != sync::v1::EVENT_STATUS_REJECTED) return {};
    return fail(ErrorCode::kInternal, "the enrolment bonus was refused: " + r.results(0).message());
  };
  auto done = d_.ingest.apply_head_office(batch, bonus_booked, write);
  if (refused) return std::move(*refused);
  if (!done) {
    if (done.error().code == ErrorCode::kAlreadyExists) {
      return problem(call, bhttp::status::conflict, "identifier-taken",
                     "another member took one of these identifiers meanwhile");
    }
    return http::problem(call.req, call.ctx, done.error());
  }
  auto lease = d_.pool.acquire();
  if (!lease) return http::problem(call.req, call.ctx, lease.error());
  auto doc = details_of(**lease, id);
  if (!doc) return http::problem(call.req, call.ctx, doc.error());
  auto res = http::json(call.req, json::serialize(doc->first), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/customers/" + id);
  res.set(bhttp::field::etag, etag(doc->second));
  return res;
}

// --- update ----------------------------------------------------------------------------------

http::Response HqApi::customer_patch(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return http::problem(call.req, call.ctx, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    auto row = c.query(
        "SELECT revision, status, country FROM customer WHERE customer_id = $1 "
        "FOR UPDATE",
        {pg::Param::text(id)});
    if (!row) return std::unexpected(row.error());
    if (row->rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
    if (row->int64(0, 1) >= 3) {
      refused =
          problem(call, bhttp::status::conflict, "customer-erased",
                  "this customer was erased or merged into another; nothing about them can change");
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    const int64_t revision = row->int64(0, 0);
    if ((refused = stale(call, etag(revision), "customer"))) {
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    FieldErrors errors;
    ObjectReader in(*body, errors);
    ProfileInput p = read_profile(in, std::string(row->text(0, 2)));
    in.finish();
    if (p.fields.empty() && errors.empty()) errors.add("", "no field to change");
    if (!errors.empty()) {
      refused = invalid(call, errors);
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    if (p.home_store) {
      auto s = c.query("SELECT 1 FROM store WHERE store_id = $1", {pg::Param::text(*p.home_store)});
      if (!s) return std::unexpected(s.error());
      if (s->rows() == 0) {
        FieldErrors e;
        e.add("/home_store_id", "no such store");
        refused = invalid(call, e);
        return fail(ErrorCode::kFailedPrecondition, "refused");
      }
    }
    auto update = [&](const char* table, const std::vector<Column>& cols) -> Result<void> {
      std::string set;
      std::vector<pg::Param> ps{pg::Param::text(id)};
      for (const auto& [col, v] : cols) {
        set += (set.empty() ? "" : ", ") + col + " = $" + std::to_string(ps.size() + 1);
        ps.push_back(v ? pg::Param::text(*v) : pg::Param::null());
      }
      if (std::string_view(table) == "customer") {
        set +=
            (set.empty() ? "" : ", ") + std::string("revision = revision + 1, updated_at = now()");
      }
      if (set.empty()) return {};
      auto r = c.query(
          ("UPDATE " + std::string(table) + " SET " + set + " WHERE customer_id = $1").c_str(),
          std::span<const pg::Param>(ps));
      if (!r) return std::unexpected(r.error());
      return {};
    };
    ACCRUE_TRY(c.query("INSERT INTO customer_pii (customer_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       {pg::Param::text(id)}));
    ACCRUE_TRY(update("customer_pii", p.pii));
    ACCRUE_TRY(update("customer", p.customer));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.update", "customer:" + id,
                        {{"fields", json::value_from(p.fields)}});
  });
  if (refused) return std::move(*refused);
  if (!done) return http::problem(call.req, call.ctx, done.error());
  after_change(id);
  auto doc = details_of(c, id);
  if (!doc) return http::problem(call.req, call.ctx, doc.error());
  auto res = http::json(call.req, json::serialize(doc->first));
  res.set(bhttp::field::etag, etag(doc->second));
  return res;
}

// --- block / unblock / tier floor -------------------------------------------------------------

http::Response HqApi::customer_block(Call& call, bool block) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return http::problem(call.req, call.ctx, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    auto row = c.query("SELECT status FROM customer WHERE customer_id = $1 FOR UPDATE",
                       {pg::Param::text(id)});
    if (!row) return std::unexpected(row.error());
    if (row->rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
    if (is_closed(row->int64(0, 0))) {
      refused =
          problem(call, bhttp::status::conflict, "customer-erased",
                  "this customer was erased or merged into another; nothing about them can change");
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    ACCRUE_TRY(c.query(
        "UPDATE customer SET status = $2, status_reason = $3, revision = revision "
        "+ 1, updated_at = now() WHERE customer_id = $1",
        {pg::Param::text(id),
         pg::Param::text(status_sql(block ? CustomerStatus::kBlocked : CustomerStatus::kActive)),
         pg::Param::text(*reason)}));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, block ? "customer.block" : "customer.unblock", "customer:" + id,
                        {{"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return http::problem(call.req, call.ctx, done.error());
  after_change(id);
  auto doc = details_of(c, id);
  if (!doc) return http::problem(call.req, call.ctx, doc.error());
  // The answer holds no personal data beyond what the caller sent: status fields only.
  json::object out{{"customer_id", id},
                   {"status", doc->first["status"]},
                   {"status_reason", *reason},
                   {"revision", doc->second}};
  auto res = http::json(call.req, json::serialize(out));
  res.set(bhttp::field::etag, etag(doc->second));
  return res;
}

http::Response HqApi::customer_tier_floor(Call& call) {
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
  if (!lease) return http::problem(call.req, call.ctx, lease.error());
  pg::Connection& c = **lease;
  auto program = d_.programs.latest(c, d_.clock.now_ms());
  if (!program) return http::problem(call.req, call.ctx, program.error());
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
    auto row = c.query("SELECT status, tier_id FROM customer WHERE customer_id = $1 FOR UPDATE",
                       {pg::Param::text(id)});
    if (!row) return std::unexpected(row.error());
    if (row->rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
    if (row->int64(0, 0) >= 3) {
      refused =
          problem(call, bhttp::status::conflict, "customer-erased",
                  "this customer was erased or merged into another; nothing about them can change");
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    tier_now = std::string(row->text(0, 1));
    // The floor lifts the member at once when it is above their tier; it never lowers them.
    auto current = tiers.tier_index(tier_now);
    if (rank && (!current || *rank > *current)) {
      ACCRUE_TRY(queue_webhook(
          c, "tier.changed", id,
          json::serialize(json::object{
              {"customer_id", id}, {"from", tier_now}, {"to", *tier}, {"cause", "manual floor"}})));
      tier_now = *tier;
    }
    ACCRUE_TRY(
        c.query("UPDATE customer SET tier_floor_id = $2, tier_id = $3, revision = "
                "revision + 1, updated_at = now() WHERE customer_id = $1",
                {pg::Param::text(id), clear ? pg::Param::null() : pg::Param::text(*tier),
                 pg::Param::text(tier_now)}));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.tier_floor", "customer:" + id,
                        {{"tier_floor_id", clear ? json::value(nullptr) : json::value(*tier)},
                         {"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return http::problem(call.req, call.ctx, done.error());
  after_change(id);
  json::object out{{"customer_id", id},
                   {"tier_id", tier_now},
                   {"tier_floor_id", clear ? json::value(nullptr) : json::value(*tier)}};
  return http::json(call.req, json::serialize(out));
}

// --- points adjustments ------------------------------------------------------------------------

http::Response HqApi::customer_adjust(Call& call) {
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

  std::shared_ptr<const PublishedProgram> program_entry;
  {
    auto lease = d_.pool.acquire();  // released before ingestion takes a connection of its own
    if (!lease) return http::problem(call.req, call.ctx, lease.error());
    auto program = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!program) return http::problem(call.req, call.ctx, program.error());
    program_entry = *program;
  }
  sync::v1::EventBatch batch;
  batch.set_store_id(std::string(Ingest::kHeadOfficeStore));
  batch.set_agent_id(std::string(Ingest::kHeadOfficeAgent));
  auto* e = batch.add_events();
  e->set_event_id(new_customer_id());
  e->set_store_id(batch.store_id());
  e->set_agent_id(batch.agent_id());
  e->set_occurred_at_ms(d_.clock.now_ms());
  e->set_program_id(program_entry->program.program_id);
  e->set_program_version(program_entry->program.version);
  e->set_schema_version(1);
  auto* a = e->mutable_adjustment();
  a->set_customer_id(id);
  a->set_points(*points);
  a->set_reason(*reason);
  a->set_actor(call.who.subject);
  auto result = d_.ingest.apply_head_office(
      batch, [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        if (r.results(0).status() != sync::v1::EVENT_STATUS_APPLIED) return {};
        return audit_change(
            c, call, "points.adjust", "customer:" + id,
            {{"event_id", e->event_id()}, {"points", *points}, {"reason", *reason}});
      });
  if (!result) return http::problem(call.req, call.ctx, result.error());
  const auto& r = result->results(0);
  if (r.status() == sync::v1::EVENT_STATUS_REJECTED) {
    if (r.reject_code() == "unknown_customer") {
      return problem(call, bhttp::status::not_found, "not-found", "no customer " + id);
    }
    return problem(
        call, bhttp::status::unprocessable_entity,
        r.reject_code() == "insufficient_points" ? "insufficient-points" : "adjustment-refused",
        r.message());
  }
  auto status = d_.reads.status(id);
  json::object out{
      {"event_id", e->event_id()}, {"customer_id", id},
      {"points", *points},         {"reason", *reason},
      {"actor", call.who.subject}, {"occurred_at", format_utc_iso8601(e->occurred_at_ms())}};
  if (status) out["customer"] = json::parse(status->json);
  auto res = http::json(call.req, json::serialize(out), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/customers/" + id + "/transactions");
  return res;
}

// --- search ------------------------------------------------------------------------------------

http::Response HqApi::customer_search(Call& call, const std::string* segment) {
  const auto& target = call.req.target();
  FieldErrors errors;
  search::SearchQuery q;
  q.limit = page_limit(target, errors);
  static constexpr std::array<std::string_view, 13> known = {
      "q",           "status",         "tier",         "home_store",  "enrolled_from",
      "enrolled_to", "purchased_from", "purchased_to", "balance_min", "balance_max",
      "segment",     "limit",          "cursor"};
  // Unknown query parameters are errors too: a misspelt filter must not silently match everyone.
  {
    auto qm = target.find('?');
    std::string_view rest = qm == std::string_view::npos ? "" : target.substr(qm + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto item = rest.substr(0, amp);
      auto name = item.substr(0, item.find('='));
      if (!name.empty() && std::ranges::find(known, name) == known.end()) {
        errors.add("/" + std::string(name), "is not a filter of this list");
      }
      rest = amp == std::string_view::npos ? "" : rest.substr(amp + 1);
    }
  }
  if (auto s = http::query_param(target, "status")) {
    if (*s == "active" || *s == "blocked" || *s == "erased" || *s == "merged") {
      q.status = *s == "active"    ? search::kActive
                 : *s == "blocked" ? search::kBlocked
                 : *s == "erased"  ? search::kErased
                                   : search::kMerged;
    } else {
      errors.add("/status", "must be one of: active, blocked, erased, merged");
    }
  }
  q.tier = http::query_param(target, "tier");
  q.home_store = http::query_param(target, "home_store");
  auto time_filter = [&](const char* name, std::optional<int64_t>& into) {
    if (auto v = http::query_param(target, name)) {
      auto ms = parse_rfc3339_ms(*v);
      if (!ms) {
        errors.add(std::string("/") + name, "must be an RFC 3339 date-time");
        return;
      }
      into = *ms;
    }
  };
  time_filter("enrolled_from", q.enrolled_from_ms);
  time_filter("enrolled_to", q.enrolled_to_ms);
  time_filter("purchased_from", q.purchased_from_ms);
  time_filter("purchased_to", q.purchased_to_ms);
  auto int_filter = [&](const char* name, std::optional<int64_t>& into) {
    if (auto v = http::query_param(target, name)) {
      int64_t n = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || p != v->data() + v->size()) {
        errors.add(std::string("/") + name, "must be a whole number");
        return;
      }
      into = n;
    }
  };
  int_filter("balance_min", q.points_min);
  int_filter("balance_max", q.points_max);
  std::string q_kind;
  if (auto text = http::query_param(target, "q"))
    q_kind = read_search_text(*text, hasher_, q, errors);
  if (auto cur = http::query_param(target, "cursor")) {
    auto raw = base64url_decode(*cur);
    if (!raw || raw->empty() || !CustomerReads::valid_customer_id(*raw)) {
      errors.add("/cursor", "is not one this service handed out");
    } else {
      q.after = *raw;
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  std::optional<std::string> segment_id =
      segment ? std::optional<std::string>(*segment) : http::query_param(target, "segment");
  Result<search::SearchPage> page = fail(ErrorCode::kInternal, "not searched");
  if (segment_id) {
    // A saved segment is SQL over the system of record: PostgreSQL answers, whatever the
    // configured read model.
    auto lease = d_.pool.acquire();
    if (!lease) return http::problem(call.req, call.ctx, lease.error());
    search::SqlFilter extra;
    auto sql = segment_sql(**lease, *segment_id, extra.values);
    if (!sql && sql.error().code == ErrorCode::kNotFound && !segment) {
      errors.add("/segment", "no such segment");
      return invalid(call, errors);
    }
    if (!sql) return http::problem(call.req, call.ctx, sql.error());
    extra.join = sql->join;
    extra.where = sql->where;
    page = search::PgCustomerSearch::search_on(**lease, q, &extra);
  } else {
    page = d_.search.search(q);
  }
  if (!page) {
    if (page.error().code == ErrorCode::kUnavailable) {
      log(LogLevel::kWarn, "search_unavailable",
          {{"request_id", call.ctx.request_id},
           {"backend", d_.search.backend()},
           {"error", page.error().message}});
      auto res = problem(call, bhttp::status::service_unavailable, "search-unavailable",
                         "the customer search cannot answer right now; the member reads by id "
                         "still work");
      res.set(bhttp::field::retry_after, "5");
      return res;
    }
    return http::problem(call.req, call.ctx, page.error());
  }
  const bool personal =
      call.who.roles.contains(Role::kAdmin) || call.who.roles.contains(Role::kSupport);
  json::array items;
  for (const auto& d : page->hits) items.push_back(search_hit(d, personal));
  const int n = static_cast<int>(page->hits.size());
  json::object out;
  out["items"] = std::move(items);
  out["next_cursor"] =
      page->next_after ? json::value(base64url_encode(*page->next_after)) : json::value(nullptr);
  if (personal && n > 0) {
    json::object detail{{"results", n}};
    if (!q_kind.empty()) detail["q"] = q_kind;
    if (!audit_->enqueue({call.who.subject, "customer.search", "customers", call.ctx.request_id,
                          std::move(detail)})) {
      return problem(call, bhttp::status::service_unavailable, "audit-unavailable",
                     "personal data cannot be read while its audit trail cannot be written");
    }
  }
  return http::json(call.req, json::serialize(out));
}

}  // namespace accrue::cloud::hq

namespace accrue::cloud::hq {

// Points from one member to another, when the programme allows transfers: two adjustments in one
// ingestion transaction, both or neither (a deduction the giver cannot cover refuses the whole).
http::Response HqApi::customer_transfer(Call& call) {
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
    if (!lease) return http::problem(call.req, call.ctx, lease.error());
    auto p = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!p) return http::problem(call.req, call.ctx, p.error());
    program = *p;
  }
  const auto& policy = program->program.transfers;
  if (!policy.allowed) {
    return problem(call, bhttp::status::conflict, "transfers-not-allowed",
                   "the programme in force does not allow transfers between members");
  }
  if (policy.max_points > 0 && *points > policy.max_points) {
    FieldErrors e;
    e.add("/points", "the programme allows at most " + std::to_string(policy.max_points) +
                         " points per transfer");
    return invalid(call, e);
  }
  sync::v1::EventBatch batch;
  batch.set_store_id(std::string(Ingest::kHeadOfficeStore));
  batch.set_agent_id(std::string(Ingest::kHeadOfficeAgent));
  const std::string transfer_id = new_customer_id();
  auto add = [&](const std::string& customer, int64_t delta, const std::string& why) {
    auto* e = batch.add_events();
    e->set_event_id(new_customer_id());
    e->set_store_id(batch.store_id());
    e->set_agent_id(batch.agent_id());
    e->set_occurred_at_ms(d_.clock.now_ms());
    e->set_program_id(program->program.program_id);
    e->set_program_version(program->program.version);
    e->set_schema_version(1);
    auto* a = e->mutable_adjustment();
    a->set_customer_id(customer);
    a->set_points(delta);
    a->set_reason(why);
    a->set_actor(call.who.subject);
  };
  add(id, -*points, "transfer to " + *to + ": " + *reason);
  add(*to, *points, "transfer from " + id + ": " + *reason);
  std::optional<sync::v1::EventResult> refused;
  auto result = d_.ingest.apply_head_office(
      batch, [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        for (const auto& x : r.results()) {
          if (x.status() != sync::v1::EVENT_STATUS_APPLIED) {
            refused = x;
            return fail(ErrorCode::kFailedPrecondition, "transfer refused");
          }
        }
        return audit_change(c, call, "points.transfer", "customer:" + id,
                            {{"to_customer_id", *to},
                             {"points", *points},
                             {"reason", *reason},
                             {"transfer_id", transfer_id}});
      });
  if (refused) {
    if (refused->reject_code() == "unknown_customer") {
      return problem(call, bhttp::status::not_found, "not-found", refused->message());
    }
    return problem(call, bhttp::status::unprocessable_entity,
                   refused->reject_code() == "insufficient_points" ? "insufficient-points"
                                                                   : "adjustment-refused",
                   refused->message());
  }
  if (!result) return http::problem(call.req, call.ctx, result.error());
  json::object out{{"transfer_id", transfer_id},
                   {"from_customer_id", id},
                   {"to_customer_id", *to},
                   {"points", *points},
                   {"reason", *reason}};
  return http::json(call.req, json::serialize(out), bhttp::status::created);
}

}  // namespace accrue::cloud::hq
