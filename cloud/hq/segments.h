// Segment definitions and their translation to SQL over customer c JOIN balance b.
//
//   {"statuses": ["active"], "tiers": ["gold"], "home_stores": ["S1"],
//    "points": {"min": 100, "max": 5000},
//    "enrolled": {"from": "2026-01-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"},
//    "last_purchase_days": {"min": 0, "max": 30},
//    "activity": {"days": 90, "currency": "EUR", "purchases": {"min": 2}, "spend_minor": {"min":
//    10000}}}
//
// Every part is optional and they combine with AND; statuses default to active. `activity` counts
// the member's receipts (sales) in the last `days` days (in `currency` only, when given).
// `last_purchase_days` compares the days since the member's last purchase; members who never
// bought are outside any such range.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cloud/hq/json_input.h"
#include "cloud/pg/pg.h"

namespace accrue::cloud::hq {

struct SegmentSql {
  std::string join;   // extra FROM items (a LATERAL over receipts for `activity`)
  std::string where;  // conditions, "TRUE" when none
};

// Checks `definition` (errors under `at`, e.g. "/definition/points/min") and compiles it; its
// parameters are appended to `values` and referenced as $n.
std::optional<SegmentSql> compile_segment(const boost::json::object& definition,
                                          FieldErrors& errors, std::vector<std::string>& values,
                                          const std::string& at = "/definition");

// The saved segment `id` compiled (its parameters appended to `values`); kNotFound.
Result<SegmentSql> segment_sql(pg::Connection& c, const std::string& id,
                               std::vector<std::string>& values);

}  // namespace accrue::cloud::hq
