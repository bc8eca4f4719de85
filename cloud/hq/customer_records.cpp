#include "cloud/hq/customer_records.h"

#include <boost/json.hpp>

#include "cloud/core/customer_status.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace json = boost::json;

namespace {

constexpr const char* kSelectDetails =
    "SELECT c.customer_id, c.status, c.tier_id, coalesce(c.tier_floor_id, ''), "
    "coalesce(c.home_store_id, ''), c.country, c.currency, c.revision, "
    "(extract(epoch FROM c.enrolled_at)*1000)::bigint, coalesce(c.status_reason, ''), "
    "coalesce(p.display_name, ''), p.email, p.phone, p.birthday_month, p.birthday_day, "
    "coalesce(p.consent_terms, false), coalesce(p.consent_marketing_email, false), "
    "coalesce(p.consent_marketing_sms, false), (SELECT coalesce(json_agg(json_build_object("
    "'identifier_id', encode(substring(i.hash FROM 1 FOR 8), 'hex'), 'kind', i.kind, 'masked', "
    "i.masked) ORDER BY i.created_at), '[]') FROM identifier i "
    "WHERE i.customer_id = c.customer_id), (extract(epoch FROM p.consent_terms_at)*1000)::bigint, "
    "(extract(epoch FROM p.consent_marketing_email_at)*1000)::bigint, "
    "(extract(epoch FROM p.consent_marketing_sms_at)*1000)::bigint, p.language FROM customer c "
    "LEFT JOIN customer_pii p USING (customer_id) WHERE c.customer_id = $1";

constexpr const char* kLockCustomer =
    "SELECT status, revision, country, tier_id FROM customer WHERE customer_id = $1 FOR UPDATE";

// Points of the provisional accruals against an identifier that member $2 claimed.
constexpr const char* kClaimedPoints =
    "SELECT coalesce(sum(k.points), 0) FROM ledger l JOIN ledger k ON k.kind = 7 AND "
    "k.ref_event_id = l.event_id WHERE l.owner_hash = $1 AND l.customer_id IS NULL AND "
    "k.customer_id = $2";

constexpr const char* kStoreExists = "SELECT 1 FROM store WHERE store_id = $1";

constexpr const char* kIdentifierTaken = "SELECT 1 FROM identifier WHERE hash = $1";

constexpr const char* kInsertBalance = "INSERT INTO balance (customer_id) VALUES ($1)";

constexpr const char* kInsertIdentifier =
    "INSERT INTO identifier (hash, kind, customer_id, masked) VALUES ($1, $2, $3, $4)";

constexpr const char* kEnsurePii =
    "INSERT INTO customer_pii (customer_id) VALUES ($1) ON CONFLICT DO NOTHING";

constexpr const char* kSetStatus =
    "UPDATE customer SET status = $2, status_reason = $3, revision = revision + 1, "
    "updated_at = now() WHERE customer_id = $1";

constexpr const char* kSetTierFloor =
    "UPDATE customer SET tier_floor_id = $2, tier_id = $3, tier_below_since = CASE WHEN "
    "tier_id = $3 THEN tier_below_since END, revision = revision + 1, updated_at = now() "
    "WHERE customer_id = $1";

std::string_view bytes_of(const IdentifierHash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

json::value text_or_null(const pg::PgResult& r, int col) {
  return r.is_null(0, col) ? json::value(nullptr) : json::value(r.text(0, col));
}

json::value empty_as_null(std::string_view v) {
  return v.empty() ? json::value(nullptr) : json::value(v);
}

// INSERT INTO `table` (customer_id[, extra...], columns...) VALUES (...).
Result<void> insert_row(pg::Connection& c, std::string_view table, std::vector<Column> columns) {
  std::string cols, vals;
  std::vector<pg::Param> params;
  for (const auto& [col, v] : columns) {
    cols += (cols.empty() ? "" : ", ") + col;
    vals += (vals.empty() ? "$" : ", $") + std::to_string(params.size() + 1);
    params.push_back(v ? pg::Param::text(*v) : pg::Param::null());
  }
  auto sql = "INSERT INTO " + std::string(table) + " (" + cols + ") VALUES (" + vals + ")";
  ACCRUE_TRY(c.query(sql.c_str(), std::span<const pg::Param>(params)));
  return {};
}

// UPDATE `table` SET the columns WHERE customer_id = $1 (customer: the revision moves on).
Result<void> update_row(pg::Connection& c, std::string_view table, const std::string& id,
                        const std::vector<Column>& columns) {
  std::string set;
  std::vector<pg::Param> params{pg::Param::text(id)};
  for (const auto& [col, v] : columns) {
    set += (set.empty() ? "" : ", ") + col + " = $" + std::to_string(params.size() + 1);
    params.push_back(v ? pg::Param::text(*v) : pg::Param::null());
  }
  if (table == "customer") {
    set += (set.empty() ? "" : ", ") + std::string("revision = revision + 1, updated_at = now()");
  }
  if (set.empty()) return {};
  auto sql = "UPDATE " + std::string(table) + " SET " + set + " WHERE customer_id = $1";
  ACCRUE_TRY(c.query(sql.c_str(), std::span<const pg::Param>(params)));
  return {};
}

}  // namespace

Result<std::pair<json::object, int64_t>> customer_details(pg::Connection& c,
                                                          const std::string& id) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(kSelectDetails, {pg::Param::text(id)}));
  if (r.rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
  json::object o;
  o["customer_id"] = std::string(r.text(0, 0));
  o["status"] = status_name(r.int64(0, 1));
  if (!r.text(0, 9).empty()) o["status_reason"] = std::string(r.text(0, 9));
  o["tier_id"] = std::string(r.text(0, 2));
  o["tier_floor_id"] = empty_as_null(r.text(0, 3));
  o["home_store_id"] = empty_as_null(r.text(0, 4));
  o["country"] = std::string(r.text(0, 5));
  o["currency"] = std::string(r.text(0, 6));
  o["enrolled_at"] = format_utc_iso8601(r.int64(0, 8));
  o["display_name"] = std::string(r.text(0, 10));
  o["email"] = text_or_null(r, 11);
  o["phone"] = text_or_null(r, 12);
  o["language"] = text_or_null(r, 22);
  if (r.is_null(0, 13)) {
    o["birthday"] = nullptr;
  } else {
    o["birthday"] = json::object{{"month", r.int64(0, 13)}, {"day", r.int64(0, 14)}};
  }
  auto at = [&](int col) -> json::value {
    if (r.is_null(0, col)) return nullptr;
    return json::value(format_utc_iso8601(r.int64(0, col)));
  };
  o["consents"] =
      json::object{{"terms", r.boolean(0, 15)},         {"marketing_email", r.boolean(0, 16)},
                   {"marketing_sms", r.boolean(0, 17)}, {"terms_at", at(19)},
                   {"marketing_email_at", at(20)},      {"marketing_sms_at", at(21)}};
  o["identifiers"] = json::parse(r.text(0, 18));
  const int64_t revision = r.int64(0, 7);
  o["revision"] = revision;
  return std::make_pair(std::move(o), revision);
}

Result<LockedCustomer> lock_customer(pg::Connection& c, const std::string& id) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(kLockCustomer, {pg::Param::text(id)}));
  if (r.rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
  return LockedCustomer{r.int64(0, 0), r.int64(0, 1), std::string(r.text(0, 2)),
                        std::string(r.text(0, 3))};
}

Result<bool> store_exists(pg::Connection& c, const std::string& store_id) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(kStoreExists, {pg::Param::text(store_id)}));
  return r.rows() > 0;
}

Result<bool> identifier_taken(pg::Connection& c, const IdentifierHash& hash) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(kIdentifierTaken, {pg::Param::bytes(bytes_of(hash))}));
  return r.rows() > 0;
}

Result<void> insert_customer(pg::Connection& c, const std::string& id, const std::string& tier_id,
                             const ProfileInput& profile, const std::vector<NewIdentifier>& ids) {
  std::vector<Column> customer{{"customer_id", id}, {"tier_id", tier_id}};
  customer.insert(customer.end(), profile.customer.begin(), profile.customer.end());
  ACCRUE_TRY(insert_row(c, "customer", std::move(customer)));
  ACCRUE_TRY(c.query(kInsertBalance, {pg::Param::text(id)}));
  std::vector<Column> pii{{"customer_id", id}};
  pii.insert(pii.end(), profile.pii.begin(), profile.pii.end());
  ACCRUE_TRY(insert_row(c, "customer_pii", std::move(pii)));
  for (const auto& x : ids) ACCRUE_TRY(insert_identifier(c, id, x));
  return {};
}

Result<void> insert_identifier(pg::Connection& c, const std::string& id, const NewIdentifier& x) {
  ACCRUE_TRY(c.query(kInsertIdentifier,
                     {pg::Param::bytes(bytes_of(x.hash)), pg::Param::text(to_string(x.kind)),
                      pg::Param::text(id), pg::Param::text(x.masked)}));
  return {};
}

Result<int64_t> claimed_points(pg::Connection& c, const std::string& id,
                               const IdentifierHash& hash) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query(kClaimedPoints, {pg::Param::bytes(bytes_of(hash)), pg::Param::text(id)}));
  return r.int64(0, 0);
}

Result<void> update_profile(pg::Connection& c, const std::string& id, const ProfileInput& profile) {
  ACCRUE_TRY(c.query(kEnsurePii, {pg::Param::text(id)}));
  ACCRUE_TRY(update_row(c, "customer_pii", id, profile.pii));
  return update_row(c, "customer", id, profile.customer);
}

Result<void> set_status(pg::Connection& c, const std::string& id, CustomerStatus status,
                        const std::string& reason) {
  ACCRUE_TRY(c.query(kSetStatus, {pg::Param::text(id), pg::Param::text(status_sql(status)),
                                  pg::Param::text(reason)}));
  return {};
}

Result<void> set_tier_floor(pg::Connection& c, const std::string& id,
                            const std::optional<std::string>& floor, const std::string& tier_id) {
  ACCRUE_TRY(c.query(kSetTierFloor,
                     {pg::Param::text(id), floor ? pg::Param::text(*floor) : pg::Param::null(),
                      pg::Param::text(tier_id)}));
  return {};
}

}  // namespace accrue::cloud::hq
