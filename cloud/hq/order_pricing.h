// What the loyalty programme takes off a web-shop order (docs/orders.md, "Coupons and points on
// an order"): her coupons and the points she redeems, judged and valued by the domain core as a
// till judges and values them, then spread over the order's lines so that the sale earns on what
// she pays, as a till's sale does. POST /v1/orders/quote answers it; POST /v1/orders books it.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "accrue/loyalty/v1/loyalty.pb.h"
#include "cloud/hq/json_input.h"
#include "cloud/pg/pg.h"
#include "common/coupon.h"
#include "common/engine/rewards.h"
#include "common/program.h"

namespace accrue::cloud::hq {

inline constexpr size_t kMaxOrderCoupons = 5;

struct OrderCoupon {
  CouponClaims claims;
  const Reward* reward = nullptr;  // in the programme the order is priced with
  CouponEffect effect;
};

// Amounts in minor units of the order's currency.
struct OrderPricing {
  std::string currency;
  int64_t gross = 0;                 // the lines as the shop sent them
  std::vector<OrderCoupon> coupons;  // in the order given
  Points redeem_points = 0;
  int64_t redeem_value = 0;
  int64_t discount = 0;                 // coupons and points together, at most `gross`
  loyalty::v1::Basket net;              // the lines after the discount: what she pays, earns on
  std::optional<size_t> multiplier;     // the coupon that multiplies the order's points
  boost::json::object to_json() const;  // the figures (docs/orders.md)
};

// What the shop asks: the order's lines before loyalty discounts, her coupon codes, the points.
struct OrderAsk {
  std::string customer_id;
  loyalty::v1::Basket basket;
  std::vector<std::string> codes;
  Points redeem_points = 0;
};

// Judges and values `ask` under `program` at `now`, reading the coupon keys, her coupons, her
// tier and points and store WEB's country in `c`. nullopt when something is refused, with the
// reason at its field in `errors` (/customer_id, /coupons/<i>, /redeem_points); an Error only for
// the database. The booking judges again, atomically: a coupon used or points spent meanwhile
// refuse the order then.
Result<std::optional<OrderPricing>> price_order(pg::Connection& c, const Program& program,
                                                const OrderAsk& ask, TimestampMs now,
                                                FieldErrors& errors);

}  // namespace accrue::cloud::hq
