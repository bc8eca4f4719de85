// Customer status in the cloud's SQL (common/customer.h gives the numbers): the fragments the
// queries share, so no statement spells a status as a bare number.
#pragma once

#include <string>

#include "common/customer.h"

namespace accrue::cloud {

// Members a store is served and a search shows by default: active or blocked (not erased, not
// merged), as an SQL list: "(1, 2)".
inline const std::string kServedStatusesSql =
    "(" + std::to_string(to_int(CustomerStatus::kActive)) + ", " +
    std::to_string(to_int(CustomerStatus::kBlocked)) + ")";

inline std::string status_sql(CustomerStatus s) { return std::to_string(to_int(s)); }

}  // namespace accrue::cloud
