// What a store knows about a member: no contact data, only what the till shows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/program.h"

namespace accrue {

// A member's status, one numbering for both stores of record: the agent's replica and the cloud's
// database store these numbers (customer.status), and a number never changes meaning. The agent
// knows active, blocked and provisional (enrolled at the store, no customer id from the cloud
// yet); the cloud knows active, blocked, erased and merged. The till API and the sync protocol
// have their own enum (loyalty.v1.CustomerStatus), mapped in common/wire.
enum class CustomerStatus : int16_t {
  kActive = 1,
  kBlocked = 2,
  kErased = 3,
  kMerged = 4,
  kProvisional = 5,
};

constexpr int16_t to_int(CustomerStatus s) { return static_cast<int16_t>(s); }
// Erased or merged into another member: nothing about the record can change any more.
constexpr bool is_closed(int64_t stored) {
  return stored == to_int(CustomerStatus::kErased) || stored == to_int(CustomerStatus::kMerged);
}
// "active", "blocked", "erased", "merged", "provisional" ("unknown" for a number never stored).
std::string_view status_name(int64_t stored);

struct CustomerSnapshot {
  std::string customer_id;
  CustomerStatus status = CustomerStatus::kActive;
  std::string tier_id;
  std::string display_name;
  std::string home_store_id;
  Points available_points = 0;
  Points pending_points = 0;
  TimestampMs as_of_ms = 0;
  int birthday_month = 0;
  int birthday_day = 0;
  friend bool operator==(const CustomerSnapshot&, const CustomerSnapshot&) = default;
};

}  // namespace accrue
