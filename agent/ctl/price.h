// `accruectl price`: runs the rules engine over a basket file and a program file and reports
// what a till would show, for every tier of the program. Used by the demo and by program
// authors to try a program before publishing it.
#pragma once

#include <string>

#include "common/error.h"
#include "common/time_zone.h"

namespace accrue::ctl {

struct PriceOptions {
  std::string program_json;  // canonical protobuf JSON of accrue.loyalty.v1.Program
  std::string basket_json;   // canonical protobuf JSON of accrue.loyalty.v1.Basket
  std::string tier_id;       // empty: every tier of the program
  int64_t earned_today = 0;
  int64_t balance = 0;       // the member's available points before this basket
  std::string country = {};  // the store's, for per-country rates (ISO 3166-1 alpha-2)
};

// Returns the report text. Errors name the file part at fault (program, basket).
Result<std::string> price_report(const PriceOptions& options, TimeZoneSource& zones);

}  // namespace accrue::ctl
