#include "cloud/http/problems.h"

#include <array>

namespace accrue::cloud::http {

namespace {

using C = ErrorCode;
using P = Problem;

constexpr int kFromCode = 0;

// Status kFromCode: the ErrorCode's own (common/error.cpp). The refinements are the statuses
// HTTP names for exactly that case.
constexpr std::array<ProblemKind, 35> kKinds{{
    {P::kMalformedBody, "malformed-body", C::kInvalidArgument, kFromCode},
    {P::kUnsupportedMediaType, "unsupported-media-type", C::kInvalidArgument, 415},
    {P::kPayloadTooLarge, "payload-too-large", C::kOutOfRange, 413},
    {P::kValidation, "validation", C::kInvalidArgument, 422},
    {P::kBadCustomerId, "bad-customer-id", C::kInvalidArgument, kFromCode},
    {P::kBadStoreId, "bad-store-id", C::kInvalidArgument, kFromCode},
    {P::kBadAgentId, "bad-agent-id", C::kInvalidArgument, kFromCode},
    {P::kBadIdempotencyKey, "bad-idempotency-key", C::kInvalidArgument, kFromCode},
    {P::kTooManyItems, "too-many-items", C::kOutOfRange, kFromCode},
    {P::kUnauthenticated, "unauthenticated", C::kUnauthenticated, kFromCode},
    {P::kForbidden, "forbidden", C::kPermissionDenied, kFromCode},
    {P::kRateLimited, "rate-limited", C::kResourceExhausted, kFromCode},
    {P::kNotFound, "not-found", C::kNotFound, kFromCode},
    {P::kCustomerErased, "customer-erased", C::kFailedPrecondition, kFromCode},
    {P::kIdentifierTaken, "identifier-taken", C::kAlreadyExists, kFromCode},
    {P::kStoreExists, "store-exists", C::kAlreadyExists, kFromCode},
    {P::kSegmentExists, "segment-exists", C::kAlreadyExists, kFromCode},
    {P::kDraftPublished, "draft-published", C::kFailedPrecondition, kFromCode},
    {P::kReturnNotHeld, "return-not-held", C::kFailedPrecondition, kFromCode},
    {P::kTransfersNotAllowed, "transfers-not-allowed", C::kFailedPrecondition, kFromCode},
    {P::kStaleRevision, "stale-revision", C::kFailedPrecondition, 412},
    {P::kIdempotencyInProgress, "idempotency-in-progress", C::kConflict, kFromCode},
    {P::kIdempotencyKeyReused, "idempotency-key-reused", C::kConflict, 422},
    {P::kInsufficientPoints, "insufficient-points", C::kInsufficientPoints, kFromCode},
    {P::kAdjustmentRefused, "adjustment-refused", C::kRefused, kFromCode},
    {P::kRewardRefused, "reward-refused", C::kFailedPrecondition, kFromCode},
    {P::kRewardOutOfStock, "reward-out-of-stock", C::kConflict, kFromCode},
    {P::kCouponNotVoidable, "coupon-not-voidable", C::kFailedPrecondition, kFromCode},
    {P::kOrderConflict, "order-conflict", C::kConflict, kFromCode},
    {P::kReturnRefused, "return-refused", C::kOutOfRange, kFromCode},
    {P::kOverdraftSettled, "overdraft-settled", C::kFailedPrecondition, kFromCode},
    {P::kLoginTaken, "login-taken", C::kAlreadyExists, kFromCode},
    {P::kAuditUnavailable, "audit-unavailable", C::kUnavailable, kFromCode},
    {P::kSearchUnavailable, "search-unavailable", C::kUnavailable, kFromCode},
    {P::kDraining, "draining", C::kUnavailable, kFromCode},
}};

constexpr bool in_declaration_order() {
  for (size_t i = 0; i < kKinds.size(); ++i) {
    if (static_cast<size_t>(kKinds[i].problem) != i) return false;
  }
  return static_cast<size_t>(P::kDraining) + 1 == kKinds.size();
}
static_assert(in_declaration_order(), "kKinds lists every Problem once, in declaration order");

}  // namespace

const ProblemKind& kind_of(Problem p) { return kKinds[static_cast<size_t>(p)]; }

std::span<const ProblemKind> problem_kinds() { return kKinds; }

Response problem(const Request& req, const RequestContext& ctx, Problem p, std::string_view detail,
                 boost::json::object extra) {
  const ProblemKind& k = kind_of(p);
  const int status = k.status == kFromCode ? http_status(k.code) : k.status;
  return problem(req, ctx, static_cast<bhttp::status>(status), k.name, detail, std::move(extra));
}

}  // namespace accrue::cloud::http
