// GET /v1/customers: search by text (an identifier, an e-mail address, a name, a customer id)
// and filters, in the configured read model; by a saved segment, in PostgreSQL.
#include <array>
#include <boost/json.hpp>
#include <charconv>

#include "cloud/hq/resources.h"
#include "cloud/hq/segments.h"
#include "common/base64url.h"
#include "common/civil_time.h"
#include "common/hex.h"
#include "common/sys/log.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using auth::Role;
using http::Problem;

namespace {

// What the search text `q` looks like decides where it is looked for: an e-mail address, a phone
// or card number (by its keyed hash, as the stores know it, and the contact phone), or a name
// (substring) or QR token (her app's card; by its hash); a customer id always. Answers which of
// these it was, for the audit trail.
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
      // Or the code of her app's card, or another QR token she shows at the counter.
      if (auto token = normalize_qr_token(text)) hash_of(IdentifierKind::kQrToken, *token);
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

http::Response CustomersApi::search(Call& call, const std::string* segment) {
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
    if (!lease) return problem(call, lease.error());
    search::SqlFilter extra;
    auto sql = segment_sql(**lease, *segment_id, extra.values);
    if (!sql && sql.error().code == ErrorCode::kNotFound && !segment) {
      errors.add("/segment", "no such segment");
      return invalid(call, errors);
    }
    if (!sql) return problem(call, sql.error());
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
      auto res = problem(call, Problem::kSearchUnavailable,
                         "the customer search cannot answer right now; the member reads by id "
                         "still work");
      res.set(bhttp::field::retry_after, "5");
      return res;
    }
    return problem(call, page.error());
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
      return problem(call, Problem::kAuditUnavailable,
                     "personal data cannot be read while its audit trail cannot be written");
    }
  }
  return http::json(call.req, json::serialize(out));
}

}  // namespace accrue::cloud::hq
