#include "cloud/sync/routes.h"

#include <zlib.h>

#include <charconv>

#include "cloud/auth/jwt.h"
#include "cloud/http/problems.h"
#include "common/engine/basket.h"
#include "common/sys/log.h"

namespace accrue::cloud {

namespace bhttp = http::bhttp;
using http::Problem;

namespace {

constexpr const char* kRecordAgentReport =
    "UPDATE agent SET reported_at = now(), last_seen_at = now(), outbox_depth = $3::bigint, "
    "quarantined = $4::bigint, oldest_pending_at = CASE WHEN $5::bigint IS NULL THEN NULL ELSE "
    "to_timestamp($5::bigint / 1000.0) END, program = $6 WHERE agent_id = $1 AND store_id = $2 "
    "RETURNING revoked_at IS NOT NULL";

bool is_protobuf(std::string_view content_type) {
  return content_type == "application/x-protobuf" || content_type == "application/protobuf";
}

http::Response protobuf(const http::Request& req, const google::protobuf::Message& m) {
  return http::bytes(req, m.SerializeAsString(), "application/x-protobuf");
}

// ?agent=: at most 64 characters ("" when absent).
Result<std::string> agent_param(const http::Request& req) {
  std::string agent = http::query_param(req.target(), "agent").value_or("");
  if (agent.size() > 64) return fail(ErrorCode::kInvalidArgument, "agent: at most 64 characters");
  return agent;
}

// A call the till waits for (redeem, claim, return): one protobuf request, decided by `decide`,
// its answer in protobuf.
template <class Request, class Decide>
http::Response online_call(const http::Request& req, http::RequestContext& ctx, Decide decide) {
  if (!is_protobuf(req[bhttp::field::content_type])) {
    return http::problem(
        req, ctx, Problem::kUnsupportedMediaType,
        "send the " + Request::descriptor()->name() + " as application/x-protobuf");
  }
  Request request;
  if (!request.ParseFromArray(req.body().data(), static_cast<int>(req.body().size()))) {
    return http::problem(req, ctx, Problem::kMalformedBody,
                         "the body is not a valid " + Request::descriptor()->full_name());
  }
  auto r = decide(request);
  if (!r) return http::problem(req, ctx, r.error());
  return protobuf(req, *r);
}

}  // namespace

Result<std::string> inflate_body(std::string_view in, size_t limit) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {  // +32: gzip or zlib header, detected
    return fail(ErrorCode::kInternal, "zlib: inflateInit2 failed");
  }
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return fail(ErrorCode::kInvalidArgument, "the gzip body is corrupt or truncated");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > limit) {
      inflateEnd(&zs);
      return fail(ErrorCode::kOutOfRange,
                  "the body inflates beyond " + std::to_string(limit) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return fail(ErrorCode::kInvalidArgument, "the gzip body is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

void SyncRoutes::add_routes(http::Router& r) {
  r.add(bhttp::verb::get, "/v1/sync/changes", "sync.changes", for_store(&SyncRoutes::changes));
  r.add(bhttp::verb::get, "/v1/sync/lookup", "sync.lookup", for_store(&SyncRoutes::lookup));
  r.add(bhttp::verb::post, "/v1/sync/redeem", "sync.redeem", for_store(&SyncRoutes::redeem));
  r.add(bhttp::verb::post, "/v1/sync/claim", "sync.claim", for_store(&SyncRoutes::claim));
  r.add(bhttp::verb::post, "/v1/sync/return", "sync.return", for_store(&SyncRoutes::return_sale));
  r.add(bhttp::verb::post, "/v1/sync/events", "sync.events", for_store(&SyncRoutes::events));
}

http::Handler SyncRoutes::for_store(Handler handler) {
  return [this, handler](const http::Request& req, http::RequestContext& ctx) {
    auto store = authenticate_store(req, ctx);
    if (!store) {
      auto res = http::problem(req, ctx, store.error());
      res.set(bhttp::field::www_authenticate, "Bearer");
      return res;
    }
    return (this->*handler)(req, ctx, *store);
  };
}

Result<std::string> SyncRoutes::authenticate_store(const http::Request& req,
                                                   const http::RequestContext& ctx) const {
  // A verified client certificate names the store (mutual TLS); its common name must be a
  // store id.
  if (!ctx.tls_store_id.empty()) {
    if (!valid_store_id(ctx.tls_store_id)) {
      return fail(ErrorCode::kUnauthenticated,
                  "the client certificate's common name is not a store id");
    }
    return ctx.tls_store_id;
  }
  if (!d_.store_tokens) {
    return fail(ErrorCode::kUnauthenticated,
                "store authentication is not configured on this server");
  }
  auto h = req[bhttp::field::authorization];
  if (!h.starts_with("Bearer ")) {
    return fail(ErrorCode::kUnauthenticated, "a store token is required (Authorization: Bearer)");
  }
  return d_.store_tokens->verify(h.substr(7), d_.clock.now_ms());
}

Result<void> SyncRoutes::record_agent_report(const http::Request& req, const std::string& store,
                                             const std::string& agent) {
  auto number = [&](const char* name) -> std::optional<std::string> {
    auto v = http::query_param(req.target(), name);
    if (!v || v->empty() || v->size() > 18 ||
        v->find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return v;
  };
  auto outbox = number("outbox");
  auto quarantined = number("quarantined");
  auto oldest = number("oldest_ms");
  // A store's clock may be anything: a time PostgreSQL cannot hold is dropped, not an error.
  if (oldest && std::stoll(*oldest) >= kMaxTimestampMs) oldest.reset();
  auto program = http::query_param(req.target(), "program");
  if (program && program->size() > 100) program.reset();
  ACCRUE_ASSIGN_OR_RETURN(auto lease, d_.pool.acquire());
  auto opt = [](const std::optional<std::string>& v) {
    return v ? pg::Param::text(*v) : pg::Param::null();
  };
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      lease->query(kRecordAgentReport, {pg::Param::text(agent), pg::Param::text(store), opt(outbox),
                                        opt(quarantined), opt(oldest), opt(program)}));
  if (r.rows() == 1 && r.boolean(0, 0)) {
    return fail(ErrorCode::kPermissionDenied, "agent " + agent + " was revoked by head office");
  }
  return {};
}

http::Response SyncRoutes::changes(const http::Request& req, http::RequestContext& ctx,
                                   const std::string& store) {
  std::string cursor;
  auto c = http::query_param(req.target(), "cursor");
  const bool given = req.target().find("cursor=") != std::string_view::npos;
  if (given && !c) {
    return http::problem(req, ctx, Problem::kMalformedBody,
                         "cursor: not one this service handed out");
  }
  if (c && !c->empty()) {
    auto raw = auth::base64url_decode(*c);
    if (!raw) {
      return http::problem(req, ctx, Problem::kMalformedBody,
                           "cursor: not one this service handed out");
    }
    cursor = std::move(*raw);
  }
  uint32_t max = 0;
  if (auto m = http::query_param(req.target(), "max")) {
    auto [p, ec] = std::from_chars(m->data(), m->data() + m->size(), max);
    if (ec != std::errc() || p != m->data() + m->size() || max == 0 || max > 5000) {
      return http::problem(req, ctx, Problem::kMalformedBody, "max: from 1 to 5000");
    }
  }
  auto agent = agent_param(req);
  if (!agent) return http::problem(req, ctx, Problem::kBadAgentId, agent.error().message);
  if (!agent->empty()) {
    if (auto reported = record_agent_report(req, store, *agent); !reported) {
      if (reported.error().code == ErrorCode::kPermissionDenied) {
        return http::problem(req, ctx, Problem::kForbidden, reported.error().message);
      }
      return http::problem(req, ctx, reported.error());
    }
  }
  auto page = d_.feed.page(store, cursor, max, *agent);
  if (!page) return http::problem(req, ctx, page.error());
  // The cursor travels back in a query string: hand it out in base64url.
  page->set_next_cursor(auth::base64url_encode(page->next_cursor()));
  return protobuf(req, *page);
}

http::Response SyncRoutes::lookup(const http::Request& req, http::RequestContext& ctx,
                                  const std::string& store) {
  auto hex = http::query_param(req.target(), "identifier");
  std::string hash;
  if (hex && hex->size() == 64) {
    for (size_t i = 0; i < 64; i += 2) {
      unsigned v = 0;
      auto [p, ec] = std::from_chars(hex->data() + i, hex->data() + i + 2, v, 16);
      if (ec != std::errc() || p != hex->data() + i + 2) break;
      hash.push_back(static_cast<char>(v));
    }
  }
  if (hash.size() != 32) {
    return http::problem(req, ctx, Problem::kMalformedBody,
                         "identifier: the 32-byte keyed hash as 64 hexadecimal digits");
  }
  auto agent = agent_param(req);
  if (!agent) return http::problem(req, ctx, Problem::kBadAgentId, agent.error().message);
  auto r = d_.feed.lookup(store, hash, *agent);
  if (!r) return http::problem(req, ctx, r.error());
  if (!r->found()) {
    return http::problem(req, ctx, Problem::kNotFound, "no customer has this identifier");
  }
  return protobuf(req, *r);
}

http::Response SyncRoutes::redeem(const http::Request& req, http::RequestContext& ctx,
                                  const std::string& store) {
  return online_call<sync::v1::OnlineRedeemRequest>(
      req, ctx, [&](const auto& request) { return d_.ingest.redeem_online(request, store); });
}

http::Response SyncRoutes::claim(const http::Request& req, http::RequestContext& ctx,
                                 const std::string& store) {
  return online_call<sync::v1::OnlineClaimRequest>(
      req, ctx, [&](const auto& request) { return d_.ingest.claim_online(request, store); });
}

http::Response SyncRoutes::return_sale(const http::Request& req, http::RequestContext& ctx,
                                       const std::string& store) {
  return online_call<sync::v1::OnlineReturnRequest>(
      req, ctx, [&](const auto& request) { return d_.ingest.return_online(request, store); });
}

http::Response SyncRoutes::events(const http::Request& req, http::RequestContext& ctx,
                                  const std::string& store) {
  if (!is_protobuf(req[bhttp::field::content_type])) {
    return http::problem(req, ctx, Problem::kUnsupportedMediaType,
                         "send the EventBatch as application/x-protobuf");
  }
  std::string_view body = req.body();
  std::string inflated;
  auto enc = req[bhttp::field::content_encoding];
  if (enc == "gzip") {
    auto r = inflate_body(body, d_.config.max_inflated_bytes);
    if (!r) {
      return http::problem(req, ctx,
                           r.error().code == ErrorCode::kOutOfRange ? Problem::kPayloadTooLarge
                                                                    : Problem::kMalformedBody,
                           r.error().message);
    }
    inflated = std::move(*r);
    body = inflated;
  } else if (!enc.empty() && enc != "identity") {
    return http::problem(req, ctx, Problem::kUnsupportedMediaType,
                         "Content-Encoding must be gzip or identity");
  }
  sync::v1::EventBatch batch;
  if (!batch.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return http::problem(req, ctx, Problem::kMalformedBody,
                         "the body is not a valid accrue.sync.v1.EventBatch");
  }
  auto result = d_.ingest.apply(batch, store);
  if (!result) {
    if (result.error().code == ErrorCode::kInternal) {
      log(LogLevel::kError, "ingest_failed",
          {{"request_id", ctx.request_id}, {"store", store}, {"error", result.error().message}});
      return http::problem(req, ctx, Error{ErrorCode::kInternal, "the batch could not be applied"});
    }
    return http::problem(req, ctx, result.error());
  }
  return protobuf(req, *result);
}

}  // namespace accrue::cloud
