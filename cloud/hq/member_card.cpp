// The member's digital card (GET /v1/me/card, its images, POST /v1/me/card/renewal) and her own
// details and preferences (GET/PATCH /v1/me/details): docs/members.md.
#include <boost/json.hpp>
#include <charconv>

#include "cloud/core/barcode.h"
#include "cloud/hq/customer_records.h"
#include "cloud/hq/member_api.h"
#include "cloud/sync/feed.h"
#include "common/base32.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

// "AC" and 80 random bits in Crockford base32: 18 characters of digits and capitals, so QR's
// alphanumeric mode holds it in a version 1 symbol, and never all digits, so a till reads it as
// a QR token, never as a card or phone number.
constexpr std::string_view kCardPrefix = "AC";
constexpr size_t kCardRandomBytes = 10;

constexpr const char* kSelectCard =
    "SELECT code, (extract(epoch FROM issued_at)*1000)::bigint FROM digital_card WHERE "
    "customer_id = $1";

json::object card_json(const std::string& code, int64_t issued_at_ms) {
  return json::object{
      {"code", code},
      {"identifier_kind", "qr"},
      {"issued_at", format_utc_iso8601(issued_at_ms)},
      {"images", json::object{{"qr", "/v1/me/card/qr"}, {"code128", "/v1/me/card/code128"}}}};
}

// A card is a credential at every till: nobody between her and us may keep a copy.
http::Response private_answer(http::Response res) {
  res.set(bhttp::field::cache_control, "no-store");
  return res;
}

}  // namespace

Result<MemberApi::IssuedCard> MemberApi::card_of(Call& call, const std::string& id, bool renew,
                                                 std::optional<http::Response>& refused) {
  if (!hasher_) {
    return fail(ErrorCode::kUnavailable,
                "this server has no programme key (auth.identifier_key_file): it cannot issue "
                "cards");
  }
  auto lease = d_.pool.acquire();
  if (!lease) return std::unexpected(lease.error());
  pg::Connection& c = **lease;
  IssuedCard out;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_TRY(customers_.lock_open(c, call, id, refused));
    ACCRUE_ASSIGN_OR_RETURN(auto held, c.query(kSelectCard, {pg::Param::text(id)}));
    if (held.rows() > 0 && !renew) {
      out.code = held.text(0, 0);
      out.issued_at_ms = held.int64(0, 1);
      return {};
    }
    // A renewal forgets the old code: its identifier goes (and the card row with it), and the
    // stores drop it with the member's next feed row.
    ACCRUE_TRY(
        c.query("DELETE FROM identifier WHERE hash = (SELECT hash FROM digital_card WHERE "
                "customer_id = $1)",
                {pg::Param::text(id)}));
    std::array<uint8_t, kCardRandomBytes> random{};
    d_.random.fill(random);
    const std::string code = std::string(kCardPrefix) +
                             base32_encode(std::string_view(
                                 reinterpret_cast<const char*>(random.data()), random.size()));
    const NewIdentifier x{IdentifierKind::kQrToken, masked(IdentifierKind::kQrToken, code),
                          hasher_->hash({IdentifierKind::kQrToken, code})};
    ACCRUE_TRY(insert_identifier(c, id, x));
    ACCRUE_ASSIGN_OR_RETURN(
        auto row,
        c.query("INSERT INTO digital_card (customer_id, code, hash) VALUES ($1, $2, $3) RETURNING "
                "(extract(epoch FROM issued_at)*1000)::bigint",
                {pg::Param::text(id), pg::Param::text(code),
                 pg::Param::bytes(std::string_view(reinterpret_cast<const char*>(x.hash.data()),
                                                   x.hash.size()))}));
    out.code = code;
    out.issued_at_ms = row.int64(0, 0);
    out.issued = true;
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, renew ? "customer.renew_card" : "customer.issue_card",
                        "customer:" + id, {{"masked", x.masked}});
  });
  if (!done) return std::unexpected(done.error());
  if (out.issued) after_change(id);
  return out;
}

http::Response MemberApi::card(Call& call, bool renew) {
  const std::string& id = call.ctx.params.at(0);
  std::optional<http::Response> refused;
  auto card = card_of(call, id, renew, refused);
  if (refused) return std::move(*refused);
  if (!card) return problem(call, card.error());
  const auto status = renew ? bhttp::status::created : bhttp::status::ok;
  return private_answer(
      http::json(call.req, json::serialize(card_json(card->code, card->issued_at_ms)), status));
}

http::Response MemberApi::card_image(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  const std::string& name = call.ctx.params.at(1);
  if (name != "qr" && name != "code128") {
    return problem(call, Problem::kNotFound, "no card image " + name + " (qr or code128)");
  }
  const auto target = call.req.target();
  FieldErrors errors;
  const std::string format = http::query_param(target, "format").value_or("svg");
  if (format != "svg" && format != "png") errors.add("/format", "must be svg or png");
  const Symbology symbology = name == "qr" ? Symbology::kQr : Symbology::kCode128;
  int scale = symbology == Symbology::kQr ? 8 : 3;
  if (auto s = http::query_param(target, "scale")) {
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), scale);
    if (ec != std::errc() || p != s->data() + s->size() || scale < 1 || scale > 32) {
      errors.add("/scale", "must be from 1 to 32 pixels per module");
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  std::optional<http::Response> refused;
  auto card = card_of(call, id, false, refused);
  if (refused) return std::move(*refused);
  if (!card) return problem(call, card.error());
  auto symbol = encode_barcode(symbology, card->code);
  if (!symbol) return problem(call, symbol.error());
  if (format == "svg") {
    return private_answer(http::bytes(call.req, barcode_svg(*symbol, scale), "image/svg+xml"));
  }
  auto png = barcode_png(*symbol, scale);
  if (!png) return problem(call, png.error());
  return private_answer(http::bytes(call.req, std::move(*png), "image/png"));
}

}  // namespace accrue::cloud::hq
