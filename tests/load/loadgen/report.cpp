// The three views of a run: a table for people, JSON for tools, and an SVG chart of latency
// percentiles and throughput over time, like the case study's charts.
#include <boost/json.hpp>

#include <cstdio>

#include "tests/load/loadgen/loadgen.h"

namespace accrue::loadgen {
namespace {

std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

double ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

std::string row(const std::string& name, const EndpointResult& e, double seconds) {
  const auto& h = e.latency_us;
  return fmt("%-14s %10lld %10.0f %9.2f %9.2f %9.2f %9.2f %9.2f %8lld\n", name.c_str(),
             static_cast<long long>(h.count()), static_cast<double>(h.count()) / seconds,
             ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)),
             ms(h.percentile(99.9)), ms(h.max()), static_cast<long long>(e.total_errors()));
}

boost::json::object summary(const EndpointResult& e, double seconds) {
  const auto& h = e.latency_us;
  boost::json::object errors;
  for (size_t i = 0; i < e.errors.size(); ++i) {
    errors[error_class_name(static_cast<ErrorClass>(i))] = e.errors[i];
  }
  return {{"requests", h.count()},
          {"per_second", static_cast<double>(h.count()) / seconds},
          {"latency_ms",
           {{"p50", ms(h.percentile(50))},
            {"p90", ms(h.percentile(90))},
            {"p99", ms(h.percentile(99))},
            {"p99.9", ms(h.percentile(99.9))},
            {"max", ms(h.max())},
            {"mean", h.mean() / 1000.0}}},
          {"errors", std::move(errors)}};
}

}  // namespace

std::string report_table(const RunResult& r) {
  const auto& o = r.options;
  std::string out = fmt(
      "accrue-loadgen: http://%s:%u%s, %d connections (ramp-up %.0f s), %.0f s measured, %s\n",
      o.target.host.c_str(), o.target.port, o.target.base_path.c_str(), o.connections, o.ramp_up_s,
      r.measured_s, o.rate > 0 ? fmt("open model at %.0f req/s", o.rate).c_str() : "closed loop");
  out += fmt("%-14s %10s %10s %9s %9s %9s %9s %9s %8s\n", "endpoint", "requests", "req/s", "p50 ms",
             "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors");
  for (size_t i = 0; i < r.endpoints.size(); ++i) {
    out += row(o.endpoints[i].name, r.endpoints[i], r.measured_s);
  }
  const auto all = r.overall();
  out += row("all", all, r.measured_s);
  out += "errors:";
  for (size_t i = 0; i < all.errors.size(); ++i) {
    out += fmt(" %s %lld", error_class_name(static_cast<ErrorClass>(i)),
               static_cast<long long>(all.errors[i]));
  }
  out += "\n";
  return out;
}

std::string report_json(const RunResult& r) {
  const auto& o = r.options;
  boost::json::object doc;
  boost::json::array mix;
  for (const auto& e : o.endpoints) {
    mix.push_back({{"name", e.name}, {"weight", e.weight}, {"path", e.path}});
  }
  doc["config"] = {{"target", "http://" + o.target.host + ":" + std::to_string(o.target.port) +
                                  o.target.base_path},
                   {"connections", o.connections},
                   {"ramp_up_s", o.ramp_up_s},
                   {"duration_s", o.duration_s},
                   {"max_requests", o.max_requests},
                   {"rate", o.rate},
                   {"timeout_ms", o.timeout.count()},
                   {"threads", o.threads},
                   {"customers", o.customers.size()},
                   {"mix", std::move(mix)}};
  doc["measured_s"] = r.measured_s;
  doc["overall"] = summary(r.overall(), r.measured_s);
  boost::json::object per;
  for (size_t i = 0; i < r.endpoints.size(); ++i) {
    per[o.endpoints[i].name] = summary(r.endpoints[i], r.measured_s);
  }
  doc["endpoints"] = std::move(per);
  boost::json::array timeline;
  for (size_t k = 0; k < r.timeline.size(); ++k) {
    const auto& h = r.timeline[k].latency_us;
    timeline.push_back({{"t_s", static_cast<double>(k) * r.interval_s},
                        {"per_second", static_cast<double>(h.count()) / r.interval_s},
                        {"p50_ms", ms(h.percentile(50))},
                        {"p90_ms", ms(h.percentile(90))},
                        {"p99_ms", ms(h.percentile(99))},
                        {"errors", r.timeline[k].errors}});
  }
  doc["timeline"] = std::move(timeline);
  return boost::json::serialize(doc) + "\n";
}

std::string report_svg(const RunResult& r) {
  // Two panels sharing the time axis: latency percentiles (top) and throughput (bottom).
  constexpr double W = 900, H = 560, L = 70, R = 20, T = 40, P = 200, G = 60;
  const size_t n = r.timeline.size();
  const double t_max = std::max(1.0, static_cast<double>(n) * r.interval_s);
  double lat_max = 1, rate_max = 1;
  for (const auto& iv : r.timeline) {
    lat_max = std::max(lat_max, ms(iv.latency_us.percentile(99)));
    rate_max = std::max(rate_max, static_cast<double>(iv.latency_us.count()) / r.interval_s);
  }
  lat_max *= 1.1, rate_max *= 1.1;
  auto x = [&](double t) { return L + (W - L - R) * t / t_max; };
  auto y_lat = [&](double v) { return T + P - P * v / lat_max; };
  auto y_rate = [&](double v) { return T + P + G + P - P * v / rate_max; };
  std::string s =
      fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
          "fill=\"white\"/>\n",
          W, H);
  const auto all = r.overall();
  s +=
      fmt("<text x=\"%.0f\" y=\"20\" font-size=\"14\">accrue-loadgen: %d connections, %.0f req/s, "
          "p90 %.1f ms, p99 %.1f ms, %lld errors</text>\n",
          L, r.options.connections, static_cast<double>(all.latency_us.count()) / r.measured_s,
          ms(all.latency_us.percentile(90)), ms(all.latency_us.percentile(99)),
          static_cast<long long>(all.total_errors()));
  auto axes = [&](double top, double vmax, const char* label) {
    s +=
        fmt("<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            L, top, W - L - R, P);
    for (int i = 0; i <= 4; ++i) {
      const double v = vmax * i / 4, yy = top + P - P * i / 4;
      s +=
          fmt("<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
              "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
              L, W - R, yy, yy, L - 6, yy + 4, v);
    }
    s +=
        fmt("<text x=\"14\" y=\"%.0f\" transform=\"rotate(-90 14 %.0f)\" "
            "text-anchor=\"middle\">%s</text>\n",
            top + P / 2, top + P / 2, label);
  };
  axes(T, lat_max, "latency (ms)");
  axes(T + P + G, rate_max, "requests/s");
  for (int i = 0; i <= 6; ++i) {
    const double t = t_max * i / 6;
    s += fmt("<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f s</text>\n", x(t),
             T + 2 * P + G + 18, t);
  }
  // Latency lines skip intervals without answers; the throughput line shows them as zero.
  auto line = [&](auto value, auto ymap, const char* colour, const char* name, int k,
                  bool skip_empty) {
    std::string pts;
    for (size_t i = 0; i < n; ++i) {
      if (skip_empty && r.timeline[i].latency_us.count() == 0) continue;
      pts += fmt("%.1f,%.1f ", x((static_cast<double>(i) + 0.5) * r.interval_s),
                 ymap(value(r.timeline[i])));
    }
    s += fmt("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>\n", colour,
             pts.c_str());
    s += fmt("<text x=\"%.0f\" y=\"%d\" fill=\"%s\">%s</text>\n", W - R - 70, 58 + 14 * k, colour,
             name);
  };
  line([](const IntervalResult& i) { return ms(i.latency_us.percentile(50)); }, y_lat, "#1b9e77",
       "p50", 0, true);
  line([](const IntervalResult& i) { return ms(i.latency_us.percentile(90)); }, y_lat, "#d95f02",
       "p90", 1, true);
  line([](const IntervalResult& i) { return ms(i.latency_us.percentile(99)); }, y_lat, "#7570b3",
       "p99", 2, true);
  line(
      [&](const IntervalResult& i) {
        return static_cast<double>(i.latency_us.count()) / r.interval_s;
      },
      y_rate, "#333", "", 3, false);
  s += "</svg>\n";
  return s;
}

}  // namespace accrue::loadgen
