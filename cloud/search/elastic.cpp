#include "cloud/search/elastic.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <thread>

#include "common/civil_time.h"

namespace accrue::cloud::search {

namespace json = boost::json;

namespace {

size_t on_body(char* data, size_t size, size_t n, void* userdata) {
  auto* out = static_cast<std::string*>(userdata);
  if (out->size() < 64 * 1024 * 1024) out->append(data, size * n);
  return size * n;
}

// Wildcard value for a substring search: the text lower-cased, its wildcard characters escaped.
std::string contains_pattern(std::string_view s) {
  std::string out = "*";
  for (char ch : s) {
    if (ch == '*' || ch == '?' || ch == '\\') out += '\\';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out + "*";
}

json::object range(const char* field, const std::optional<int64_t>& gte,
                   const std::optional<int64_t>& lt_or_lte, bool inclusive_upper) {
  json::object r;
  if (gte) r["gte"] = *gte;
  if (lt_or_lte) r[inclusive_upper ? "lte" : "lt"] = *lt_or_lte;
  return json::object{{"range", json::object{{field, r}}}};
}

json::object source_of(const CustomerDoc& d) {
  std::string name_lc, email_lc;
  for (char ch : d.display_name)
    name_lc += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (char ch : d.email)
    email_lc += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  json::array hashes;
  for (const auto& h : d.identifier_hashes) hashes.push_back(json::value(h));
  json::object o{{"customer_id", d.customer_id},
                 {"status", d.status},
                 {"tier_id", d.tier_id},
                 {"home_store_id", d.home_store_id},
                 {"display_name", d.display_name},
                 {"name_lc", name_lc},
                 {"email", email_lc},
                 {"phone", d.phone},
                 {"enrolled_at", d.enrolled_at_ms},
                 {"points", d.points},
                 {"identifier_hashes", hashes},
                 {"identifiers", d.identifiers}};
  if (d.last_purchase_ms > 0) o["last_purchase_at"] = d.last_purchase_ms;
  return o;
}

CustomerDoc doc_of(const json::object& src) {
  CustomerDoc d;
  auto str = [&](const char* k) {
    const auto* v = src.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [&](const char* k) -> int64_t {
    const auto* v = src.if_contains(k);
    return v && v->is_number() ? v->to_number<int64_t>() : 0;
  };
  d.customer_id = str("customer_id");
  d.status = static_cast<int>(num("status"));
  d.tier_id = str("tier_id");
  d.home_store_id = str("home_store_id");
  d.display_name = str("display_name");
  d.email = str("email");
  d.phone = str("phone");
  d.enrolled_at_ms = num("enrolled_at");
  d.last_purchase_ms = num("last_purchase_at");
  d.points = num("points");
  if (const auto* hs = src.if_contains("identifier_hashes"); hs && hs->is_array()) {
    for (const auto& h : hs->as_array()) {
      if (h.is_string()) d.identifier_hashes.emplace_back(h.as_string());
    }
  }
  if (const auto* ids = src.if_contains("identifiers"); ids && ids->is_array()) {
    d.identifiers = ids->as_array();
  }
  return d;
}

std::string reason_of(const json::value& error) {
  if (!error.is_object()) return json::serialize(error);
  const auto& e = error.as_object();
  std::string type = e.contains("type") && e.at("type").is_string()
                         ? std::string(e.at("type").as_string())
                         : "error";
  std::string reason = e.contains("reason") && e.at("reason").is_string()
                           ? std::string(e.at("reason").as_string())
                           : "";
  return type + (reason.empty() ? "" : ": " + reason);
}

}  // namespace

json::object ElasticClient::template_body(const std::string& alias) {
  auto kw = [] { return json::object{{"type", "keyword"}}; };
  json::object props{
      {"customer_id", kw()},
      {"status", json::object{{"type", "byte"}}},
      {"tier_id", kw()},
      {"home_store_id", kw()},
      {"display_name", json::object{{"type", "text"}}},
      {"name_lc", kw()},
      {"email", kw()},
      {"phone", kw()},
      {"enrolled_at", json::object{{"type", "date"}, {"format", "epoch_millis"}}},
      {"last_purchase_at", json::object{{"type", "date"}, {"format", "epoch_millis"}}},
      {"points", json::object{{"type", "long"}}},
      {"identifier_hashes", kw()},
      {"identifiers", json::object{{"type", "object"}, {"enabled", false}}}};
  return json::object{
      {"index_patterns", json::array{json::value(alias + "-*")}},
      {"template",
       json::object{{"settings", json::object{{"number_of_shards", 1}, {"refresh_interval", "1s"}}},
                    {"mappings", json::object{{"dynamic", "strict"}, {"properties", props}}}}},
      {"_meta", json::object{{"owner", "accrue-cloud"}}}};
}

std::string ElasticClient::bulk_body(const std::vector<const CustomerDoc*>& docs,
                                     const std::string& index) {
  std::string out;
  for (const auto* d : docs) {
    json::object meta{{"_index", index},
                      {"_id", d->customer_id},
                      {"version", d->version},
                      {"version_type", "external"}};
    out += json::serialize(json::object{{d->deleted ? "delete" : "index", meta}});
    out += '\n';
    if (!d->deleted) {
      out += json::serialize(source_of(*d));
      out += '\n';
    }
  }
  return out;
}

json::object ElasticClient::search_body(const SearchQuery& q) {
  json::array filter, should;
  if (q.status) {
    filter.push_back(json::object{{"term", json::object{{"status", *q.status}}}});
  } else {
    // Erased and merged members only when asked for, as in PostgreSQL.
    filter.push_back(
        json::object{{"terms", json::object{{"status", json::array{kActive, kBlocked}}}}});
  }
  if (q.match_nothing) filter.push_back(json::object{{"match_none", json::object{}}});
  if (q.tier) filter.push_back(json::object{{"term", json::object{{"tier_id", *q.tier}}}});
  if (q.home_store) {
    filter.push_back(json::object{{"term", json::object{{"home_store_id", *q.home_store}}}});
  }
  if (q.enrolled_from_ms || q.enrolled_to_ms) {
    filter.push_back(range("enrolled_at", q.enrolled_from_ms, q.enrolled_to_ms, false));
  }
  if (q.purchased_from_ms || q.purchased_to_ms) {
    filter.push_back(range("last_purchase_at", q.purchased_from_ms, q.purchased_to_ms, false));
  }
  if (q.points_min || q.points_max)
    filter.push_back(range("points", q.points_min, q.points_max, true));
  if (q.name_contains) {
    should.push_back(json::object{
        {"wildcard",
         json::object{{"name_lc", json::object{{"value", contains_pattern(*q.name_contains)}}}}}});
  }
  if (q.email_contains) {
    should.push_back(json::object{
        {"wildcard",
         json::object{{"email", json::object{{"value", contains_pattern(*q.email_contains)}}}}}});
  }
  if (q.phone) should.push_back(json::object{{"term", json::object{{"phone", *q.phone}}}});
  if (q.customer_id)
    should.push_back(json::object{{"term", json::object{{"customer_id", *q.customer_id}}}});
  if (!q.identifier_hashes.empty()) {
    json::array hs;
    for (const auto& h : q.identifier_hashes) hs.push_back(json::value(h));
    should.push_back(json::object{{"terms", json::object{{"identifier_hashes", hs}}}});
  }
  json::object b{{"filter", filter}};
  if (!should.empty()) {
    b["should"] = should;
    b["minimum_should_match"] = 1;
  }
  json::object body{{"size", q.limit + 1},
                    {"track_total_hits", false},
                    {"query", json::object{{"bool", b}}},
                    {"sort", json::array{json::object{{"customer_id", "asc"}}}}};
  if (!q.after.empty()) body["search_after"] = json::array{json::value(q.after)};
  return body;
}

Result<ElasticClient::Reply> ElasticClient::send(const std::string& method, const std::string& path,
                                                 const std::string& body,
                                                 const std::string& content_type) {
  CURL* curl = curl_easy_init();
  if (!curl) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  Reply reply;
  const std::string url = o_.url + path;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  if (!o_.api_key.empty()) {
    headers = curl_slist_append(headers, ("Authorization: ApiKey " + o_.api_key).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  if (!o_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, o_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return fail(ErrorCode::kUnavailable,
                "search backend " + method + " " + path + ": " + curl_easy_strerror(rc));
  }
  return reply;
}

Result<ElasticClient::Reply> ElasticClient::send_retrying(const std::string& method,
                                                          const std::string& path,
                                                          const std::string& body,
                                                          const std::string& content_type,
                                                          int retries) {
  if (retries < 0) retries = o_.max_retries;
  Result<Reply> r = fail(ErrorCode::kUnavailable, "not sent");
  for (int attempt = 0; attempt <= retries; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(o_.backoff_base * (1 << std::min(attempt - 1, 10)));
    r = send(method, path, body, content_type);
    if (r && r->status != 429 && r->status != 502 && r->status != 503 && r->status != 504) return r;
  }
  if (!r) return r;
  return fail(ErrorCode::kUnavailable, "search backend " + method + " " + path + ": HTTP " +
                                           std::to_string(r->status) + " after " +
                                           std::to_string(retries) + " retries");
}

Result<void> ElasticClient::put_index_template() {
  ACCRUE_ASSIGN_OR_RETURN(auto r, send_retrying("PUT", "/_index_template/" + o_.alias,
                                                json::serialize(template_body(o_.alias))));
  if (r.status != 200) {
    return fail(ErrorCode::kUnavailable,
                "index template: HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
  }
  return {};
}

Result<BulkOutcome> ElasticClient::bulk(const std::vector<CustomerDoc>& docs,
                                        const std::string& index) {
  BulkOutcome out;
  const std::string target = index.empty() ? o_.alias : index;
  std::vector<const CustomerDoc*> pending;
  for (const auto& d : docs) pending.push_back(&d);
  for (int attempt = 0; !pending.empty(); ++attempt) {
    if (attempt > o_.max_retries) {
      for (const auto* d : pending)
        out.failed.emplace_back(d->customer_id, "rejected (429) after retries");
      break;
    }
    if (attempt > 0) {
      std::this_thread::sleep_for(o_.backoff_base * (1 << std::min(attempt - 1, 10)));
      out.retried += static_cast<int>(pending.size());
    }
    ACCRUE_ASSIGN_OR_RETURN(auto r, send_retrying("POST", "/_bulk", bulk_body(pending, target),
                                                  "application/x-ndjson"));
    if (r.status != 200) {
      return fail(ErrorCode::kUnavailable,
                  "_bulk: HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
    }
    std::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("items")) {
      return fail(ErrorCode::kUnavailable, "_bulk: an answer that is not a bulk response");
    }
    // The answer is outside input: a shape other than the documented one is an error, never
    // an exception escaping (boost::json throws on a wrong type).
    std::vector<const CustomerDoc*> again;
    try {
      const auto& items = v.as_object().at("items").as_array();
      if (items.size() != pending.size()) {
        return fail(ErrorCode::kUnavailable, "_bulk: " + std::to_string(items.size()) +
                                                 " results for " + std::to_string(pending.size()) +
                                                 " actions");
      }
      for (size_t i = 0; i < items.size(); ++i) {
        const auto& item = items[i].as_object();
        if (item.empty()) throw std::invalid_argument("an empty bulk item");
        const auto& result =
            item.begin()->value().as_object();  // {"index": {...}} or {"delete": {...}}
        const int64_t status = result.at("status").to_number<int64_t>();
        if (status >= 200 && status < 300) {
          ++out.indexed;
        } else if (status == 404 && pending[i]->deleted) {
          ++out.indexed;  // deleting what is not there: the goal is reached
        } else if (status == 409) {
          ++out.stale;  // a newer version is indexed already
        } else if (status == 429) {
          again.push_back(pending[i]);
        } else {
          out.failed.emplace_back(pending[i]->customer_id, result.contains("error")
                                                               ? reason_of(result.at("error"))
                                                               : "HTTP " + std::to_string(status));
        }
      }
    } catch (const std::exception&) {
      return fail(ErrorCode::kUnavailable, "_bulk: an item result that is not a bulk item");
    }
    pending = std::move(again);
  }
  return out;
}

Result<SearchPage> ElasticClient::search(const SearchQuery& q) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, send_retrying("POST", "/" + o_.alias + "/_search", json::serialize(search_body(q)),
                            "application/json", o_.search_retries));
  if (r.status != 200) {
    return fail(ErrorCode::kUnavailable,
                "_search: HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
  }
  std::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return fail(ErrorCode::kUnavailable, "_search: not JSON");
  const auto* hits = v.as_object().if_contains("hits");
  if (!hits || !hits->is_object() || !hits->as_object().contains("hits")) {
    return fail(ErrorCode::kUnavailable, "_search: no hits in the answer");
  }
  SearchPage page;
  try {
    for (const auto& h : hits->as_object().at("hits").as_array()) {
      page.hits.push_back(doc_of(h.as_object().at("_source").as_object()));
    }
  } catch (const std::exception&) {
    return fail(ErrorCode::kUnavailable, "_search: a hit without a document");
  }
  if (page.hits.size() > static_cast<size_t>(q.limit)) {
    page.hits.resize(static_cast<size_t>(q.limit));
    page.next_after = page.hits.back().customer_id;
  }
  return page;
}

Result<std::string> ElasticClient::create_index(const std::string& suffix) {
  const std::string index = o_.alias + "-" + suffix;
  ACCRUE_ASSIGN_OR_RETURN(auto r, send_retrying("PUT", "/" + index, "{}"));
  if (r.status != 200) {
    return fail(ErrorCode::kUnavailable, "create index " + index + ": HTTP " +
                                             std::to_string(r.status) + ": " +
                                             r.body.substr(0, 300));
  }
  return index;
}

Result<void> ElasticClient::swap_alias(const std::string& new_index) {
  json::object body{
      {"actions",
       json::array{
           json::object{{"remove", json::object{{"index", o_.alias + "-*"}, {"alias", o_.alias}}}},
           json::object{{"add", json::object{{"index", new_index}, {"alias", o_.alias}}}}}}};
  auto r = send_retrying("POST", "/_aliases", json::serialize(body));
  if (!r) return std::unexpected(r.error());
  // The first rebuild has no alias to remove: Elasticsearch answers 404 aliases_not_found.
  if (r->status == 404) {
    json::object add{
        {"actions", json::array{json::object{
                        {"add", json::object{{"index", new_index}, {"alias", o_.alias}}}}}}};
    r = send_retrying("POST", "/_aliases", json::serialize(add));
    if (!r) return std::unexpected(r.error());
  }
  if (r->status != 200) {
    return fail(ErrorCode::kUnavailable,
                "_aliases: HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300));
  }
  return {};
}

Result<void> ElasticClient::delete_index(const std::string& index) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, send_retrying("DELETE", "/" + index, ""));
  if (r.status != 200 && r.status != 404) {
    return fail(ErrorCode::kUnavailable, "delete index " + index + ": HTTP " +
                                             std::to_string(r.status) + ": " +
                                             r.body.substr(0, 300));
  }
  return {};
}

}  // namespace accrue::cloud::search
