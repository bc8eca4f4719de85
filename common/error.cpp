#include "common/error.h"

namespace accrue {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kFailedPrecondition:
      return "failed_precondition";
    case ErrorCode::kRefused:
      return "refused";
    case ErrorCode::kInsufficientPoints:
      return "insufficient_points";
    case ErrorCode::kOutOfRange:
      return "out_of_range";
    case ErrorCode::kOverflow:
      return "overflow";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kDataLoss:
      return "data_loss";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kUnimplemented:
      return "unimplemented";
  }
  return "internal";
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kRefused:
      return 422;
    case ErrorCode::kInsufficientPoints:
      return 422;
    case ErrorCode::kOutOfRange:
      return 422;
    case ErrorCode::kOverflow:
      return 422;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kDataLoss:
      return 500;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kUnimplemented:
      return 501;
  }
  return 500;
}

int exit_code(ErrorCode code) {
  // sysexits(3): 64 usage, 65 data, 66 no input, 69 unavailable, 70 software, 73 can't create,
  // 74 I/O, 75 temporary failure, 77 permission.
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 64;
    case ErrorCode::kNotFound:
      return 66;
    case ErrorCode::kAlreadyExists:
      return 73;
    case ErrorCode::kConflict:
      return 65;
    case ErrorCode::kFailedPrecondition:
      return 65;
    case ErrorCode::kRefused:
      return 65;
    case ErrorCode::kInsufficientPoints:
      return 65;
    case ErrorCode::kOutOfRange:
      return 65;
    case ErrorCode::kOverflow:
      return 65;
    case ErrorCode::kResourceExhausted:
      return 75;
    case ErrorCode::kDeadlineExceeded:
      return 75;
    case ErrorCode::kUnavailable:
      return 69;
    case ErrorCode::kPermissionDenied:
      return 77;
    case ErrorCode::kUnauthenticated:
      return 77;
    case ErrorCode::kDataLoss:
      return 74;
    case ErrorCode::kInternal:
      return 70;
    case ErrorCode::kUnimplemented:
      return 70;
  }
  return 70;
}

bool is_retryable(ErrorCode code) {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kDeadlineExceeded ||
         code == ErrorCode::kResourceExhausted;
}

}  // namespace accrue
