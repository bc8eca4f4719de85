// The identifier normalisers the till and head office feed: cards, phones (with a default
// country), e-mails, QR tokens. The first byte picks the kind and the country.
#include "common/identifier.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace accrue;
  if (size == 0) return 0;
  static constexpr const char* kCountries[] = {"", "DE", "PL", "US", "GB", "JP", "IE", "ZZ"};
  const uint8_t pick = data[0];
  const auto raw = fuzz::text(data + 1, size - 1);
  const std::string_view country = kCountries[(pick >> 2) % 8];
  static constexpr IdentifierKind kKinds[] = {IdentifierKind::kCard, IdentifierKind::kPhone,
                                              IdentifierKind::kEmail, IdentifierKind::kQrToken};
  auto n = normalize_identifier(kKinds[pick % 4], raw, country);
  if (n) {
    // A normalised identifier normalises to itself.
    auto again = normalize_identifier(n->kind, n->value, country);
    if (!again || again->value != n->value) __builtin_trap();
  }
  (void)normalize_phone(raw, country);
  (void)normalize_email(raw);
  (void)normalize_card(raw);
  (void)calling_code(raw);
  return 0;
}
