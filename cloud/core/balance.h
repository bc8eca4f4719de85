// A customer's points as the cloud reports them (head-office reads, the change feed to stores):
// from the balance (the sum of the ledger) and the open lots. Points spent beyond what the lots
// held (an offline redemption, a return after spending) are owed and come off what is available.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/engine/lots.h"

namespace accrue::cloud {

inline constexpr int64_t kExpiringHorizonMs = 30LL * 86'400'000;

struct CustomerPoints {
  int64_t available = 0;
  int64_t pending = 0;
  int64_t expiring = 0;  // within kExpiringHorizonMs
  TimestampMs expiring_at_ms = kNeverExpires;
};

CustomerPoints customer_points(int64_t balance_points, const std::vector<Lot>& open_lots,
                               TimestampMs now);

// SQL for one text column listing a customer's open lots ("earned:available:expires:remaining"
// items, comma separated; expires -1 = never), given `c.customer_id` in scope, and its parser.
extern const char* const kOpenLotsColumn;
std::vector<Lot> parse_open_lots(std::string_view column);

}  // namespace accrue::cloud
