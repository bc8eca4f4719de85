// What a handler sees and returns: a Beast request and response with string bodies, plus the
// facts about the caller the server established (request id, authenticated store). Handlers know
// nothing of the connection; the server owns sockets, deadlines, limits and keep-alive.
#pragma once

#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace accrue::cloud::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

// A streamed body: called again and again on a worker thread, each call gives the next chunk;
// an empty optional ends the body. An error ends the response abruptly (the client sees a
// truncated chunked body, never a complete-looking one) and is logged.
using BodyStream = std::function<Result<std::optional<std::string>>()>;

struct RequestContext {
  std::string request_id;           // X-Request-Id from the caller, or one made up here
  std::string route;                // the route's name, for logs and metrics
  std::vector<std::string> params;  // the {placeholders} of the route, in order
  std::string tls_store_id;         // the store named by a verified client certificate
  // Set by a handler whose answer is too large to build in memory (a CSV export): the response
  // it returns gives status and headers, and the body is sent chunked from this stream, pulled
  // one chunk at a time so memory stays flat whatever the size.
  BodyStream stream;
};

using Handler = std::function<Response(const Request&, RequestContext&)>;

// RFC 9457 problem+json: {"type","title","status","detail","request_id"}. `code` picks the status
// (one mapping, common/error.h) and the title.
Response problem(const Request& req, const RequestContext& ctx, const Error& error);
Response problem(const Request& req, const RequestContext& ctx, bhttp::status status,
                 std::string_view detail);
// A problem of a named type ("/problems/<type>", each listed in the OpenAPI document) with
// extension members, e.g. "errors": [{"field": "/email", "detail": "..."}] for a body that does
// not validate.
Response problem(const Request& req, const RequestContext& ctx, bhttp::status status,
                 std::string_view type, std::string_view detail, boost::json::object extra = {});
// A JSON body with status 200 (or `status`).
Response json(const Request& req, std::string body, bhttp::status status = bhttp::status::ok);
Response bytes(const Request& req, std::string body, std::string_view content_type,
               bhttp::status status = bhttp::status::ok);

}  // namespace accrue::cloud::http
