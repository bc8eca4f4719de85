#include "cloud/http/router.h"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

namespace accrue::cloud::http {
namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
  // Boost.URL checks the escapes (a bad one refuses the whole text) and decodes them; in a query,
  // '+' is a space as HTML forms send it.
  auto checked = boost::urls::make_pct_string_view(s);
  if (!checked) return std::nullopt;
  return checked->decode(boost::urls::encoding_opts(/*space_as_plus=*/true));
}

}  // namespace

void Router::add(bhttp::verb method, std::string pattern, std::string name, Handler handler) {
  auto r = std::make_unique<Route>();
  r->method = method;
  for (auto s : split(pattern)) r->segments.emplace_back(s);
  r->pattern = std::move(pattern);
  r->name = std::move(name);
  r->handler = std::move(handler);
  routes_.push_back(std::move(r));
}

Router::Match Router::match(bhttp::verb method, std::string_view target) const {
  Match m;
  auto parts = split(path_of(target));
  for (const auto& r : routes_) {
    if (r->segments.size() != parts.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      const std::string& seg = r->segments[i];
      if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
        auto v = percent_decode(parts[i]);
        if (!v || v->empty())
          ok = false;
        else
          params.push_back(std::move(*v));
      } else {
        ok = seg == parts[i];
      }
    }
    if (!ok) continue;
    if (r->method != method && !(method == bhttp::verb::head && r->method == bhttp::verb::get)) {
      m.method_not_allowed = true;
      continue;
    }
    m.route = r.get();
    m.params = std::move(params);
    m.method_not_allowed = false;
    return m;
  }
  return m;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (k != name) continue;
    return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace accrue::cloud::http
