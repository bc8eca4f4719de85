// The kinds of ledger entry, one numbering for the store's replica (ledger.kind), the cloud's
// ledger (ledger.kind, smallint) and the till API (accrue.pos.v1.TransactionKind, 1 to 6).
// A number never changes meaning: stored rows and old agents keep it.
#pragma once

#include <cstdint>
#include <iterator>
#include <string_view>
#include <utility>

namespace accrue {

enum class LedgerKind : int16_t {
  kAccrual = 1,           // a sale's points (or a provisional accrual against an identifier hash)
  kRedemption = 2,        // points spent at a till
  kReturn = 3,            // a sale's points given back
  kEnrolmentBonus = 4,    // the programme's welcome points
  kAdjustment = 5,        // head office, with a reason and an actor
  kExpiry = 6,            // points that reached their lot's expiry
  kClaimed = 7,           // cloud only: a provisional accrual claimed by the member who enrolled
  kRedemptionRefund = 8,  // cloud only: points redeemed on a sale that its return gave back
};

constexpr int16_t to_int(LedgerKind k) { return std::to_underlying(k); }

// The name head office's API shows for a stored kind; "unknown" for a number it does not know.
constexpr std::string_view ledger_kind_name(int64_t kind) {
  constexpr std::string_view kNames[] = {
      "",           "accrual", "redemption",          "return",           "enrolment_bonus",
      "adjustment", "expiry",  "provisional_claimed", "redemption_refund"};
  return kind >= 1 && kind < static_cast<int64_t>(std::size(kNames)) ? kNames[kind] : "unknown";
}

}  // namespace accrue
