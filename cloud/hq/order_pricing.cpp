#include "cloud/hq/order_pricing.h"

#include <boost/json.hpp>

#include <set>

#include "cloud/core/balance.h"
#include "common/engine/apportion.h"
#include "common/engine/redemption.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::cloud::hq {

namespace json = boost::json;

namespace {

struct Member {
  bool found = false;
  int64_t status = 0;
  std::string tier_id;
  CustomerPoints points;
  std::string web_country;  // store WEB's, for per-country rates
};

Result<Member> read_member(pg::Connection& c, const std::string& id, TimestampMs now) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query(std::string("SELECT c.status, c.tier_id, b.points, ") + kOpenLotsColumn +
                          ", coalesce((SELECT country FROM store WHERE store_id = 'WEB'), '') "
                          "FROM customer c JOIN balance b USING (customer_id) WHERE "
                          "c.customer_id = $1",
                      {pg::Param::text(id)}));
  Member m;
  if (r.rows() == 0) return m;
  m.found = true;
  m.status = r.int64(0, 0);
  m.tier_id = r.text(0, 1);
  m.points = customer_points(r.int64(0, 2), parse_open_lots(r.text(0, 3)), now);
  m.web_country = r.text(0, 4);
  return m;
}

Result<CouponVerifier> chain_keys(pg::Connection& c) {
  ACCRUE_ASSIGN_OR_RETURN(auto keys, c.exec("SELECT key_id, public_key FROM coupon_key"));
  CouponVerifier v;
  for (int i = 0; i < keys.rows(); ++i) {
    const auto raw = pg::decode_bytea(keys.text(i, 1)).value_or("");
    CouponPublicKey key{};
    if (raw.size() != key.size()) continue;
    std::copy(raw.begin(), raw.end(), key.begin());
    ACCRUE_TRY(v.add_key(static_cast<uint32_t>(keys.int64(i, 0)), key));
  }
  return v;
}

// One code judged as a till judges it, plus what only the cloud knows: whether it is still
// issued. nullopt with the reason at `at`.
Result<std::optional<OrderCoupon>> judge_coupon(pg::Connection& c, const Program& program,
                                                const CouponVerifier& keys, const std::string& code,
                                                const std::string& customer_id,
                                                const Basket& basket, TimestampMs now,
                                                const std::string& at, FieldErrors& errors) {
  auto refuse = [&](std::string why) -> std::optional<OrderCoupon> {
    errors.add(at, std::move(why));
    return std::nullopt;
  };
  auto claims = keys.verify(code, now);
  if (!claims) return refuse(claims.error().message);
  if (claims->member_id && claims->member_id->to_string() != customer_id) {
    return refuse("this coupon belongs to another member");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto row, c.query("SELECT status FROM coupon WHERE coupon_id = $1::uuid",
                                            {pg::Param::text(claims->coupon_id.to_string())}));
  if (row.rows() == 0) return refuse("this coupon was never issued");
  if (row.text(0, 0) != "issued") return refuse("this coupon was used or voided already");
  const Reward* reward = program.reward(claims->reward_id);
  if (reward == nullptr) return refuse("this coupon's reward is no longer in the programme");
  auto effect = coupon_effect(*reward, basket);
  if (!effect) return refuse(effect.error().message);
  return OrderCoupon{std::move(*claims), reward, std::move(*effect)};
}

// The order's lines less `discount`, spread in proportion to the lines' amounts.
loyalty::v1::Basket net_of(const loyalty::v1::Basket& basket, int64_t discount) {
  std::vector<int128> weights;
  for (const auto& l : basket.lines()) weights.push_back(l.amount_minor());
  const auto shares = apportion(weights, discount);
  loyalty::v1::Basket net = basket;
  for (int i = 0; i < net.lines_size(); ++i) {
    auto* l = net.mutable_lines(i);
    l->set_amount_minor(l->amount_minor() - shares[static_cast<size_t>(i)]);
  }
  return net;
}

}  // namespace

json::object OrderPricing::to_json() const {
  json::array used;
  for (const auto& k : coupons) {
    json::object o{{"coupon_id", k.claims.coupon_id.to_string()},
                   {"reward_id", k.claims.reward_id},
                   {"discount_minor", k.effect.discount.minor_units()}};
    if (k.effect.points_multiplier_bp != 0) {
      o["points_multiplier_bp"] = k.effect.points_multiplier_bp;
    }
    if (!k.effect.gift.empty()) o["gift"] = k.effect.gift;
    used.push_back(std::move(o));
  }
  json::array lines;
  for (const auto& l : net.lines()) {
    lines.push_back(json::object{{"line_no", l.line_no()}, {"amount_minor", l.amount_minor()}});
  }
  return json::object{
      {"currency", currency},
      {"gross_minor", gross},
      {"discount_minor", discount},
      {"due_minor", gross - discount},
      {"coupons", std::move(used)},
      {"redeemed", redeem_points == 0 ? json::value(nullptr)
                                      : json::value(json::object{{"points", redeem_points},
                                                                 {"value_minor", redeem_value}})},
      {"lines", std::move(lines)}};
}

Result<std::optional<OrderPricing>> price_order(pg::Connection& c, const Program& program,
                                                const OrderAsk& ask, TimestampMs now,
                                                FieldErrors& errors) {
  auto basket = wire::basket_from_proto(ask.basket);
  if (!basket) {
    errors.add("/lines", basket.error().message);
    return std::nullopt;
  }
  int64_t gross = 0;
  for (const auto& l : basket->lines) gross += l.amount_minor;  // validated: no overflow
  OrderPricing p;
  p.currency = std::string(basket->currency.code());
  p.gross = gross;
  p.net = ask.basket;
  if (ask.codes.empty() && ask.redeem_points == 0) return p;

  ACCRUE_ASSIGN_OR_RETURN(auto member, read_member(c, ask.customer_id, now));
  if (!member.found) {
    errors.add("/customer_id", "no member " + ask.customer_id);
    return std::nullopt;
  }
  if (member.status != 1) {
    errors.add("/customer_id", "this member is not active: no coupon or points can be used");
    return std::nullopt;
  }
  ACCRUE_ASSIGN_OR_RETURN(auto keys, chain_keys(c));
  std::set<std::string> seen;
  int64_t coupon_discount = 0;
  for (size_t i = 0; i < ask.codes.size(); ++i) {
    const std::string at = "/coupons/" + std::to_string(i);
    ACCRUE_ASSIGN_OR_RETURN(auto k, judge_coupon(c, program, keys, ask.codes[i], ask.customer_id,
                                                 *basket, now, at, errors));
    if (!k) continue;
    if (!seen.insert(k->claims.coupon_id.to_string()).second) {
      errors.add(at, "the same coupon twice");
      continue;
    }
    if (k->effect.points_multiplier_bp != 0) {
      if (p.multiplier) {
        errors.add(at, "one points-multiplier coupon per order");
        continue;
      }
      p.multiplier = p.coupons.size();
    }
    coupon_discount += k->effect.discount.minor_units();
    p.coupons.push_back(std::move(*k));
  }
  if (coupon_discount > gross) {
    errors.add("/coupons", "together they take off more than the order costs");
  }
  int64_t points_value = 0;
  if (ask.redeem_points > 0 && errors.empty()) {
    auto value =
        redemption_value(program.redemption, basket->currency, ask.redeem_points,
                         member.web_country, tier_redemption_value_bp(program, member.tier_id));
    if (!value) {
      errors.add("/redeem_points", value.error().message);
    } else if (value->minor_units() > gross - coupon_discount) {
      errors.add("/redeem_points", "worth " + std::to_string(value->minor_units()) +
                                       " minor units, more than the " +
                                       std::to_string(gross - coupon_discount) + " left to pay");
    } else if (ask.redeem_points > member.points.available) {
      errors.add("/redeem_points",
                 "she has " + std::to_string(member.points.available) + " points available");
    } else {
      points_value = value->minor_units();
      p.redeem_points = ask.redeem_points;
      p.redeem_value = points_value;
    }
  }
  if (!errors.empty()) return std::nullopt;
  p.discount = coupon_discount + points_value;
  p.net = net_of(ask.basket, p.discount);
  return p;
}

}  // namespace accrue::cloud::hq
