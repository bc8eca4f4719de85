// The search read model in PostgreSQL: the system of record queried directly (search.h).
#include <boost/json.hpp>

#include "cloud/core/customer_status.h"
#include "cloud/pg/pool.h"
#include "cloud/search/search.h"

namespace accrue::cloud::search {

namespace json = boost::json;

namespace {

// A LIKE pattern matching `s` anywhere, its wildcard characters escaped.
std::string like_contains(std::string_view s, bool lower) {
  std::string like = "%";
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '\\') like += '\\';
    like += lower ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch))) : ch;
  }
  return like + "%";
}

std::string ms_param(int64_t ms) { return std::to_string(static_cast<double>(ms) / 1000.0); }

// The columns every page and every projected document is read with, in this order.
constexpr const char* kDocColumns =
    "c.customer_id, c.status, c.tier_id, coalesce(c.home_store_id, ''), "
    "(extract(epoch FROM c.enrolled_at)*1000)::bigint, b.points, "
    "coalesce((extract(epoch FROM b.last_purchase_at)*1000)::bigint, 0), "
    "coalesce(p.display_name, ''), coalesce(p.email, ''), coalesce(p.phone, ''), "
    "(SELECT coalesce(json_agg(json_build_object('kind', i.kind, 'masked', i.masked) ORDER BY "
    "i.created_at), '[]') FROM identifier i WHERE i.customer_id = c.customer_id), "
    "(SELECT coalesce(string_agg(encode(i.hash, 'hex'), ',' ORDER BY i.created_at), '') FROM "
    "identifier i WHERE i.customer_id = c.customer_id)";

CustomerDoc doc_of_row(const pg::PgResult& r, int i) {
  CustomerDoc d;
  d.customer_id = std::string(r.text(i, 0));
  d.status = static_cast<int>(r.int64(i, 1));
  d.tier_id = std::string(r.text(i, 2));
  d.home_store_id = std::string(r.text(i, 3));
  d.enrolled_at_ms = r.int64(i, 4);
  d.points = r.int64(i, 5);
  d.last_purchase_ms = r.int64(i, 6);
  d.display_name = std::string(r.text(i, 7));
  d.email = std::string(r.text(i, 8));
  d.phone = std::string(r.text(i, 9));
  std::error_code ec;
  auto ids = json::parse(r.text(i, 10), ec);
  if (!ec && ids.is_array()) d.identifiers = std::move(ids.as_array());
  std::string_view hashes = r.text(i, 11);
  while (!hashes.empty()) {
    auto comma = hashes.find(',');
    d.identifier_hashes.emplace_back(hashes.substr(0, comma));
    hashes = comma == std::string_view::npos ? "" : hashes.substr(comma + 1);
  }
  return d;
}

}  // namespace

Result<SearchPage> PgCustomerSearch::search(const SearchQuery& q) {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  return search_on(*lease, q, nullptr);
}

Result<SearchPage> PgCustomerSearch::search_on(pg::Connection& c, const SearchQuery& q,
                                               const SqlFilter* extra) {
  // Conditions over placeholders only: every value travels as a parameter.
  std::vector<std::string> values = extra ? extra->values : std::vector<std::string>{};
  auto param = [&](std::string v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  };
  std::string where = extra ? "(" + extra->where + ")" : "TRUE";
  if (q.status) {
    where += " AND c.status = " + param(std::to_string(*q.status)) + "::smallint";
  } else {
    where += " AND c.status IN " + kServedStatusesSql;
  }
  if (q.tier) where += " AND c.tier_id = " + param(*q.tier);
  if (q.home_store) where += " AND c.home_store_id = " + param(*q.home_store);
  auto time_filter = [&](const std::optional<int64_t>& ms, const char* expr, const char* op) {
    if (!ms) return;
    where += std::string(" AND ") + expr + " " + op + " to_timestamp(" + param(ms_param(*ms)) +
             "::double precision)";
  };
  time_filter(q.enrolled_from_ms, "c.enrolled_at", ">=");
  time_filter(q.enrolled_to_ms, "c.enrolled_at", "<");
  time_filter(q.purchased_from_ms, "b.last_purchase_at", ">=");
  time_filter(q.purchased_to_ms, "b.last_purchase_at", "<");
  if (q.points_min)
    where += " AND b.points >= " + param(std::to_string(*q.points_min)) + "::bigint";
  if (q.points_max)
    where += " AND b.points <= " + param(std::to_string(*q.points_max)) + "::bigint";
  if (q.has_text()) {
    std::vector<std::string> any;
    if (q.name_contains) {
      any.push_back("lower(p.display_name) LIKE lower(" +
                    param(like_contains(*q.name_contains, false)) + ")");
    }
    if (q.email_contains) {
      any.push_back("p.email LIKE " + param(like_contains(*q.email_contains, true)));
    }
    if (q.phone) any.push_back("p.phone = " + param(*q.phone));
    if (q.customer_id) any.push_back("c.customer_id = " + param(*q.customer_id));
    for (const auto& h : q.identifier_hashes) {
      // bytea in text format: \x + hex.
      any.push_back("c.customer_id IN (SELECT customer_id FROM identifier WHERE hash = " +
                    param("\\x" + h) + "::bytea)");
    }
    std::string cond;
    for (const auto& a : any) cond += (cond.empty() ? "" : " OR ") + a;
    where += " AND (" + (cond.empty() ? std::string("FALSE") : cond) + ")";
  }
  if (!q.after.empty()) where += " AND c.customer_id > " + param(q.after);
  const int limit = std::max(q.limit, 1);
  const std::string sql =
      std::string("SELECT ") + kDocColumns +
      " FROM customer c JOIN balance b USING (customer_id) LEFT JOIN customer_pii p USING "
      "(customer_id)" +
      (extra ? extra->join : "") + " WHERE " + where + " ORDER BY c.customer_id LIMIT " +
      param(std::to_string(limit + 1)) + "::int";
  std::vector<pg::Param> ps;
  ps.reserve(values.size());
  for (const auto& v : values) ps.push_back(pg::Param::text(v));
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(sql.c_str(), std::span<const pg::Param>(ps)));
  SearchPage page;
  const int n = std::min(r.rows(), limit);
  for (int i = 0; i < n; ++i) page.hits.push_back(doc_of_row(r, i));
  if (r.rows() > limit) page.next_after = page.hits.back().customer_id;
  return page;
}

Result<std::vector<CustomerDoc>> PgCustomerSearch::load(pg::Connection& c,
                                                        const std::vector<std::string>& ids) {
  std::vector<CustomerDoc> out;
  if (ids.empty()) return out;
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query(std::string("SELECT ") + kDocColumns +
                  " FROM customer c JOIN balance b USING (customer_id) LEFT JOIN "
                  "customer_pii p USING (customer_id) WHERE c.customer_id = ANY($1::text[])",
              {pg::Param::text(pg::text_array(ids))}));
  std::unordered_map<std::string, CustomerDoc> found;
  for (int i = 0; i < r.rows(); ++i) {
    auto d = doc_of_row(r, i);
    found.emplace(d.customer_id, std::move(d));
  }
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto it = found.find(id);
    if (it != found.end()) {
      out.push_back(std::move(it->second));
    } else {
      CustomerDoc gone;
      gone.customer_id = id;
      gone.deleted = true;
      out.push_back(std::move(gone));
    }
  }
  return out;
}

}  // namespace accrue::cloud::search
