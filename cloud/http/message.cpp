#include "cloud/http/message.h"

#include <boost/json.hpp>

#include "common/sys/log.h"

namespace accrue::cloud::http {

namespace {

Response base(const Request& req, bhttp::status status) {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "accrue-cloud");
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace

Response problem(const Request& req, const RequestContext& ctx, bhttp::status status,
                 std::string_view detail) {
  return problem(req, ctx, status, "", detail);
}

Response problem(const Request& req, const RequestContext& ctx, bhttp::status status,
                 std::string_view type, std::string_view detail, boost::json::object extra) {
  Response res = base(req, status);
  res.set(bhttp::field::content_type, "application/problem+json");
  boost::json::object o = std::move(extra);
  o["type"] = type.empty() ? std::string("about:blank") : "/problems/" + std::string(type);
  o["title"] = std::string(bhttp::obsolete_reason(status));
  o["status"] = static_cast<int>(status);
  o["detail"] = detail;
  if (!ctx.request_id.empty()) o["request_id"] = ctx.request_id;
  res.body() = boost::json::serialize(o);
  if (status == bhttp::status::service_unavailable || status == bhttp::status::too_many_requests) {
    res.set(bhttp::field::retry_after, "1");
  }
  res.prepare_payload();
  return res;
}

Response problem(const Request& req, const RequestContext& ctx, const Error& error) {
  auto status = static_cast<bhttp::status>(http_status(error.code));
  if (status == bhttp::status::internal_server_error) {
    // What went wrong inside (a database message, say) goes to the log, not to the client.
    log(LogLevel::kError, "internal_error",
        {{"route", ctx.route}, {"request_id", ctx.request_id}, {"error", error.message}});
    return problem(req, ctx, status, "internal error; the request id is in the server log");
  }
  return problem(req, ctx, status, error.message);
}

Response json(const Request& req, std::string body, bhttp::status status) {
  return bytes(req, std::move(body), "application/json", status);
}

Response bytes(const Request& req, std::string body, std::string_view content_type,
               bhttp::status status) {
  Response res = base(req, status);
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace accrue::cloud::http
