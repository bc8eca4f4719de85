// The customer's rows as head office reads and changes them (customer, customer_pii, balance,
// identifier), one function per statement, so that the handlers in customers_api.cpp read as
// what they decide. Every function runs in the caller's connection and transaction.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cloud/hq/customer_input.h"
#include "cloud/pg/pg.h"
#include "common/customer.h"

namespace accrue::cloud::hq {

// The details document (GET /v1/customers/{id}/details) and the revision; kNotFound.
Result<std::pair<boost::json::object, int64_t>> customer_details(pg::Connection& c,
                                                                 const std::string& id);

// The customer's row, locked for the rest of the transaction; kNotFound.
struct LockedCustomer {
  int64_t status = 0;  // CustomerStatus, as stored
  int64_t revision = 0;
  std::string country;
  std::string tier_id;
};
Result<LockedCustomer> lock_customer(pg::Connection& c, const std::string& id);

Result<bool> store_exists(pg::Connection& c, const std::string& store_id);
Result<bool> identifier_taken(pg::Connection& c, const IdentifierHash& hash);

// A new member: her customer, balance and customer_pii rows and her identifiers.
Result<void> insert_customer(pg::Connection& c, const std::string& id, const std::string& tier_id,
                             const ProfileInput& profile, const std::vector<NewIdentifier>& ids);
// One more identifier of member `id` (the caller checked it is free).
Result<void> insert_identifier(pg::Connection& c, const std::string& id, const NewIdentifier& x);
// The points of the provisional accruals against `hash` that member `id` claimed.
Result<int64_t> claimed_points(pg::Connection& c, const std::string& id,
                               const IdentifierHash& hash);
// The changed profile columns; the revision moves on.
Result<void> update_profile(pg::Connection& c, const std::string& id, const ProfileInput& profile);
Result<void> set_status(pg::Connection& c, const std::string& id, CustomerStatus status,
                        const std::string& reason);
// The manual floor (nullopt clears it) and the tier it leaves the member in.
Result<void> set_tier_floor(pg::Connection& c, const std::string& id,
                            const std::optional<std::string>& floor, const std::string& tier_id);

}  // namespace accrue::cloud::hq
