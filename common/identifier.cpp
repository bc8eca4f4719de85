#include "common/identifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>

namespace accrue {
namespace {

struct Country {
  std::string_view iso;
  std::string_view calling_code;
  std::string_view trunk_prefix;  // dropped from national numbers ("0" in most of Europe)
};

// Sorted by ISO code. Covers the chain's 65 countries and their neighbours; extend as stores
// open elsewhere.
constexpr std::array kCountries = std::to_array<Country>({
    {"AE", "971", "0"}, {"AR", "54", "0"},  {"AT", "43", "0"},  {"AU", "61", "0"},
    {"BA", "387", "0"}, {"BE", "32", "0"},  {"BG", "359", "0"}, {"BH", "973", ""},
    {"BR", "55", "0"},  {"BY", "375", "8"}, {"CA", "1", "1"},   {"CH", "41", "0"},
    {"CL", "56", ""},   {"CN", "86", "0"},  {"CO", "57", ""},   {"CY", "357", ""},
    {"CZ", "420", ""},  {"DE", "49", "0"},  {"DK", "45", ""},   {"DZ", "213", "0"},
    {"EE", "372", ""},  {"EG", "20", "0"},  {"ES", "34", ""},   {"FI", "358", "0"},
    {"FR", "33", "0"},  {"GB", "44", "0"},  {"GE", "995", "0"}, {"GR", "30", ""},
    {"HK", "852", ""},  {"HR", "385", "0"}, {"HU", "36", "06"}, {"ID", "62", "0"},
    {"IE", "353", "0"}, {"IL", "972", "0"}, {"IN", "91", "0"},  {"IS", "354", ""},
    {"IT", "39", ""},   {"JO", "962", "0"}, {"JP", "81", "0"},  {"KR", "82", "0"},
    {"KW", "965", ""},  {"KZ", "7", "8"},   {"LB", "961", "0"}, {"LT", "370", "8"},
    {"LU", "352", ""},  {"LV", "371", ""},  {"MA", "212", "0"}, {"MD", "373", "0"},
    {"ME", "382", "0"}, {"MK", "389", "0"}, {"MT", "356", ""},  {"MX", "52", ""},
    {"MY", "60", "0"},  {"NG", "234", "0"}, {"NL", "31", "0"},  {"NO", "47", ""},
    {"NZ", "64", "0"},  {"OM", "968", ""},  {"PE", "51", "0"},  {"PH", "63", "0"},
    {"PK", "92", "0"},  {"PL", "48", ""},   {"PT", "351", ""},  {"QA", "974", ""},
    {"RO", "40", "0"},  {"RS", "381", "0"}, {"SA", "966", "0"}, {"SE", "46", "0"},
    {"SG", "65", ""},   {"SI", "386", "0"}, {"SK", "421", "0"}, {"TH", "66", "0"},
    {"TN", "216", ""},  {"TR", "90", "0"},  {"TW", "886", "0"}, {"UA", "380", "0"},
    {"US", "1", "1"},   {"UY", "598", "0"}, {"VN", "84", "0"},  {"ZA", "27", "0"},
});

static_assert(std::ranges::is_sorted(kCountries, {}, &Country::iso));

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

Error invalid(std::string message) {
  return Error{ErrorCode::kInvalidArgument, std::move(message)};
}

}  // namespace

std::string_view to_string(IdentifierKind kind) {
  switch (kind) {
    case IdentifierKind::kCard:
      return "card";
    case IdentifierKind::kPhone:
      return "phone";
    case IdentifierKind::kEmail:
      return "email";
    case IdentifierKind::kQrToken:
      return "qr";
  }
  return "card";
}

Result<IdentifierKind> identifier_kind_from_string(std::string_view name) {
  for (auto k : {IdentifierKind::kCard, IdentifierKind::kPhone, IdentifierKind::kEmail,
                 IdentifierKind::kQrToken}) {
    if (to_string(k) == name) return k;
  }
  return std::unexpected(invalid("identifier kind: want card, phone, email or qr"));
}

Result<std::string_view> calling_code(std::string_view country) {
  auto it = std::ranges::lower_bound(kCountries, country, {}, &Country::iso);
  if (it == kCountries.end() || it->iso != country) {
    return std::unexpected(invalid("country: not a supported ISO 3166-1 alpha-2 code"));
  }
  return it->calling_code;
}

Result<std::string> normalize_card(std::string_view raw) {
  raw = trim(raw);
  std::string digits;
  for (char c : raw) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != ' ' && c != '-') {
      return std::unexpected(invalid("card: only digits, spaces and dashes are allowed"));
    }
    if (digits.size() > 24) break;
  }
  if (digits.size() < 6 || digits.size() > 24) {
    return std::unexpected(invalid("card: must have 6 to 24 digits"));
  }
  return digits;
}

Result<std::string> normalize_phone(std::string_view raw, std::string_view default_country) {
  raw = trim(raw);
  if (raw.size() > 40) return std::unexpected(invalid("phone: too long"));
  bool international = false;
  std::string digits;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+' && i == 0) {
      international = true;
    } else if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/') {
      return std::unexpected(
          invalid("phone: only digits, '+', spaces, dashes, dots and "
                  "parentheses are allowed"));
    }
  }
  if (!international && digits.starts_with("00")) {
    international = true;
    digits.erase(0, 2);
  }
  std::string e164;
  if (international) {
    e164 = digits;
  } else {
    auto code = calling_code(default_country);
    if (!code) {
      return std::unexpected(
          invalid("phone: a national number needs the store's default "
                  "country, and it is not set or not supported"));
    }
    auto it = std::ranges::lower_bound(kCountries, default_country, {}, &Country::iso);
    std::string_view national = digits;
    if (!it->trunk_prefix.empty() && national.starts_with(it->trunk_prefix)) {
      national.remove_prefix(it->trunk_prefix.size());
    }
    e164 = std::string(*code) + std::string(national);
  }
  if (e164.size() < 8 || e164.size() > 15) {
    return std::unexpected(invalid("phone: an E.164 number has 8 to 15 digits"));
  }
  if (e164[0] == '0') return std::unexpected(invalid("phone: a country code cannot start with 0"));
  return "+" + e164;
}

Result<std::string> normalize_email(std::string_view raw) {
  raw = trim(raw);
  if (raw.size() > 254) return std::unexpected(invalid("email: longer than 254 characters"));
  auto at = raw.find('@');
  if (at == std::string_view::npos || raw.find('@', at + 1) != std::string_view::npos) {
    return std::unexpected(invalid("email: must contain exactly one '@'"));
  }
  std::string_view local = raw.substr(0, at), domain = raw.substr(at + 1);
  if (local.empty() || local.size() > 64) {
    return std::unexpected(invalid("email: the part before '@' must have 1 to 64 characters"));
  }
  if (domain.size() < 3 || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
      domain.back() == '.' || domain.find("..") != std::string_view::npos) {
    return std::unexpected(invalid("email: the domain must be a dotted name like example.com"));
  }
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return std::unexpected(invalid("email: spaces and control characters are not allowed"));
    }
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

Result<std::string> normalize_qr_token(std::string_view raw) {
  raw = trim(raw);
  if (raw.size() < 8 || raw.size() > 512) {
    return std::unexpected(invalid("qr: a token has 8 to 512 characters"));
  }
  for (char c : raw) {
    if (c < 0x21 || c > 0x7e) {
      return std::unexpected(invalid("qr: only printable ASCII characters are allowed"));
    }
  }
  return std::string(raw);
}

Result<NormalizedIdentifier> normalize_identifier(IdentifierKind kind, std::string_view raw,
                                                  std::string_view default_country) {
  Result<std::string> value;
  switch (kind) {
    case IdentifierKind::kCard:
      value = normalize_card(raw);
      break;
    case IdentifierKind::kPhone:
      value = normalize_phone(raw, default_country);
      break;
    case IdentifierKind::kEmail:
      value = normalize_email(raw);
      break;
    case IdentifierKind::kQrToken:
      value = normalize_qr_token(raw);
      break;
  }
  if (!value) return std::unexpected(value.error());
  return NormalizedIdentifier{kind, std::move(*value)};
}

Result<IdentifierHasher> IdentifierHasher::create(std::span<const uint8_t> key) {
  if (key.size() < 32) {
    return fail(ErrorCode::kInvalidArgument, "program key: must be at least 32 bytes");
  }
  return IdentifierHasher(std::vector<uint8_t>(key.begin(), key.end()));
}

IdentifierHash IdentifierHasher::hash(const NormalizedIdentifier& id) const {
  std::string message(to_string(id.kind));
  message += ':';
  message += id.value;
  IdentifierHash out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &len);
  return out;
}

}  // namespace accrue
