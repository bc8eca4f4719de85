// The head-office API (tests/cloud/hq/hq_api_fixture.h). The web shop's orders: booked through
// ingestion like a till's sale, once per order id; returns by order, once per return id; the
// role that books them and nothing else; coupons and points on an order, quoted and then booked
// all or nothing.
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/coupon.h"

#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

class OrdersApiTest : public HqApiTest {
 protected:
  void SetUp() override {
    HqApiTest::SetUp();
    if (HasFatalFailure()) return;
    shop_ = hq_token_for("web-shop-eu", {"web-shop"});
    member_ = create(kAnna);
  }
  std::string order(const std::string& order_id, int64_t first_line_minor = 4000) {
    return R"({"order_id": ")" + order_id + R"(", "customer_id": ")" + member_ +
           R"(", "currency": "EUR", "lines": [{"line_no": 1, "sku": "TEE", "categories":
           ["apparel"], "quantity_milli": 2000, "amount_minor": )" +
           std::to_string(first_line_minor) +
           R"(}, {"line_no": 2, "sku": "CAP", "quantity_milli": 1000, "amount_minor": 1500}]})";
  }
  int64_t ledger_rows(const std::string& event_id) {
    return std::stoll(
        db_.scalar("SELECT count(*) FROM ledger WHERE event_id = '" + event_id + "'"));
  }
  void expect_books_add_up() {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    auto report = cloud::audit(*c);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok());
  }

  std::string shop_, member_;
};

TEST_F(OrdersApiTest, AnOrderEarnsLikeASaleOnceWhateverTheRetries) {
  auto r = call(V::post, "/v1/orders", order("WEB-1"), shop_);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto& o = r.obj();
  EXPECT_EQ(r.header(bhttp::field::location), "/v1/orders/WEB-1");
  EXPECT_EQ(o.at("store_id"), "WEB");
  EXPECT_EQ(o.at("amount_minor"), 5500);
  EXPECT_EQ(o.at("points_earned"), 55) << "1 point per 1.00 EUR, as at a till";
  const auto& lines = o.at("lines").as_array();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("points").to_number<int64_t>() + lines[1].at("points").to_number<int64_t>(),
            55);
  EXPECT_EQ(o.at("customer").at("points").at("pending").to_number<int64_t>() +
                o.at("customer").at("points").at("available").to_number<int64_t>(),
            55)
      << "the member's balance holds it";
  const std::string event_id(o.at("event_id").as_string());

  // The same order again: answered as booked.
  auto again = call(V::post, "/v1/orders", order("WEB-1"), shop_);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.obj().at("event_id").as_string(), event_id);
  // Other content under the same id: refused, nothing booked.
  auto other = call(V::post, "/v1/orders", order("WEB-1", 9000), shop_);
  ASSERT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.obj().at("type"), "/problems/order-conflict");
  EXPECT_EQ(ledger_rows(event_id), 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM receipt WHERE store_id = 'WEB'"), "1");

  // Head office reads it; the member's transactions show it.
  auto got = get("/v1/orders/WEB-1", analyst_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.obj().at("points_earned"), 55);
  auto tx = get("/v1/customers/" + member_ + "/transactions", support_);
  ASSERT_EQ(tx.status, 200) << tx.body;
  EXPECT_EQ(tx.obj().at("items").as_array()[0].at("event_id").as_string(), event_id);
  EXPECT_EQ(get("/v1/orders/WEB-404", shop_).status, 404);
  expect_books_add_up();
}

TEST_F(OrdersApiTest, ConcurrentRetriesOfOneOrderBookItOnce) {
  constexpr int kClients = 8;
  std::vector<int> statuses(kClients);
  std::vector<std::string> ids(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto r = call(V::post, "/v1/orders", order("WEB-RACE"), shop_);
      statuses[i] = r.status;
      if (r.doc.is_object()) ids[i] = std::string(r.obj().at("event_id").as_string());
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(std::ranges::count(statuses, 201), 1);
  EXPECT_EQ(std::ranges::count(statuses, 200), kClients - 1);
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]) << "every answer names the one sale";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE till_id = 'web' AND pos_tx_id = "
                       "'WEB-RACE'"),
            "1");
  EXPECT_EQ(get("/v1/customers/" + member_ + "/status", analyst_)
                    .obj()
                    .at("points")
                    .at("pending")
                    .to_number<int64_t>() +
                get("/v1/customers/" + member_ + "/status", analyst_)
                    .obj()
                    .at("points")
                    .at("available")
                    .to_number<int64_t>(),
            55);
  expect_books_add_up();
}

TEST_F(OrdersApiTest, AReturnReversesItsLinesOnceAndNeverMoreThanTheOrderHasLeft) {
  auto o = call(V::post, "/v1/orders", order("WEB-2"), shop_);
  ASSERT_EQ(o.status, 201) << o.body;
  const int64_t line1 = o.obj().at("lines").as_array()[0].at("points").to_number<int64_t>();
  ASSERT_EQ(line1, 40);

  const std::string half = R"({"return_id": "RMA-1", "lines": [{"line_no": 1,
                              "quantity_milli": 1000}]})";
  auto r = call(V::post, "/v1/orders/WEB-2/returns", half, shop_);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.obj().at("points_reversed"), line1 / 2);
  EXPECT_EQ(r.obj().at("order_id"), "WEB-2");
  const std::string return_event(r.obj().at("event_id").as_string());
  auto again = call(V::post, "/v1/orders/WEB-2/returns", half, shop_);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.obj().at("event_id").as_string(), return_event);
  auto other =
      call(V::post, "/v1/orders/WEB-2/returns",
           R"({"return_id": "RMA-1", "lines": [{"line_no": 2, "quantity_milli": 1000}]})", shop_);
  EXPECT_EQ(other.status, 409) << other.body;

  // Two more units of line 1: one is left.
  auto over =
      call(V::post, "/v1/orders/WEB-2/returns",
           R"({"return_id": "RMA-2", "lines": [{"line_no": 1, "quantity_milli": 2000}]})", shop_);
  ASSERT_EQ(over.status, 422) << over.body;
  EXPECT_EQ(over.obj().at("type"), "/problems/return-refused");
  auto no_line =
      call(V::post, "/v1/orders/WEB-2/returns",
           R"({"return_id": "RMA-3", "lines": [{"line_no": 9, "quantity_milli": 1}]})", shop_);
  EXPECT_EQ(no_line.status, 422) << no_line.body;
  EXPECT_EQ(call(V::post, "/v1/orders/WEB-404/returns", half, shop_).status, 404);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM web_order_return"), "1") << "refusals book nothing";

  auto got = get("/v1/orders/WEB-2", shop_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.obj().at("points_reversed"), line1 / 2);
  EXPECT_EQ(got.obj().at("returns").as_array().size(), 1u);
  EXPECT_EQ(got.obj().at("lines").as_array()[0].at("returned_quantity_milli"), 1000);
  EXPECT_EQ(ledger_rows(return_event), 1);
  expect_books_add_up();
}

TEST_F(OrdersApiTest, BadOrdersAreRefusedFieldByFieldAndTheShopCanDoNothingElse) {
  auto bad = call(V::post, "/v1/orders",
                  R"({"order_id": "a/b", "customer_id": "x", "currency": "eur", "colour": 1,
                      "occurred_at": "2099-01-01T00:00:00Z",
                      "lines": [{"line_no": 1, "sku": "A", "quantity_milli": 0, "amount_minor": 1},
                                {"line_no": 1, "sku": "B", "quantity_milli": 1, "amount_minor": 1}]})",
                  shop_);
  ASSERT_EQ(bad.status, 422) << bad.body;
  std::set<std::string> fields;
  for (const auto& e : bad.obj().at("errors").as_array()) {
    fields.insert(std::string(e.at("field").as_string()));
  }
  for (const char* f : {"/order_id", "/currency", "/colour", "/occurred_at",
                        "/lines/0/quantity_milli", "/lines/1/line_no"}) {
    EXPECT_TRUE(fields.contains(f)) << f << " in " << bad.body;
  }
  auto nobody = call(V::post, "/v1/orders",
                     R"({"order_id": "WEB-9", "customer_id": "nobody", "currency": "EUR",
                         "lines": [{"line_no": 1, "sku": "A", "quantity_milli": 1000,
                                    "amount_minor": 100}]})",
                     shop_);
  ASSERT_EQ(nobody.status, 422) << nobody.body;
  EXPECT_EQ(nobody.obj().at("errors").as_array()[0].at("field"), "/customer_id");
  EXPECT_EQ(call(V::post, "/v1/orders", "[1]", shop_).status, 400);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM web_order"), "0");

  // Roles: an analyst reads orders but books none; the shop books orders and reads nothing else.
  EXPECT_EQ(call(V::post, "/v1/orders", order("WEB-3"), analyst_).status, 403);
  EXPECT_EQ(call(V::post, "/v1/orders", order("WEB-3"), support_).status, 403);
  EXPECT_EQ(get("/v1/customers/" + member_ + "/status", shop_).status, 403);
  EXPECT_EQ(call(V::post, "/v1/customers/" + member_ + "/adjustments",
                 R"({"points": 5, "reason": "x"})", shop_)
                .status,
            403);
  EXPECT_EQ(call(V::post, "/v1/orders", order("WEB-3"), admin_).status, 201);
}

// Orders with her coupons and points: the demo programme's catalogue (five-off: 5 EUR off a
// basket of 20 EUR or more; double-points) and its rate (100 points = 1.00 EUR, steps of 100).
class OrderDiscountsTest : public OrdersApiTest {
 protected:
  void SetUp() override {
    key_file_ = (std::filesystem::temp_directory_path() /
                 ("accrue-order-coupons-" + std::to_string(::getpid()) + ".pem"))
                    .string();
    std::ofstream(key_file_) << *make_coupon_key_pem();
    more_settings_ = {"auth.coupon_key_file=" + key_file_, "auth.coupon_key_id=4"};
    OrdersApiTest::SetUp();
    if (HasFatalFailure()) return;
    auto r = call(V::post, "/v1/customers/" + member_ + "/adjustments",
                  R"({"points": 1000, "reason": "start"})", admin_);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void TearDown() override {
    OrdersApiTest::TearDown();
    std::filesystem::remove(key_file_);
  }
  // A coupon of `reward` claimed for `who` by customer care: its code.
  std::string coupon(const std::string& reward, const std::string& who) {
    auto r = call(V::post, "/v1/customers/" + who + "/rewards/" + reward + "/claims",
                  R"({"reason": "for the web shop"})", support_);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.doc.is_object() ? std::string(r.obj().at("code").as_string()) : "";
  }
  // order() with coupons and points (and without an order id: a quote).
  std::string with(const std::string& order_id, const std::vector<std::string>& codes,
                   int64_t points) {
    auto o = boost::json::parse(order(order_id)).as_object();
    if (order_id.empty()) o.erase("order_id");
    boost::json::array a;
    for (const auto& c : codes) a.emplace_back(c);
    if (!a.empty()) o["coupons"] = a;
    if (points > 0) o["redeem_points"] = points;
    return boost::json::serialize(o);
  }
  int64_t available() {
    return get("/v1/customers/" + member_ + "/status", analyst_)
        .obj()
        .at("points")
        .at("available")
        .as_int64();
  }
  std::string field_of(const Res& r) {
    const auto& errors = r.obj().at("errors").as_array();
    return errors.empty() ? "" : std::string(errors[0].at("field").as_string());
  }
  std::string key_file_;
};

TEST_F(OrderDiscountsTest, ACouponAndPointsAreQuotedThenBookedOnceAndComeBackOnReturn) {
  const std::string code = coupon("five-off", member_);  // costs 100 points
  ASSERT_FALSE(code.empty());
  ASSERT_EQ(available(), 900);

  // The quote: 5.00 EUR off, 300 points worth 3.00 EUR, spread over the lines; nothing moves.
  auto q = call(V::post, "/v1/orders/quote", with("", {code}, 300), shop_);
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.obj().at("gross_minor"), 5500);
  EXPECT_EQ(q.obj().at("discount_minor"), 800);
  EXPECT_EQ(q.obj().at("due_minor"), 4700);
  EXPECT_EQ(q.obj().at("coupons").as_array()[0].at("discount_minor"), 500);
  EXPECT_EQ(q.obj().at("redeemed").at("value_minor"), 300);
  const auto& lines = q.obj().at("lines").as_array();
  EXPECT_EQ(lines[0].at("amount_minor"), 3418);  // 4000 - 582 (largest remainder)
  EXPECT_EQ(lines[1].at("amount_minor"), 1282);  // 1500 - 218
  EXPECT_EQ(available(), 900);
  EXPECT_EQ(db_.scalar("SELECT status FROM coupon"), "issued");

  // Booked: the coupon is used, the points spent, and the sale earns on what she pays.
  auto b = call(V::post, "/v1/orders", with("WEB-D1", {code}, 300), shop_);
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(b.obj().at("amount_minor"), 4700);
  EXPECT_EQ(b.obj().at("points_earned"), 46) << "34 + 12: the demo rounds each line down";
  EXPECT_EQ(b.obj().at("loyalty").at("discount_minor"), 800);
  EXPECT_EQ(db_.scalar("SELECT status || ' ' || used_store_id FROM coupon"), "used WEB");
  EXPECT_EQ(available(), 600);
  auto again = call(V::post, "/v1/orders", with("WEB-D1", {code}, 300), shop_);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(available(), 600) << "a retry spends nothing again";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_event"), "1");

  // The coupon is spent: another order may not use it, and books nothing.
  auto twice = call(V::post, "/v1/orders", with("WEB-D2", {code}, 0), shop_);
  ASSERT_EQ(twice.status, 422) << twice.body;
  EXPECT_EQ(field_of(twice), "/coupons/0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM web_order"), "1");

  // Everything returned: the points she paid with come back (refund_on_return).
  auto back = call(V::post, "/v1/orders/WEB-D1/returns",
                   R"({"return_id": "R1", "lines": [{"line_no": 1, "quantity_milli": 2000},
                                                    {"line_no": 2, "quantity_milli": 1000}]})",
                   shop_);
  ASSERT_EQ(back.status, 201) << back.body;
  EXPECT_EQ(back.obj().at("points_refunded"), 300);
  EXPECT_EQ(available(), 900);
  expect_books_add_up();
}

TEST_F(OrderDiscountsTest, AMultiplierCouponMultipliesTheOrdersPoints) {
  const std::string code = coupon("double-points", member_);
  auto b = call(V::post, "/v1/orders", with("WEB-X2", {code}, 0), shop_);
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(b.obj().at("amount_minor"), 5500) << "no discount";
  EXPECT_EQ(b.obj().at("points_earned"), 110) << "55 points, doubled";
  expect_books_add_up();
}

TEST_F(OrderDiscountsTest, WhatCannotBeUsedRefusesTheOrderAtItsFieldAndBooksNothing) {
  const std::string code = coupon("five-off", member_);
  const std::string bob = create("{}");
  ASSERT_EQ(call(V::post, "/v1/customers/" + bob + "/adjustments",
                 R"({"points": 100, "reason": "start"})", admin_)
                .status,
            201);
  const std::string bobs = coupon("five-off", bob);
  std::string forged = code;
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  struct Case {
    std::string body, field;
  };
  const std::vector<Case> cases = {
      {with("WEB-F1", {forged}, 0), "/coupons/0"},
      {with("WEB-F2", {bobs}, 0), "/coupons/0"},
      {with("WEB-F3", {code, code}, 0), "/coupons/1"},
      {with("WEB-F4", {}, 150), "/redeem_points"},   // off the step of 100
      {with("WEB-F5", {}, 5000), "/redeem_points"},  // more than she has
      {with("WEB-F6", {"NOT-A-COUPON"}, 0), "/coupons/0"},
  };
  for (const auto& c : cases) {
    auto r = call(V::post, "/v1/orders", c.body, shop_);
    EXPECT_EQ(r.status, 422) << c.body << ": " << r.body;
    if (r.status == 422) {
      EXPECT_EQ(field_of(r), c.field) << r.body;
    }
  }
  // Below the coupon's minimum basket (20 EUR): 15 EUR.
  auto small = boost::json::parse(with("WEB-F7", {code}, 0)).as_object();
  small["lines"].as_array().erase(small["lines"].as_array().begin());
  auto r = call(V::post, "/v1/orders", boost::json::serialize(small), shop_);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM web_order"), "0");
  EXPECT_EQ(available(), 900) << "her coupon's cost only";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon WHERE status = 'issued'"), "2");
}

TEST_F(OrderDiscountsTest, ConcurrentOrdersWithOneCouponBookOneOrder) {
  const std::string code = coupon("five-off", member_);
  constexpr int kOrders = 6;
  std::vector<int> status(kOrders);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOrders; ++i) {
    threads.emplace_back([&, i] {
      status[i] =
          call(V::post, "/v1/orders", with("WEB-C" + std::to_string(i), {code}, 100), shop_).status;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::ranges::count(status, 201), 1);
  EXPECT_EQ(std::ranges::count(status, 422), kOrders - 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM web_order"), "1");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_event"), "1");
  EXPECT_EQ(available(), 800) << "one order's 100 points, the refused ones' rolled back";
  expect_books_add_up();
}

}  // namespace
}  // namespace accrue::cloud
