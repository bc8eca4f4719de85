// A stand-in for an Elasticsearch 8 cluster, for the projector's and the search route's tests: no
// search server can run where this project is tested. It keeps documents in memory with their
// external versions, answers in the same formats as the recorded responses (recorded/), and
// evaluates the small query language the adapter emits (bool filter/should, term, terms, range,
// wildcard, match_none; sort by customer_id; search_after). It is a fake of the cluster, not of
// PostgreSQL or of the code under test; `fail_with(503)` makes it refuse everything (an outage).
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace accrue::cloud::search::testing {

class FakeElastic {
 public:
  struct Doc {
    int64_t version = 0;
    boost::json::object source;
  };

  FakeElastic() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeElastic() {
    stop_ = true;
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket knock(ioc);
    boost::system::error_code ec;
    knock.connect({boost::asio::ip::make_address("127.0.0.1"), port()}, ec);
    knock.close(ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  // Every request answered with this status (0: behave).
  void fail_with(int status) {
    std::lock_guard lock(mu_);
    fail_ = status;
  }
  // The index an alias points at ("" when none).
  std::string alias_target(const std::string& alias) {
    std::lock_guard lock(mu_);
    auto it = aliases_.find(alias);
    return it == aliases_.end() ? "" : it->second;
  }
  std::set<std::string> indexes() {
    std::lock_guard lock(mu_);
    std::set<std::string> out;
    for (const auto& [name, docs] : indexes_) out.insert(name);
    return out;
  }
  // The document `id` in the index behind `alias_or_index`.
  std::optional<Doc> doc(const std::string& alias_or_index, const std::string& id) {
    std::lock_guard lock(mu_);
    auto* idx = resolve(alias_or_index);
    if (!idx) return std::nullopt;
    auto it = idx->find(id);
    if (it == idx->end()) return std::nullopt;
    return it->second;
  }
  size_t count(const std::string& alias_or_index) {
    std::lock_guard lock(mu_);
    auto* idx = resolve(alias_or_index);
    return idx ? idx->size() : 0;
  }
  int requests(const std::string& prefix) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& t : targets_) n += t.starts_with(prefix) ? 1 : 0;
    return n;
  }

 private:
  using Index = std::map<std::string, Doc>;

  Index* resolve(const std::string& name) {
    auto a = aliases_.find(name);
    const std::string& real = a == aliases_.end() ? name : a->second;
    auto it = indexes_.find(real);
    return it == indexes_.end() ? nullptr : &it->second;
  }

  static boost::json::object ack() { return {{"acknowledged", true}}; }

  std::pair<int, std::string> handle(const std::string& method, const std::string& target,
                                     const std::string& body) {
    namespace json = boost::json;
    if (fail_) return {fail_, R"({"error":"unavailable","status":)" + std::to_string(fail_) + "}"};
    if (method == "PUT" && target.starts_with("/_index_template/")) {
      return {200, json::serialize(ack())};
    }
    if (method == "PUT" && target.find('/', 1) == std::string::npos) {
      const std::string name = target.substr(1);
      if (indexes_.contains(name)) {
        return {400, R"({"error":{"type":"resource_already_exists_exception","reason":"index [)" +
                         name + R"(] already exists"},"status":400})"};
      }
      indexes_[name];
      return {200, json::serialize(json::object{
                       {"acknowledged", true}, {"shards_acknowledged", true}, {"index", name}})};
    }
    if (method == "DELETE") {
      const std::string name = target.substr(1);
      if (!indexes_.erase(name)) {
        return {404, R"({"error":{"type":"index_not_found_exception","reason":"no such index [)" +
                         name + R"(]"},"status":404})"};
      }
      return {200, json::serialize(ack())};
    }
    if (method == "POST" && target == "/_aliases") {
      auto actions = json::parse(body).at("actions").as_array();
      for (const auto& a : actions) {
        const auto& o = a.as_object();
        if (o.contains("remove")) {
          std::string alias(o.at("remove").at("alias").as_string());
          if (!aliases_.contains(alias)) {
            return {404, R"({"error":{"type":"aliases_not_found_exception","reason":"aliases [)" +
                             alias + R"(] missing"},"status":404})"};
          }
        }
      }
      for (const auto& a : actions) {
        const auto& o = a.as_object();
        if (o.contains("remove"))
          aliases_.erase(std::string(o.at("remove").at("alias").as_string()));
        if (o.contains("add")) {
          aliases_[std::string(o.at("add").at("alias").as_string())] =
              std::string(o.at("add").at("index").as_string());
        }
      }
      return {200, json::serialize(ack())};
    }
    if (method == "POST" && target == "/_bulk") return bulk(body);
    if (method == "POST" && target.ends_with("/_search")) {
      return search(target.substr(1, target.size() - 1 - 8), json::parse(body).as_object());
    }
    return {400, R"({"error":{"type":"illegal_argument_exception","reason":"unsupported"}})"};
  }

  std::pair<int, std::string> bulk(const std::string& body) {
    namespace json = boost::json;
    std::istringstream in(body);
    json::array items;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto action = json::parse(line).as_object();
      const bool del = action.contains("delete");
      const auto& meta = action.begin()->value().as_object();
      std::string index(meta.at("_index").as_string()), id(meta.at("_id").as_string());
      const int64_t version = meta.at("version").to_number<int64_t>();
      json::object source;
      if (!del) {
        std::string src;
        std::getline(in, src);
        source = json::parse(src).as_object();
      }
      Index* idx = resolve(index);
      const std::string real = aliases_.contains(index) ? aliases_[index] : index;
      json::object result{{"_index", real}, {"_id", id}};
      if (!idx) {
        result["status"] = 404;
        result["error"] = json::object{{"type", "index_not_found_exception"},
                                       {"reason", "no such index [" + index + "]"}};
      } else {
        auto it = idx->find(id);
        if (it != idx->end() && it->second.version >= version) {
          result["status"] = 409;
          result["error"] =
              json::object{{"type", "version_conflict_engine_exception"},
                           {"reason", "[" + id + "]: version conflict, current version [" +
                                          std::to_string(it->second.version) +
                                          "] is higher or equal to the one provided [" +
                                          std::to_string(version) + "]"}};
        } else if (del) {
          const bool found = it != idx->end();
          if (found) idx->erase(it);
          result["_version"] = version;
          result["result"] = found ? "deleted" : "not_found";
          result["status"] = found ? 200 : 404;
        } else {
          const bool created = it == idx->end();
          (*idx)[id] = Doc{version, std::move(source)};
          result["_version"] = version;
          result["result"] = created ? "created" : "updated";
          result["status"] = created ? 201 : 200;
        }
      }
      items.push_back(json::object{{del ? "delete" : "index", result}});
    }
    bool errors = false;
    for (const auto& i : items) {
      const auto s = i.as_object().begin()->value().at("status").to_number<int64_t>();
      errors = errors || s >= 300;
    }
    return {200, json::serialize(json::object{{"took", 3}, {"errors", errors}, {"items", items}})};
  }

  static bool matches(const boost::json::object& src, const boost::json::value& clause) {
    namespace json = boost::json;
    const auto& c = clause.as_object();
    const auto& [kind, arg] = *c.begin();
    auto field = [&](const json::object& o) -> const json::value* {
      return src.if_contains(o.begin()->key());
    };
    if (kind == "match_none") return false;
    if (kind == "term") {
      const auto* v = field(arg.as_object());
      return v && *v == arg.as_object().begin()->value();
    }
    if (kind == "terms") {
      const auto* v = field(arg.as_object());
      if (!v) return false;
      for (const auto& want : arg.as_object().begin()->value().as_array()) {
        if (v->is_array()) {
          for (const auto& x : v->as_array()) {
            if (x == want) return true;
          }
        } else if (*v == want) {
          return true;
        }
      }
      return false;
    }
    if (kind == "range") {
      const auto* v = field(arg.as_object());
      if (!v || !v->is_number()) return false;
      const auto x = v->to_number<int64_t>();
      const auto& r = arg.as_object().begin()->value().as_object();
      if (r.contains("gte") && x < r.at("gte").to_number<int64_t>()) return false;
      if (r.contains("lt") && x >= r.at("lt").to_number<int64_t>()) return false;
      if (r.contains("lte") && x > r.at("lte").to_number<int64_t>()) return false;
      return true;
    }
    if (kind == "wildcard") {
      const auto* v = field(arg.as_object());
      if (!v || !v->is_string()) return false;
      std::string pattern(arg.as_object().begin()->value().at("value").as_string());
      // Only *text* patterns come from the adapter: unescape and look for the text.
      std::string text;
      for (size_t i = 1; i + 1 < pattern.size(); ++i) {
        if (pattern[i] == '\\' && i + 2 < pattern.size()) ++i;
        text += pattern[i];
      }
      return std::string_view(v->as_string()).find(text) != std::string_view::npos;
    }
    return false;
  }

  std::pair<int, std::string> search(const std::string& alias, const boost::json::object& body) {
    namespace json = boost::json;
    Index* idx = resolve(alias);
    if (!idx) {
      return {404, R"({"error":{"type":"index_not_found_exception","reason":"no such index"},)"
                   R"("status":404})"};
    }
    const auto& b = body.at("query").at("bool").as_object();
    const int64_t size = body.at("size").to_number<int64_t>();
    std::string after;
    if (body.contains("search_after")) after = body.at("search_after").at(0).as_string();
    json::array hits;
    for (const auto& [id, doc] : *idx) {
      if (!after.empty() && id <= after) continue;
      bool ok = true;
      if (b.contains("filter")) {
        for (const auto& f : b.at("filter").as_array()) ok = ok && matches(doc.source, f);
      }
      if (ok && b.contains("should")) {
        bool any = false;
        for (const auto& s : b.at("should").as_array()) any = any || matches(doc.source, s);
        ok = any;
      }
      if (!ok) continue;
      hits.push_back(json::object{{"_index", alias},
                                  {"_id", id},
                                  {"_score", nullptr},
                                  {"_source", doc.source},
                                  {"sort", json::array{json::value(id)}}});
      if (static_cast<int64_t>(hits.size()) == size) break;
    }
    return {200, json::serialize(
                     json::object{{"took", 2},
                                  {"timed_out", false},
                                  {"hits", json::object{{"max_score", nullptr}, {"hits", hits}}}})};
  }

  void serve() {
    namespace http = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec) continue;
      std::pair<int, std::string> answer;
      {
        std::lock_guard lock(mu_);
        targets_.push_back(std::string(req.method_string()) + " " + std::string(req.target()));
        try {
          answer = handle(std::string(req.method_string()), std::string(req.target()), req.body());
        } catch (const std::exception& e) {
          answer = {400, R"({"error":{"type":"parse_exception","reason":"bad request"}})"};
        }
      }
      http::response<http::string_body> res{static_cast<http::status>(answer.first), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = answer.second;
      res.keep_alive(false);
      res.prepare_payload();
      http::write(sock, res, ec);
    }
  }

  std::mutex mu_;
  int fail_ = 0;
  std::map<std::string, Index> indexes_;
  std::map<std::string, std::string> aliases_;
  std::vector<std::string> targets_;
  std::atomic<bool> stop_{false};
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace accrue::cloud::search::testing
