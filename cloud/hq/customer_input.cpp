#include "cloud/hq/customer_input.h"

#include <algorithm>
#include <cctype>

#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace {

bool upper_letters(const std::string& s, size_t n) {
  return s.size() == n && std::ranges::all_of(s, [](char c) { return c >= 'A' && c <= 'Z'; });
}

// A BCP 47 language tag as apps send them: a 2-3 letter language in lower case, then subtags of
// 1-8 letters or digits ("de", "pt-BR", "zh-Hant-TW", "es-419").
bool language_tag(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
  if (i < 2 || i > 3) return false;
  while (i < s.size()) {
    if (s[i++] != '-') return false;
    const size_t start = i;
    while (i < s.size() && std::isalnum(static_cast<unsigned char>(s[i])) != 0) ++i;
    if (i == start || i - start > 8) return false;
  }
  return true;
}

}  // namespace

std::string masked(IdentifierKind kind, const std::string& v) {
  auto tail = [&](size_t n) { return v.size() > n ? v.substr(v.size() - n) : v; };
  switch (kind) {
    case IdentifierKind::kCard:
      return "\u2022\u2022\u2022\u2022 " + tail(4);
    case IdentifierKind::kPhone:
      return v.substr(0, std::min<size_t>(3, v.size())) + "\u2022\u2022\u2022" + tail(2);
    case IdentifierKind::kEmail: {
      auto at = v.find('@');
      return v.substr(0, 1) + "\u2022\u2022\u2022" + (at == std::string::npos ? "" : v.substr(at));
    }
    case IdentifierKind::kQrToken:
      return "\u2022\u2022\u2022" + tail(4);
  }
  return "";
}

ProfileInput read_profile(ObjectReader& in, const std::optional<std::string>& default_country) {
  ProfileInput p;
  auto note = [&](std::string_view f) { p.fields.emplace_back(f); };
  auto null_or = [&](std::string_view key, std::vector<Column>& into, const char* column,
                     const std::optional<std::string>& value) {
    if (in.is_null(key)) {
      into.emplace_back(column, std::nullopt);
      note(key);
    } else if (value) {
      into.emplace_back(column, *value);
      note(key);
    }
  };
  if (auto v = in.string("display_name", {.max = 200})) {
    p.pii.emplace_back("display_name", *v);
    note("display_name");
  }
  std::optional<std::string> email;
  if (auto v = in.string("email", {.min = 3, .max = 254, .nullable = true})) {
    auto n = normalize_email(*v);
    if (n) {
      email = *n;
    } else {
      in.errors().add("/email", "is not an e-mail address");
    }
  }
  null_or("email", p.pii, "email", email);
  std::optional<std::string> language;
  if (auto v = in.string("language", {.min = 2, .max = 35, .nullable = true})) {
    if (language_tag(*v)) {
      language = *v;
    } else {
      in.errors().add("/language", "must be a BCP 47 language tag, e.g. de or pt-BR");
    }
  }
  null_or("language", p.pii, "language", language);
  std::optional<std::string> country;
  if (auto v = in.string("country", {.min = 2, .max = 2})) {
    if (upper_letters(*v, 2)) {
      country = *v;
      p.customer.emplace_back("country", *v);
      note("country");
    } else {
      in.errors().add("/country", "must be an ISO 3166-1 alpha-2 code, e.g. DE");
    }
  }
  std::optional<std::string> phone;
  if (auto v = in.string("phone", {.min = 3, .max = 32, .nullable = true})) {
    auto n = normalize_phone(*v, country.value_or(default_country.value_or("")));
    if (n) {
      phone = *n;
    } else {
      in.errors().add("/phone", "is not a phone number (use +<country code><number>)");
    }
  }
  null_or("phone", p.pii, "phone", phone);
  if (in.is_null("birthday")) {
    (void)in.object("birthday");
    p.pii.emplace_back("birthday_month", std::nullopt);
    p.pii.emplace_back("birthday_day", std::nullopt);
    note("birthday");
  } else if (const auto* b = in.object("birthday")) {
    ObjectReader bd(*b, in.errors(), "/birthday");
    auto m = bd.integer("month", {.required = true, .min = 1, .max = 12});
    auto d = bd.integer("day", {.required = true, .min = 1, .max = 31});
    bd.finish();
    if (m && d && *d > days_in_month(2000, static_cast<int>(*m))) {
      in.errors().add("/birthday/day", "is not a day of that month");
    } else if (m && d) {
      p.pii.emplace_back("birthday_month", std::to_string(*m));
      p.pii.emplace_back("birthday_day", std::to_string(*d));
      note("birthday");
    }
  }
  if (const auto* c = in.object("consents")) {
    ObjectReader cr(*c, in.errors(), "/consents");
    for (const char* k : {"terms", "marketing_email", "marketing_sms"}) {
      if (auto v = cr.boolean(k)) {
        p.pii.emplace_back(std::string("consent_") + k, *v ? "true" : "false");
        note(std::string("consents.") + k);
      }
    }
    cr.finish();
  }
  std::optional<std::string> home;
  if (auto v = in.string("home_store_id", {.min = 1, .max = 64, .nullable = true})) {
    home = *v;
    p.home_store = *v;
  }
  null_or("home_store_id", p.customer, "home_store_id", home);
  if (auto v = in.string("currency", {.min = 3, .max = 3})) {
    if (upper_letters(*v, 3)) {
      p.customer.emplace_back("currency", *v);
      note("currency");
    } else {
      in.errors().add("/currency", "must be an ISO 4217 code, e.g. EUR");
    }
  }
  return p;
}

// The create body's identifiers (phones read with the profile's country); problems go to
// `errors`, each at its field.
std::optional<NewIdentifier> read_identifier(ObjectReader& in, FieldErrors& errors,
                                             const std::string& at, const std::string& country,
                                             const std::optional<IdentifierHasher>& hasher) {
  auto kind = in.one_of("kind", {"card", "phone", "email", "qr"}, true);
  auto value = in.string("value", {.required = true, .min = 1, .max = 512});
  if (!kind || !value) return std::nullopt;
  if (!hasher) {
    errors.add(at,
               "this server has no programme key (auth.identifier_key_file): "
               "identifiers cannot be given here");
    return std::nullopt;
  }
  auto n = normalize_identifier(*identifier_kind_from_string(*kind), *value, country);
  if (!n) {
    errors.add(at + "/value", n.error().message);
    return std::nullopt;
  }
  return NewIdentifier{n->kind, masked(n->kind, n->value), hasher->hash(*n)};
}

std::vector<NewIdentifier> read_new_identifiers(ObjectReader& in, FieldErrors& errors,
                                                const ProfileInput& profile,
                                                const std::optional<IdentifierHasher>& hasher) {
  std::vector<NewIdentifier> ids;
  std::string country;
  for (const auto& [col, v] : profile.customer) {
    if (col == "country" && v) country = *v;
  }
  if (const auto* list = in.array("identifiers", kMaxIdentifiers)) {
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string at = "/identifiers/" + std::to_string(i);
      if (!(*list)[i].is_object()) {
        errors.add(at, "must be an object {kind, value}");
        continue;
      }
      ObjectReader ir((*list)[i].as_object(), errors, at);
      auto id = read_identifier(ir, errors, at, country, hasher);
      ir.finish();
      if (!id) continue;
      if (std::ranges::any_of(ids, [&](const NewIdentifier& o) { return o.hash == id->hash; })) {
        errors.add(at, "the same identifier twice");
        continue;
      }
      ids.push_back(std::move(*id));
    }
  }
  return ids;
}

}  // namespace accrue::cloud::hq
