// The head-office API (tests/cloud/hq/hq_api_fixture.h). Webhooks: signed, delivered, retried,
// logged, redelivered on request, and given up on.
#include <chrono>
#include <thread>

#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

// A webhook receiver on 127.0.0.1: answers each request with the next scripted status (then
// 200), and keeps what it received.
class Receiver {
 public:
  struct Got {
    std::string event, delivery, signature, body;
  };
  explicit Receiver(std::vector<int> statuses)
      : statuses_(std::move(statuses)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stop_ = true;
    // A blocking accept() is not woken by closing the acceptor from here: knock instead.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket knock(ioc);
    boost::system::error_code ec;
    knock.connect({boost::asio::ip::make_address("127.0.0.1"), port()}, ec);
    knock.close(ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<Got> got() {
    std::lock_guard lock(mu_);
    return got_;
  }
  // Waits (bounded) until `n` requests have come.
  bool wait_for(size_t n, std::chrono::seconds within = std::chrono::seconds(15)) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (got().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      timeval tv{1, 0};  // an idle keep-alive connection does not hold the receiver forever
      setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      boost::beast::flat_buffer buf;
      for (;;) {
        http::request<http::string_body> req;
        http::read(sock, buf, req, ec);
        if (ec) break;
        int status = 200;
        {
          std::lock_guard lock(mu_);
          got_.push_back({std::string(req["X-Accrue-Event"]), std::string(req["X-Accrue-Delivery"]),
                          std::string(req["X-Accrue-Signature"]), req.body()});
          if (next_ < statuses_.size()) status = statuses_[next_++];
        }
        http::response<http::string_body> res{static_cast<http::status>(status), 11};
        res.body() = "ok";
        res.prepare_payload();
        http::write(sock, res, ec);
        if (ec) break;
      }
    }
  }
  std::vector<int> statuses_;
  size_t next_ = 0;
  std::mutex mu_;
  std::vector<Got> got_;
  std::atomic<bool> stop_{false};
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

class HqWebhookTest : public HqApiTest {
 protected:
  void SetUp() override {
    more_settings_ = {"hq.webhooks_allow_http=true", "hq.webhook_backoff_base_ms=50",
                      "hq.webhook_poll_ms=20", "hq.webhook_max_attempts=3"};
    HqApiTest::SetUp();
  }
  std::string subscribe(uint16_t port, const std::string& types, std::string* secret = nullptr) {
    auto r = call(V::post, "/v1/webhooks",
                  R"({"url": "http://127.0.0.1:)" + std::to_string(port) +
                      R"(/hook", "event_types": )" + types + "}",
                  admin_);
    EXPECT_EQ(r.status, 201) << r.body;
    if (secret) *secret = std::string(r.obj().at("secret").as_string());
    return std::string(r.obj().at("subscription_id").as_string());
  }
};

TEST_F(HqWebhookTest, EventsAreSignedDeliveredRetriedLoggedAndRedeliveredOnRequest) {
  Receiver receiver({500});  // the first attempt fails, the rest succeed
  std::string secret;
  const std::string sub = subscribe(
      receiver.port(), R"(["member.enrolled", "points.accrued", "points.adjusted"])", &secret);
  EXPECT_EQ(call(V::post, "/v1/webhooks", R"({"url": "ftp://x", "event_types": ["nope"]})", admin_)
                .obj()
                .at("errors")
                .as_array()
                .size(),
            2u);

  const std::string id = create(R"({"display_name": "Hook", "home_store_id": "S1"})");
  ASSERT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                 R"({"points": 40, "reason": "webhook test"})", support_)
                .status,
            201);
  // A sale uploaded by a store: queued by ingestion in the same transaction.
  sv1::EventBatch batch;
  batch.set_store_id(kStore);
  batch.set_agent_id(kAgent);
  *batch.add_events() = accrual(1, id, 2500, "hook-1");
  ASSERT_EQ(post(batch, token_).result_int(), 200);

  ASSERT_TRUE(receiver.wait_for(4)) << "got " << receiver.got().size();
  std::map<std::string, int> by_type;
  for (const auto& g : receiver.got()) {
    ++by_type[g.event];
    // The signature: t=<seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<body>")>.
    const auto t = std::stoll(g.signature.substr(2, g.signature.find(',') - 2));
    EXPECT_EQ(g.signature, webhook_signature(secret, t, g.body));
    EXPECT_LE(std::abs(t - clock_.now_ms() / 1000), 60);
    auto body = json::parse(g.body).as_object();
    EXPECT_EQ(std::to_string(body.at("delivery_id").as_int64()), g.delivery);
    EXPECT_EQ(body.at("event_type"), json::value(g.event));
  }
  EXPECT_EQ(by_type["member.enrolled"], 2) << "refused once (500), then delivered";
  EXPECT_EQ(by_type["points.adjusted"], 1);
  EXPECT_EQ(by_type["points.accrued"], 1);
  for (const auto& g : receiver.got()) {
    if (g.event == "points.accrued") {
      auto data = json::parse(g.body).at("data").as_object();
      EXPECT_EQ(data.at("customer_id"), json::value(id));
      EXPECT_EQ(data.at("points"), points_for(basket(2500)));
      EXPECT_EQ(data.at("store_id"), "S1");
    }
  }
  // The log: the enrolment took two attempts. The dispatcher records a delivery after the
  // receiver has answered it: on a loaded machine the last one may still be on its way.
  auto log = get("/v1/webhooks/" + sub + "/deliveries?state=delivered", admin_);
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       log.status == 200 && log.obj().at("items").as_array().size() < 3 &&
       std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = get("/v1/webhooks/" + sub + "/deliveries?state=delivered", admin_);
  }
  ASSERT_EQ(log.status, 200) << log.body;
  ASSERT_EQ(log.obj().at("items").as_array().size(), 3u);
  const auto& first = log.obj().at("items").as_array()[2].as_object();  // oldest last
  EXPECT_EQ(first.at("event_type"), "member.enrolled");
  EXPECT_EQ(first.at("attempts"), 2);
  EXPECT_EQ(first.at("log").as_array()[0].at("status"), 500);
  EXPECT_EQ(first.at("log").as_array()[1].at("status"), 200);
  // Redelivery on request.
  auto again = call(V::post,
                    "/v1/webhooks/deliveries/" +
                        std::to_string(first.at("delivery_id").as_int64()) + "/redeliver",
                    "", admin_);
  EXPECT_EQ(again.status, 202);
  ASSERT_TRUE(receiver.wait_for(5));
  EXPECT_EQ(receiver.got().back().delivery, std::to_string(first.at("delivery_id").as_int64()));
}

TEST_F(HqWebhookTest, AReceiverThatNeverAnswersIsGivenUpAfterTheLastAttemptAndNothingElseWaits) {
  const uint16_t closed = testing::free_loopback_port();
  const std::string sub = subscribe(closed, R"(["member.enrolled"])");
  ASSERT_FALSE(create("{}").empty());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  std::string state;
  while (std::chrono::steady_clock::now() < until) {
    state = db_.scalar("SELECT state FROM webhook_outbox");
    if (state == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(state, "failed");
  EXPECT_EQ(db_.scalar("SELECT attempts FROM webhook_outbox"), "3");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_attempt WHERE status IS NULL AND error <> ''"),
            "3")
      << "each attempt logged with the connection error";
  auto w = get("/v1/webhooks/" + sub, admin_);
  EXPECT_EQ(w.obj().at("failed"), 1);
  EXPECT_EQ(w.obj().at("pending"), 0);
  // Unsubscribing takes its deliveries with it.
  EXPECT_EQ(call(V::delete_, "/v1/webhooks/" + sub, "", admin_).status, 204);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_outbox"), "0");
}

}  // namespace
}  // namespace accrue::cloud
