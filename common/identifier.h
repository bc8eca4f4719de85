// Customer identifiers as a till sees them (card number, phone, e-mail, app QR token), their
// normalised form, and the keyed hash that is all the store ever keeps (invariant "no raw
// identifiers at the edge", docs/architecture.md).
//
// Normalisation makes the same person's identifier hash the same however it was typed:
//   card  -> digits only (spaces and dashes dropped), 6..24 digits, no Luhn check
//   phone -> E.164 "+<country><number>"; national numbers use the store's default country
//   email -> trimmed, lower-cased, one '@', a dotted domain, at most 254 characters
//   qr    -> trimmed, 8..512 printable ASCII characters, case kept
// Errors name the field and never repeat the identifier itself (it may be personal data).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/hex.h"

namespace accrue {

enum class IdentifierKind { kCard, kPhone, kEmail, kQrToken };

std::string_view to_string(IdentifierKind kind);  // "card", "phone", "email", "qr"
Result<IdentifierKind> identifier_kind_from_string(std::string_view name);

struct NormalizedIdentifier {
  IdentifierKind kind;
  std::string value;
  friend bool operator==(const NormalizedIdentifier&, const NormalizedIdentifier&) = default;
};

Result<std::string> normalize_card(std::string_view raw);
// `default_country` is an ISO 3166-1 alpha-2 code ("PL") used for numbers without "+" or "00".
Result<std::string> normalize_phone(std::string_view raw, std::string_view default_country);
Result<std::string> normalize_email(std::string_view raw);
Result<std::string> normalize_qr_token(std::string_view raw);
Result<NormalizedIdentifier> normalize_identifier(IdentifierKind kind, std::string_view raw,
                                                  std::string_view default_country);

// The country calling code for an ISO 3166-1 alpha-2 code ("DE" -> "49"); kInvalidArgument for
// countries Accrue does not know.
Result<std::string_view> calling_code(std::string_view country);

using IdentifierHash = std::array<uint8_t, 32>;

// HMAC-SHA-256 under the program key over "<kind>:<normalised value>". The key is a secret of
// at least 32 bytes held by the cloud and the agents; without it a hash cannot be reversed by
// trying all phone numbers. Thread-safe after construction.
class IdentifierHasher {
 public:
  static Result<IdentifierHasher> create(std::span<const uint8_t> key);
  IdentifierHash hash(const NormalizedIdentifier& id) const;

 private:
  explicit IdentifierHasher(std::vector<uint8_t> key) : key_(std::move(key)) {}
  std::vector<uint8_t> key_;
};

}  // namespace accrue
