// /v1/orders: the chain's web shop books its orders and their returns (docs/orders.md). An order
// is a sale of the virtual store WEB booked through ingestion (head_office_events.h), so it earns
// by the same rules, caps and tiers as a till's sale and reaches the member's balance, lots,
// receipts and webhooks the same way. Idempotent by the shop's own ids: an order id (and a return
// id within its order) is booked once; the same request again answers what was booked, another
// one under the same id is refused (/problems/order-conflict).
#include <boost/json.hpp>

#include <algorithm>
#include <set>

#include "cloud/hq/resources.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr size_t kMaxLines = 500;
constexpr size_t kMaxCategories = 20;
// How far from now an order's time may be: a shop posts an order when it ships, not years later.
constexpr TimestampMs kMaxAgeMs = 90LL * 24 * 3600 * 1000;
constexpr TimestampMs kMaxAheadMs = 5LL * 60 * 1000;

// The shop's order and return ids: 1 to 64 of [A-Za-z0-9._:-] (they appear in paths).
bool valid_ref(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::ranges::all_of(id, [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.' || ch == '_' ||
           ch == ':' || ch == '-';
  });
}
constexpr const char* kRefRule = "1 to 64 characters of A-Z a-z 0-9 . _ : -";

// Each object of a body's "lines" (at least one) read by `read`, with its JSON Pointer; a line
// that is not an object is an error.
template <class Read>
void each_line(const json::array* lines, FieldErrors& errors, Read read) {
  if (lines && lines->empty()) errors.add("/lines", "at least one line");
  for (size_t i = 0; lines && i < lines->size(); ++i) {
    const std::string at = "/lines/" + std::to_string(i);
    if (!(*lines)[i].is_object()) {
      errors.add(at, "an object");
      continue;
    }
    ObjectReader line((*lines)[i].as_object(), errors, at);
    read(line, at);
    line.finish();
  }
}

struct OrderInput {
  std::string order_id;
  std::string customer_id;
  std::optional<TimestampMs> occurred_at;  // absent: now
  loyalty::v1::Basket basket;
  std::vector<std::string> coupons;  // codes
  int64_t redeem_points = 0;
  json::object body;  // what is stored and compared on a retry
};

// The order in the request body, or nullopt with `errors` filled. A quote needs no order id.
std::optional<OrderInput> read_order(const json::object& doc, FieldErrors& errors, TimestampMs now,
                                     bool quote = false) {
  ObjectReader in(doc, errors);
  OrderInput o;
  auto order_id = in.string("order_id", {.required = !quote, .min = 1, .max = 64});
  auto customer_id = in.string("customer_id", {.required = true, .min = 1, .max = 64});
  auto currency = in.string("currency", {.required = true, .min = 3, .max = 3});
  o.occurred_at = in.timestamp("occurred_at");
  const json::array* lines = in.array("lines", kMaxLines, true);
  const json::array* coupons = in.array("coupons", kMaxOrderCoupons);
  auto redeem = in.integer("redeem_points", {.min = 1, .max = 1'000'000'000});
  in.finish();
  if (order_id && !valid_ref(*order_id)) errors.add("/order_id", kRefRule);
  json::array codes;
  for (size_t k = 0; coupons && k < coupons->size(); ++k) {
    const auto& c = (*coupons)[k];
    if (!c.is_string() || c.as_string().empty() || c.as_string().size() > kMaxCouponCodeChars) {
      errors.add("/coupons/" + std::to_string(k), "a coupon code");
      continue;
    }
    o.coupons.emplace_back(c.as_string());
    codes.push_back(c);
  }
  if (redeem) o.redeem_points = *redeem;
  if (currency && !std::ranges::all_of(*currency, [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
    errors.add("/currency", "an ISO 4217 code in capitals (EUR)");
  }
  if (o.occurred_at && (*o.occurred_at > now + kMaxAheadMs || *o.occurred_at < now - kMaxAgeMs)) {
    errors.add("/occurred_at", "within the last 90 days and not in the future");
  }
  json::array body_lines;
  std::set<int64_t> line_nos;
  each_line(lines, errors, [&](ObjectReader& line, const std::string& at) {
    auto line_no = line.integer("line_no", {.required = true, .min = 1, .max = 65535});
    auto sku = line.string("sku", {.required = true, .min = 1, .max = 64});
    auto quantity =
        line.integer("quantity_milli", {.required = true, .min = 1, .max = 1'000'000'000});
    auto amount =
        line.integer("amount_minor", {.required = true, .min = 0, .max = 1'000'000'000'000});
    const json::array* categories = line.array("categories", kMaxCategories);
    if (line_no && !line_nos.insert(*line_no).second) errors.add(at + "/line_no", "used twice");
    json::array cats;
    auto* pb = o.basket.add_lines();
    for (size_t k = 0; categories && k < categories->size(); ++k) {
      const auto& c = (*categories)[k];
      if (!c.is_string() || c.as_string().empty() || c.as_string().size() > 64) {
        errors.add(at + "/categories/" + std::to_string(k), "1 to 64 characters");
        continue;
      }
      cats.push_back(c);
      pb->add_categories(std::string(c.as_string()));
    }
    if (!line_no || !sku || !quantity || !amount) return;
    pb->set_line_no(static_cast<uint32_t>(*line_no));
    pb->set_sku(*sku);
    pb->set_quantity_milli(*quantity);
    pb->set_amount_minor(*amount);
    body_lines.push_back(json::object{{"line_no", *line_no},
                                      {"sku", *sku},
                                      {"categories", std::move(cats)},
                                      {"quantity_milli", *quantity},
                                      {"amount_minor", *amount}});
  });
  if (!errors.empty()) return std::nullopt;
  o.order_id = order_id.value_or("");
  o.customer_id = *customer_id;
  o.basket.set_currency(*currency);
  o.body =
      json::object{{"customer_id", o.customer_id},
                   {"currency", *currency},
                   {"occurred_at", o.occurred_at ? json::value(format_utc_iso8601(*o.occurred_at))
                                                 : json::value(nullptr)},
                   {"lines", std::move(body_lines)}};
  // Only when given, so that an order booked before these existed compares as it did.
  if (!codes.empty()) o.body["coupons"] = std::move(codes);
  if (o.redeem_points > 0) o.body["redeem_points"] = o.redeem_points;
  return o;
}

struct ReturnInput {
  std::string return_id;
  std::vector<std::pair<uint32_t, int64_t>> lines;
  json::object body;
};

std::optional<ReturnInput> read_return(const json::object& doc, FieldErrors& errors) {
  ObjectReader in(doc, errors);
  auto return_id = in.string("return_id", {.required = true, .min = 1, .max = 64});
  const json::array* lines = in.array("lines", kMaxLines, true);
  in.finish();
  if (return_id && !valid_ref(*return_id)) errors.add("/return_id", kRefRule);
  ReturnInput r;
  json::array body_lines;
  std::set<int64_t> seen;
  each_line(lines, errors, [&](ObjectReader& line, const std::string& at) {
    auto line_no = line.integer("line_no", {.required = true, .min = 1, .max = 65535});
    auto quantity =
        line.integer("quantity_milli", {.required = true, .min = 1, .max = 1'000'000'000});
    if (!line_no || !quantity) return;
    if (!seen.insert(*line_no).second) errors.add(at + "/line_no", "used twice");
    r.lines.emplace_back(static_cast<uint32_t>(*line_no), *quantity);
    body_lines.push_back(json::object{{"line_no", *line_no}, {"quantity_milli", *quantity}});
  });
  if (!errors.empty()) return std::nullopt;
  r.return_id = *return_id;
  r.body = json::object{{"lines", std::move(body_lines)}};
  return r;
}

OrderAsk ask_of(const OrderInput& o) {
  return {o.customer_id, o.basket, o.coupons, o.redeem_points};
}

// Set by `also` when another request booked the same id first: everything rolls back and the
// caller answers from what that one booked.
constexpr std::string_view kRaced = "booked by a concurrent request";

}  // namespace

void OrdersApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::post, "/v1/orders", "orders.create", kWebShop,
           [this](Call& c) { return create(c); });
  gate.add(r, V::post, "/v1/orders/quote", "orders.quote", kWebShop,
           [this](Call& c) { return quote(c); });
  gate.add(r, V::get, "/v1/orders/{order_id}", "orders.get", kWebShopReaders,
           [this](Call& c) { return get(c); });
  gate.add(r, V::post, "/v1/orders/{order_id}/returns", "orders.return", kWebShop,
           [this](Call& c) { return create_return(c); });
}

Result<std::optional<json::object>> OrdersApi::document(pg::Connection& c,
                                                        const std::string& order_id) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto o,
      c.query("SELECT o.order_id, o.event_id::text, o.customer_id, o.body::text, "
              "(extract(epoch FROM o.created_at)*1000)::bigint, "
              "(extract(epoch FROM r.occurred_at)*1000)::bigint, r.amount_minor, r.currency, "
              "r.points_earned, r.points_reversed, coalesce(r.lines::text, '[]'), o.pricing::text "
              "FROM web_order o "
              "JOIN receipt r ON r.event_id = o.event_id WHERE o.order_id = $1",
              {pg::Param::text(order_id)}));
  if (o.rows() == 0) return std::nullopt;
  const json::object body = json::parse(o.text(0, 3)).as_object();
  // What each line earned and had returned, as the sale's receipt keeps it.
  std::map<int64_t, json::object> figures;
  const json::value receipt_lines = json::parse(o.text(0, 10));
  for (const auto& l : receipt_lines.as_array()) {
    const auto& f = l.as_object();
    figures[f.at("line_no").to_number<int64_t>()] = f;
  }
  json::array lines;
  for (const auto& l : body.at("lines").as_array()) {
    json::object line = l.as_object();
    const auto it = figures.find(line.at("line_no").to_number<int64_t>());
    auto figure = [&](const char* key) -> int64_t {
      if (it == figures.end()) return 0;
      const auto* v = it->second.if_contains(key);
      return v ? v->to_number<int64_t>() : 0;
    };
    line["points"] = figure("points");
    line["returned_quantity_milli"] = figure("returned_quantity_milli");
    lines.push_back(std::move(line));
  }
  ACCRUE_ASSIGN_OR_RETURN(
      auto rs, c.query("SELECT w.return_id, w.event_id::text, w.body::text, "
                       "(extract(epoch FROM w.created_at)*1000)::bigint, s.points_reversed, "
                       "s.points_refunded FROM web_order_return w JOIN sale_return s ON "
                       "s.event_id = w.event_id WHERE w.order_id = $1 ORDER BY w.created_at, "
                       "w.return_id",
                       {pg::Param::text(order_id)}));
  json::array returns;
  for (int i = 0; i < rs.rows(); ++i) {
    returns.push_back(json::object{{"return_id", rs.text(i, 0)},
                                   {"event_id", rs.text(i, 1)},
                                   {"lines", json::parse(rs.text(i, 2)).as_object().at("lines")},
                                   {"points_reversed", rs.int64(i, 4)},
                                   {"points_refunded", rs.int64(i, 5)},
                                   {"created_at", format_utc_iso8601(rs.int64(i, 3))}});
  }
  return json::object{
      {"order_id", o.text(0, 0)},
      {"event_id", o.text(0, 1)},
      {"customer_id", o.text(0, 2)},
      {"store_id", Ingest::kWebShopStore},
      {"occurred_at", format_utc_iso8601(o.int64(0, 5))},
      {"currency", o.text(0, 7)},
      {"amount_minor", o.int64(0, 6)},
      {"points_earned", o.int64(0, 8)},
      {"points_reversed", o.int64(0, 9)},
      {"lines", std::move(lines)},
      {"returns", std::move(returns)},
      {"loyalty", o.is_null(0, 11) ? json::value(nullptr) : json::parse(o.text(0, 11))},
      {"created_at", format_utc_iso8601(o.int64(0, 4))}};
}

http::Response OrdersApi::answer(Call& call, const std::string& order_id, bhttp::status status) {
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto doc = document(**lease, order_id);
  if (!doc) return problem(call, doc.error());
  if (!*doc) return problem(call, Problem::kNotFound, "no order " + order_id);
  json::object out = std::move(**doc);
  if (auto st = d_.reads.status(std::string(out.at("customer_id").as_string()))) {
    out["customer"] = json::parse(st->json);
  }
  auto res = http::json(call.req, json::serialize(out), status);
  if (status == bhttp::status::created) res.set(bhttp::field::location, "/v1/orders/" + order_id);
  return res;
}

// An order booked before under this id: the same request is answered as booked (200), another
// one is refused. nullopt: no such order yet.
std::optional<http::Response> OrdersApi::booked(Call& call, const std::string& order_id,
                                                const json::object& body) {
  bool same = false;
  {
    auto lease = d_.pool.acquire();  // released before answer() takes one
    if (!lease) return problem(call, lease.error());
    auto r = (*lease)->query("SELECT body = $2::jsonb FROM web_order WHERE order_id = $1",
                             {pg::Param::text(order_id), pg::Param::text(json::serialize(body))});
    if (!r) return problem(call, r.error());
    if (r->rows() == 0) return std::nullopt;
    same = r->boolean(0, 0);
  }
  if (!same) {
    return problem(call, Problem::kOrderConflict,
                   "order " + order_id +
                       " was booked with other content; an order id is booked "
                       "once");
  }
  return answer(call, order_id, bhttp::status::ok);
}

Result<std::pair<std::shared_ptr<const PublishedProgram>, std::optional<OrderPricing>>>
OrdersApi::price(const OrderAsk& order, TimestampMs now, FieldErrors& errors) {
  // The connection is released before ingestion takes one of its own.
  ACCRUE_ASSIGN_OR_RETURN(auto lease, d_.pool.acquire());
  ACCRUE_ASSIGN_OR_RETURN(auto program, d_.programs.latest(*lease, now));
  ACCRUE_ASSIGN_OR_RETURN(auto priced, price_order(*lease, program->program, order, now, errors));
  return std::make_pair(std::move(program), std::move(priced));
}

http::Response OrdersApi::quote(Call& call) {
  http::Response bad;
  auto doc = json_body(call, bad);
  if (!doc) return bad;
  FieldErrors errors;
  const TimestampMs now = d_.clock.now_ms();
  auto order = read_order(*doc, errors, now, true);
  if (!order) return invalid(call, errors);
  auto priced = price(ask_of(*order), now, errors);
  if (!priced) return problem(call, priced.error());
  if (!priced->second) return invalid(call, errors);
  json::object out = priced->second->to_json();
  out["customer_id"] = order->customer_id;
  return http::json(call.req, json::serialize(out));
}

namespace {

// Why ingestion refused one of an order's events, at the field that asked for it.
FieldErrors refusal_of(const sync::v1::EventResult& r, const OrderPricing& p, int index,
                       const std::string& customer_id) {
  FieldErrors e;
  const int coupons = static_cast<int>(p.coupons.size());
  if (index < coupons) {
    e.add("/coupons/" + std::to_string(index), r.reject_code() == "coupon_spent"
                                                   ? "this coupon was used or voided meanwhile"
                                                   : r.message());
  } else if (index == coupons && p.redeem_points > 0) {
    e.add("/redeem_points", r.reject_code() == "insufficient_points"
                                ? "her points were spent meanwhile: " + r.message()
                                : r.message());
  } else if (r.reject_code() == "unknown_customer") {
    e.add("/customer_id", "no member " + customer_id);
  } else {
    e.add(r.reject_code() == "bad_basket" ? "/lines" : "", r.message());
  }
  return e;
}

}  // namespace

http::Response OrdersApi::create(Call& call) {
  http::Response bad;
  auto doc = json_body(call, bad);
  if (!doc) return bad;
  FieldErrors errors;
  const TimestampMs now = d_.clock.now_ms();
  auto order = read_order(*doc, errors, now);
  if (!order) return invalid(call, errors);
  if (auto replay = booked(call, order->order_id, order->body)) return std::move(*replay);

  auto priced = price(ask_of(*order), now, errors);
  if (!priced) return problem(call, priced.error());
  if (!priced->second) return invalid(call, errors);
  const OrderPricing& p = *priced->second;
  // Her coupons and points first, then the sale of what she pays: the sale never pays for its
  // own discount, and a multiplier coupon names its use.
  HeadOfficeBatch batch(*priced->first, now, true);
  std::string multiplier_use;
  for (size_t i = 0; i < p.coupons.size(); ++i) {
    const auto& k = p.coupons[i];
    auto& e = batch.coupon_use(new_id(), order->customer_id, order->order_id, k.claims, p.currency,
                               k.effect.discount.minor_units(), p.gross);
    if (p.multiplier == i) multiplier_use = e.event_id();
  }
  std::string redemption;
  if (p.redeem_points > 0) {
    redemption = batch
                     .redemption(new_id(), order->customer_id, order->order_id, p.redeem_points,
                                 p.currency, p.redeem_value)
                     .event_id();
  }
  auto& sale = batch.sale(new_id(), order->customer_id, order->order_id,
                          order->occurred_at.value_or(now), p.net);
  // Named, so that a return of the order gives her points back (refund_on_return).
  if (!redemption.empty()) sale.mutable_accrual()->add_redemption_event_ids(redemption);
  if (p.multiplier) {
    sale.mutable_accrual()->set_points_multiplier_bp(
        p.coupons[*p.multiplier].effect.points_multiplier_bp);
    sale.mutable_accrual()->set_multiplier_coupon_use_event_id(multiplier_use);
  }
  const std::string body = json::serialize(order->body);
  const bool discounted = p.discount > 0 || !p.coupons.empty();
  const std::string pricing = discounted ? json::serialize(p.to_json()) : std::string();
  std::optional<std::pair<int, sync::v1::EventResult>> refused;
  auto result = d_.ingest.apply_head_office(
      batch.batch(), [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        // All or nothing: one refused event (a coupon spent, points gone meanwhile) refuses the
        // order, and the events applied beside it roll back.
        for (int i = 0; i < r.results_size(); ++i) {
          if (r.results(i).status() != sync::v1::EVENT_STATUS_APPLIED) {
            refused = std::make_pair(i, r.results(i));
            return fail(ErrorCode::kFailedPrecondition, "the order was refused");
          }
        }
        const auto& sale_result = r.results(r.results_size() - 1);
        ACCRUE_ASSIGN_OR_RETURN(
            auto ins,
            c.query("INSERT INTO web_order (order_id, event_id, customer_id, body, "
                    "created_by, pricing) VALUES ($1, $2::uuid, $3, $4::jsonb, $5, "
                    "nullif($6, '')::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
                    {pg::Param::text(order->order_id), pg::Param::text(sale_result.event_id()),
                     pg::Param::text(order->customer_id), pg::Param::text(body),
                     pg::Param::text(call.who.subject), pg::Param::text(pricing)}));
        if (ins.rows() == 0) return fail(ErrorCode::kAlreadyExists, std::string(kRaced));
        return {};
      });
  if (!result && result.error().message == kRaced) {
    if (auto replay = booked(call, order->order_id, order->body)) return std::move(*replay);
  }
  if (refused) {
    return invalid(call, refusal_of(refused->second, p, refused->first, order->customer_id));
  }
  if (!result) return problem(call, result.error());
  return answer(call, order->order_id, bhttp::status::created);
}

http::Response OrdersApi::get(Call& call) {
  const std::string& order_id = call.ctx.params.at(0);
  if (!valid_ref(order_id)) return problem(call, Problem::kNotFound, "no order " + order_id);
  return answer(call, order_id, bhttp::status::ok);
}

http::Response OrdersApi::create_return(Call& call) {
  const std::string& order_id = call.ctx.params.at(0);
  if (!valid_ref(order_id)) return problem(call, Problem::kNotFound, "no order " + order_id);
  http::Response bad;
  auto doc = json_body(call, bad);
  if (!doc) return bad;
  FieldErrors errors;
  auto ret = read_return(*doc, errors);
  if (!ret) return invalid(call, errors);
  const std::string body = json::serialize(ret->body);

  // The order, and this return if it was booked already.
  std::string sale_event_id;
  auto replay = [&]() -> std::optional<http::Response> {
    bool same = false;
    {
      auto lease = d_.pool.acquire();  // released before answer_return() takes one
      if (!lease) return problem(call, lease.error());
      auto r = (*lease)->query(
          "SELECT o.event_id::text, w.body = $3::jsonb FROM web_order o LEFT JOIN "
          "web_order_return w ON w.order_id = o.order_id AND w.return_id = $2 WHERE o.order_id "
          "= $1",
          {pg::Param::text(order_id), pg::Param::text(ret->return_id), pg::Param::text(body)});
      if (!r) return problem(call, r.error());
      if (r->rows() == 0) return problem(call, Problem::kNotFound, "no order " + order_id);
      sale_event_id = std::string(r->text(0, 0));
      if (r->is_null(0, 1)) return std::nullopt;
      same = r->boolean(0, 1);
    }
    if (!same) {
      return problem(call, Problem::kOrderConflict,
                     "return " + ret->return_id + " of order " + order_id +
                         " was booked with other lines; a return id is booked once");
    }
    return answer_return(call, order_id, ret->return_id, bhttp::status::ok);
  };
  if (auto answered = replay()) return std::move(*answered);

  std::shared_ptr<const PublishedProgram> program;
  const TimestampMs now = d_.clock.now_ms();
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto latest = d_.programs.latest(**lease, now);
    if (!latest) return problem(call, latest.error());
    program = *latest;
  }
  HeadOfficeBatch batch(*program, now, true);
  const std::string event_id = new_id();
  batch.sale_return(event_id, sale_event_id, "return:" + event_id, ret->lines);
  auto result = d_.ingest.apply_head_office(
      batch.batch(), [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        if (r.results(0).status() != sync::v1::EVENT_STATUS_APPLIED) return {};
        ACCRUE_ASSIGN_OR_RETURN(
            auto ins, c.query("INSERT INTO web_order_return (order_id, return_id, event_id, body, "
                              "created_by) VALUES ($1, $2, $3::uuid, $4::jsonb, $5) ON CONFLICT "
                              "DO NOTHING RETURNING 1",
                              {pg::Param::text(order_id), pg::Param::text(ret->return_id),
                               pg::Param::text(event_id), pg::Param::text(body),
                               pg::Param::text(call.who.subject)}));
        if (ins.rows() == 0) return fail(ErrorCode::kAlreadyExists, std::string(kRaced));
        return {};
      });
  if (!result && result.error().message == kRaced) {
    if (auto answered = replay()) return std::move(*answered);
  }
  if (!result) return problem(call, result.error());
  const auto& r = result->results(0);
  if (r.status() == sync::v1::EVENT_STATUS_REJECTED) {
    return problem(
        call, Problem::kReturnRefused,
        r.reject_code() == "bad_return" ? r.message() : r.reject_code() + ": " + r.message());
  }
  return answer_return(call, order_id, ret->return_id, bhttp::status::created);
}

http::Response OrdersApi::answer_return(Call& call, const std::string& order_id,
                                        const std::string& return_id, bhttp::status status) {
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto doc = document(**lease, order_id);
  if (!doc) return problem(call, doc.error());
  if (!*doc) return problem(call, Problem::kNotFound, "no order " + order_id);
  json::object out;
  for (const auto& r : (*doc)->at("returns").as_array()) {
    if (r.as_object().at("return_id").as_string() == return_id) out = r.as_object();
  }
  if (out.empty()) return problem(call, Problem::kNotFound, "no return " + return_id);
  out["order_id"] = order_id;
  auto res = http::json(call.req, json::serialize(out), status);
  if (status == bhttp::status::created) res.set(bhttp::field::location, "/v1/orders/" + order_id);
  return res;
}

}  // namespace accrue::cloud::hq
