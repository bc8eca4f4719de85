#include "cloud/hq/head_office_events.h"

#include "cloud/sync/ingest.h"

namespace accrue::cloud::hq {

HeadOfficeBatch::HeadOfficeBatch(const PublishedProgram& program, TimestampMs now, bool web_shop)
    : program_(program), now_(now) {
  batch_.set_store_id(std::string(web_shop ? Ingest::kWebShopStore : Ingest::kHeadOfficeStore));
  batch_.set_agent_id(std::string(web_shop ? Ingest::kWebShopAgent : Ingest::kHeadOfficeAgent));
}

sync::v1::EventEnvelope& HeadOfficeBatch::event(std::string event_id) {
  auto* e = batch_.add_events();
  e->set_event_id(std::move(event_id));
  e->set_store_id(batch_.store_id());
  e->set_agent_id(batch_.agent_id());
  e->set_occurred_at_ms(now_);
  e->set_program_id(program_.program.program_id);
  e->set_program_version(program_.program.version);
  e->set_schema_version(1);
  return *e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::adjustment(std::string event_id,
                                                     const std::string& customer_id, int64_t points,
                                                     const std::string& reason,
                                                     const std::string& actor) {
  auto& e = event(std::move(event_id));
  auto* a = e.mutable_adjustment();
  a->set_customer_id(customer_id);
  a->set_points(points);
  a->set_reason(reason);
  a->set_actor(actor);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::enrolment_bonus(std::string event_id,
                                                          const std::string& customer_id,
                                                          const std::string& actor) {
  auto& e = event(std::move(event_id));
  auto* a = e.mutable_adjustment();
  a->set_customer_id(customer_id);
  a->set_reason("enrolment bonus");
  a->set_actor(actor);
  a->set_enrolment_bonus(true);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::claim(std::string event_id,
                                                const std::string& customer_id,
                                                const std::vector<std::string>& hashes,
                                                const std::string& actor) {
  auto& e = event(std::move(event_id));
  auto* c = e.mutable_claim();
  c->set_customer_id(customer_id);
  for (const auto& h : hashes) c->add_identifier_hashes(h);
  c->set_actor(actor);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::sale(std::string event_id, const std::string& customer_id,
                                               const std::string& order_id, TimestampMs at,
                                               const loyalty::v1::Basket& basket) {
  auto& e = event(std::move(event_id));
  e.set_occurred_at_ms(at);
  auto* a = e.mutable_accrual();
  a->set_customer_id(customer_id);
  a->set_till_id("web");
  a->set_pos_tx_id(order_id);
  *a->mutable_basket() = basket;
  a->mutable_basket()->set_occurred_at_ms(at);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::sale_return(
    std::string event_id, const std::string& sale_event_id, const std::string& pos_tx_id,
    const std::vector<std::pair<uint32_t, int64_t>>& lines) {
  auto& e = event(std::move(event_id));
  auto* r = e.mutable_return_();
  r->set_till_id("web");
  r->set_pos_tx_id(pos_tx_id);
  r->set_original_event_id(sale_event_id);
  for (const auto& [line_no, quantity] : lines) {
    auto* l = r->add_lines();
    l->set_line_no(line_no);
    l->set_quantity_milli(quantity);
  }
  return e;
}

namespace {

loyalty::v1::Money money(const std::string& currency, int64_t minor) {
  loyalty::v1::Money m;
  m.set_currency(currency);
  m.set_minor_units(minor);
  return m;
}

}  // namespace

sync::v1::EventEnvelope& HeadOfficeBatch::coupon_use(
    std::string event_id, const std::string& customer_id, const std::string& order_id,
    const CouponClaims& coupon, const std::string& currency, int64_t discount_minor,
    int64_t basket_total_minor) {
  auto& e = event(std::move(event_id));
  auto* u = e.mutable_coupon_use();
  u->set_coupon_id(coupon.coupon_id.to_string());
  u->set_reward_id(coupon.reward_id);
  u->set_customer_id(customer_id);
  u->set_till_id("web");
  u->set_pos_tx_id(order_id);
  if (discount_minor > 0) *u->mutable_discount() = money(currency, discount_minor);
  u->set_key_id(coupon.key_id);
  u->set_expires_at_ms(coupon.expires_at_ms);
  *u->mutable_basket_total() = money(currency, basket_total_minor);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::redemption(std::string event_id,
                                                     const std::string& customer_id,
                                                     const std::string& order_id, int64_t points,
                                                     const std::string& currency,
                                                     int64_t value_minor) {
  auto& e = event(std::move(event_id));
  auto* r = e.mutable_redemption();
  r->set_customer_id(customer_id);
  r->set_till_id("web");
  r->set_pos_tx_id(order_id);
  r->set_points(points);
  *r->mutable_value() = money(currency, value_minor);
  return e;
}

}  // namespace accrue::cloud::hq
