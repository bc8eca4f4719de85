// What head office may say about a member when it creates or updates one: the profile fields
// (contact data, birthday, consents, home store, country, currency) and the identifiers a new
// member brings, each read strictly and normalised as the stores normalise them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cloud/hq/json_input.h"
#include "common/identifier.h"

namespace accrue::cloud::hq {

inline constexpr int kMaxIdentifiers = 10;

// A column and its new value (nullopt: NULL).
using Column = std::pair<std::string, std::optional<std::string>>;

struct ProfileInput {
  std::vector<Column> pii;       // customer_pii
  std::vector<Column> customer;  // customer
  std::vector<std::string> fields;
  std::optional<std::string> home_store;  // to check it exists
};

// The profile fields of create and update (update: every field optional, null clears a
// nullable one). Identifiers, status, tier and points are other operations. Phones are read with
// the body's country, else `default_country`.
ProfileInput read_profile(ObjectReader& in, const std::optional<std::string>& default_country);

// An identifier given with a new member: normalised, masked for display and hashed.
struct NewIdentifier {
  IdentifierKind kind;
  std::string masked;
  IdentifierHash hash;
};

// One identifier object {kind, value} at `at` (phones read with `country`); nullopt with the
// problems in `errors`. Without `hasher` (no programme key) identifiers are refused.
std::optional<NewIdentifier> read_identifier(ObjectReader& in, FieldErrors& errors,
                                             const std::string& at, const std::string& country,
                                             const std::optional<IdentifierHasher>& hasher);

// The create body's identifiers (phones read with the profile's country); problems go to
// `errors`, each at its field. Without `hasher` (no programme key) identifiers are refused.
std::vector<NewIdentifier> read_new_identifiers(ObjectReader& in, FieldErrors& errors,
                                                const ProfileInput& profile,
                                                const std::optional<IdentifierHasher>& hasher);

// How an identifier is shown to head office: "•••• 1234", "+49•••89", "a•••@example.com".
std::string masked(IdentifierKind kind, const std::string& v);

}  // namespace accrue::cloud::hq
