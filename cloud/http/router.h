// Routes: method + path pattern -> handler. Patterns are literal segments and `{name}`
// placeholders matching one non-empty segment ("/v1/customers/{id}/status"); the placeholders'
// values reach the handler in RequestContext::params. Built once at start, then read-only and
// safe to use from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cloud/http/message.h"
#include "cloud/http/metrics.h"

namespace accrue::cloud::http {

struct Route {
  bhttp::verb method;
  std::string pattern;
  std::string name;  // for logs and metrics, e.g. "customers.status"
  Handler handler;
  std::vector<std::string> segments;
  std::unique_ptr<RouteStats> stats = std::make_unique<RouteStats>();
};

class Router {
 public:
  void add(bhttp::verb method, std::string pattern, std::string name, Handler handler);

  struct Match {
    const Route* route = nullptr;     // null: no route for this path
    bool method_not_allowed = false;  // the path exists with other methods
    std::vector<std::string> params;
  };
  // `target` is the request target; the query string is ignored here.
  Match match(bhttp::verb method, std::string_view target) const;

  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }
  RouteStats& unmatched() const { return *unmatched_; }

 private:
  std::vector<std::unique_ptr<Route>> routes_;
  std::unique_ptr<RouteStats> unmatched_ = std::make_unique<RouteStats>();
};

// The path part of a request target, and the value of one query parameter (percent-decoded;
// nullopt when absent or badly encoded).
std::string_view path_of(std::string_view target);
std::optional<std::string> query_param(std::string_view target, std::string_view name);

}  // namespace accrue::cloud::http
