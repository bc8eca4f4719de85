#include "common/wire/pos_error.h"

namespace accrue::wire {

pos::v1::ErrorCode pos_error_code(ErrorCode code) {
  using P = pos::v1::ErrorCode;
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return P::ERROR_CODE_INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return P::ERROR_CODE_NOT_FOUND;
    case ErrorCode::kAlreadyExists:
      return P::ERROR_CODE_ALREADY_EXISTS;
    case ErrorCode::kConflict:
      return P::ERROR_CODE_CONFLICT;
    case ErrorCode::kFailedPrecondition:
      return P::ERROR_CODE_FAILED_PRECONDITION;
    case ErrorCode::kRefused:
      return P::ERROR_CODE_REFUSED;
    case ErrorCode::kInsufficientPoints:
      return P::ERROR_CODE_INSUFFICIENT_POINTS;
    case ErrorCode::kOutOfRange:
      return P::ERROR_CODE_OUT_OF_RANGE;
    case ErrorCode::kOverflow:
      return P::ERROR_CODE_OUT_OF_RANGE;
    case ErrorCode::kResourceExhausted:
      return P::ERROR_CODE_RESOURCE_EXHAUSTED;
    case ErrorCode::kDeadlineExceeded:
      return P::ERROR_CODE_DEADLINE_EXCEEDED;
    case ErrorCode::kUnavailable:
      return P::ERROR_CODE_UNAVAILABLE;
    case ErrorCode::kPermissionDenied:
      return P::ERROR_CODE_PERMISSION_DENIED;
    case ErrorCode::kUnauthenticated:
      return P::ERROR_CODE_UNAUTHENTICATED;
    case ErrorCode::kDataLoss:
      return P::ERROR_CODE_DATA_LOSS;
    case ErrorCode::kInternal:
      return P::ERROR_CODE_INTERNAL;
    case ErrorCode::kUnimplemented:
      return P::ERROR_CODE_UNIMPLEMENTED;
  }
  return P::ERROR_CODE_INTERNAL;
}

ErrorCode error_code_from_pos(pos::v1::ErrorCode code) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kUnimplemented); ++i) {
    auto c = static_cast<ErrorCode>(i);
    if (c != ErrorCode::kOverflow && pos_error_code(c) == code) return c;
  }
  return ErrorCode::kInternal;
}

pos::v1::Error to_pos_error(const Error& error) {
  pos::v1::Error out;
  out.set_code(pos_error_code(error.code));
  out.set_message(error.message);
  out.set_retryable(is_retryable(error.code));
  out.set_message_id(error.message_id);
  for (const auto& [name, value] : error.params) (*out.mutable_params())[name] = value;
  return out;
}

}  // namespace accrue::wire
