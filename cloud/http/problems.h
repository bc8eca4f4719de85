// The problem types the public APIs answer (RFC 9457 problem+json, "/problems/<name>", each
// listed in cloud/openapi/openapi.yaml). A problem type is a kind of ErrorCode: its HTTP status
// comes from that code through the one mapping (common/error.h http_status), refined only where
// HTTP has a more precise status of its own (415, 412, and 422 for a body that parses but does
// not validate). No handler writes an HTTP status for an error: it names the problem, or hands
// over the Error a lower layer returned.
#pragma once

#include <boost/json/object.hpp>
#include <span>
#include <string_view>

#include "cloud/http/message.h"
#include "common/error.h"

namespace accrue::cloud::http {

enum class Problem {
  // The request itself.
  kMalformedBody,         // not parseable JSON / protobuf, or a bad query parameter
  kUnsupportedMediaType,  // Content-Type or Content-Encoding the operation does not take
  kPayloadTooLarge,       // the body inflates beyond the limit
  kValidation,            // parses, but fields are wrong ("errors": [{field, detail}])
  kBadCustomerId,
  kBadStoreId,
  kBadAgentId,
  kBadIdempotencyKey,
  kTooManyItems,
  // Who asks.
  kUnauthenticated,
  kForbidden,
  kRateLimited,
  // The state of things.
  kNotFound,
  kCustomerErased,
  kIdentifierTaken,
  kStoreExists,
  kSegmentExists,
  kDraftPublished,
  kReturnNotHeld,
  kTransfersNotAllowed,
  kStaleRevision,
  kIdempotencyInProgress,
  kIdempotencyKeyReused,
  kInsufficientPoints,
  kAdjustmentRefused,
  kRewardRefused,      // a claim the reward's rules refuse ("message_id" says which)
  kRewardOutOfStock,   // every coupon of the reward's stock is issued
  kCouponNotVoidable,  // used or voided already
  kOrderConflict,      // the order id (or return id) was booked with other content
  kReturnRefused,      // the return asks for more than the order has left, or a line it lacks
  kOverdraftSettled,   // nothing outstanding to write off (or it changed meanwhile)
  kLoginTaken,         // the sign-in is linked to another member
  // The service.
  kAuditUnavailable,
  kSearchUnavailable,
  kDraining,
};

struct ProblemKind {
  Problem problem;
  std::string_view name;  // "/problems/<name>"
  ErrorCode code;
  int status;  // http_status(code) unless HTTP has a more precise one
};

const ProblemKind& kind_of(Problem p);
// Every problem type, in declaration order (the OpenAPI document's test walks it).
std::span<const ProblemKind> problem_kinds();

// The answer for a named problem, with extension members (e.g. "errors", "field").
Response problem(const Request& req, const RequestContext& ctx, Problem p, std::string_view detail,
                 boost::json::object extra = {});

}  // namespace accrue::cloud::http
