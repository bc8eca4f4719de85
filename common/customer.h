// What a store knows about a member: no contact data, only what the till shows.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/program.h"

namespace accrue {

enum class CustomerStatus { kActive, kBlocked, kProvisional };

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
