// Errors at module boundaries: std::expected<T, Error> with a machine code and a message for
// people. The code decides how a caller reacts (HTTP status, socket-API status, exit code);
// the message says what went wrong in words a cashier or an operator can act on. Messages never
// contain customer identifiers or contact data.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace accrue {

enum class ErrorCode {
  kInvalidArgument,     // the input is malformed or out of its documented range
  kNotFound,            // the thing named does not exist
  kAlreadyExists,       // creating something that is already there
  kConflict,            // the same idempotency key with a different request
  kFailedPrecondition,  // the system is not in a state that allows this (blocked member, ...)
  kRefused,             // a business rule said no; the message is for the cashier
  kInsufficientPoints,  // not enough available points
  kOutOfRange,          // a value beyond a limit (returning more than sold, ...)
  kOverflow,            // arithmetic would exceed the representable range
  kResourceExhausted,   // a quota or rate limit
  kDeadlineExceeded,
  kUnavailable,  // a dependency is down; retrying later may work
  kPermissionDenied,
  kUnauthenticated,
  kDataLoss,  // storage is damaged
  kInternal,  // a bug
  kUnimplemented,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // A refusal a person at a till sees, by a stable id and its parameters ("points.insufficient",
  // {{"available", "300"}}), so that the till shows it in its own language; `message` is the
  // same in English. Empty for errors that are not such refusals. See refusal().
  std::string message_id = {};
  std::vector<std::pair<std::string, std::string>> params = {};

  friend bool operator==(const Error&, const Error&) = default;
};

// A value, or the Error that kept it from being made. A class rather than an alias of
// std::expected so that it can be [[nodiscard]]: a Result dropped on the floor is an error
// dropped on the floor, and the compiler says so (an error in the test command's builds; write
// `(void)` where dropping one is meant).
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(std::expected<T, Error> e) : std::expected<T, Error>(std::move(e)) {}  // NOLINT
};

// Shorthand for returning an error: `return fail(ErrorCode::kNotFound, "no such program");`
inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

// Stable lower-case name, e.g. "invalid_argument"; used in logs, metrics and reject codes.
std::string_view to_string(ErrorCode code);

// A refusal for the till: `return refusal(ErrorCode::kInsufficientPoints, "points.insufficient",
// {{"available", "300"}}, "Not enough points: 300 available.");` (the catalogue of ids:
// proto/README.md).
inline std::unexpected<Error> refusal(ErrorCode code, std::string message_id,
                                      std::vector<std::pair<std::string, std::string>> params,
                                      std::string message) {
  return std::unexpected<Error>(
      Error{code, std::move(message), std::move(message_id), std::move(params)});
}

// Propagates the error of an expression yielding a Result<...>; the value, if any, is dropped.
#define ACCRUE_TRY(expr)                  \
  do {                                    \
    if (auto r_ = (expr); !r_) {          \
      return std::unexpected(r_.error()); \
    }                                     \
  } while (false)

// Declares `decl` from the value of an expression yielding a Result<...>, or propagates its
// error: `ACCRUE_ASSIGN_OR_RETURN(auto zone, zones.load(name));`. The temporary is named after
// the line, so two uses in one scope do not clash.
#define ACCRUE_ASSIGN_OR_RETURN(decl, expr) \
  ACCRUE_ASSIGN_OR_RETURN_IMPL_(ACCRUE_CONCAT_(accrue_r_, __LINE__), decl, expr)
#define ACCRUE_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr)      \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  decl = std::move(*tmp)
#define ACCRUE_CONCAT_(a, b) ACCRUE_CONCAT_INNER_(a, b)
#define ACCRUE_CONCAT_INNER_(a, b) a##b

// The one place each boundary's mapping lives (the till API's: common/wire/pos_error.h).
int http_status(ErrorCode code);    // e.g. kNotFound -> 404, kRefused -> 422
int exit_code(ErrorCode code);      // sysexits(3) style: kInvalidArgument -> 64 (EX_USAGE) ...
bool is_retryable(ErrorCode code);  // the same request may succeed later

}  // namespace accrue
