// The head-office resources, one class each, every one behind the same gate (gate.h) and built
// on what they share (resource.h). Each registers its own routes; HqApi (api.h) assembles them.
// The routes and their bodies are described in cloud/openapi/openapi.yaml.
#pragma once

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "cloud/hq/customer_records.h"
#include "cloud/hq/head_office_events.h"
#include "cloud/hq/order_pricing.h"
#include "cloud/hq/resource.h"
#include "cloud/sync/ingest.h"

namespace accrue::cloud::hq {

class MemberApi;  // serves some of these handlers to the member herself (member_api.h)

// /v1/customers: the three hot reads, search, create, details (personal data), update, block,
// tier floor (customers_api.cpp, customer_search.cpp).
class CustomersApi : public Resource {
 public:
  explicit CustomersApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);
  // The search; with `segment`, the members of that saved segment only.
  http::Response search(Call& call, const std::string* segment = nullptr);

 private:
  friend class MemberApi;
  enum class Read { kStatus, kProfile, kTransactions };
  http::Response read(Call& call, Read what);
  http::Response create(Call& call);
  http::Response details(Call& call);
  // Who changes the details: head office any field; the member (her own, through the member
  // API) neither country nor currency, and her birthday only while none is recorded.
  enum class By { kHeadOffice, kMember };
  http::Response patch(Call& call, By by = By::kHeadOffice);
  http::Response block(Call& call, bool block);
  http::Response tier_floor(Call& call);
  http::Response tier_history(Call& call);
  http::Response add_identifier(Call& call);
  http::Response remove_identifier(Call& call);
  // Locks the customer for a change in `c`'s transaction; a closed (erased or merged) one is
  // answered 410 through `refused`.
  Result<LockedCustomer> lock_open(pg::Connection& c, Call& call, const std::string& id,
                                   std::optional<http::Response>& refused);
  // The customer's document (personal data included) with its ETag.
  http::Response document(Call& call, pg::Connection& c, const std::string& id,
                          http::bhttp::status status = http::bhttp::status::ok);
};

// Points changed by head office: adjustments, transfers between members, an expiry run
// (points_api.cpp).
class PointsApi : public Resource {
 public:
  explicit PointsApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response adjust(Call& call);
  http::Response transfer(Call& call);
  http::Response expiry_run(Call& call);
  // The problem for an adjustment ingestion refused.
  http::Response refused(Call& call, const sync::v1::EventResult& result);
};

// The member's rights: erasure, export of her data, merging two records (privacy_api.cpp).
class PrivacyApi : public Resource {
 public:
  explicit PrivacyApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response erase(Call& call);
  http::Response export_data(Call& call);
  http::Response merge(Call& call);
};

// Stores and their agents: registration, the fleet's sync health, revocation (stores_api.cpp).
class StoresApi : public Resource {
 public:
  explicit StoresApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response create(Call& call);
  http::Response list(Call& call);
  http::Response get(Call& call);
  http::Response update(Call& call);
  http::Response agents(Call& call);
  http::Response revoke(Call& call);
};

// Returns the cloud holds for review (their sale is not known, or they ask for more than it has
// left): the list, one, retry and dismiss (returns_api.cpp).
class ReturnsApi : public Resource {
 public:
  explicit ReturnsApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response list(Call& call);
  http::Response get(Call& call);
  http::Response retry(Call& call);
  http::Response dismiss(Call& call);
};

// The web shop's orders and their returns, booked through ingestion as sales of the virtual
// store WEB, idempotent by the shop's order and return ids (orders_api.cpp, docs/orders.md).
class OrdersApi : public Resource {
 public:
  explicit OrdersApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response create(Call& call);
  http::Response quote(Call& call);
  http::Response get(Call& call);
  http::Response create_return(Call& call);
  // The programme in force and what it takes off `order` (nullopt: refused, see `errors`).
  Result<std::pair<std::shared_ptr<const PublishedProgram>, std::optional<OrderPricing>>> price(
      const OrderAsk& order, TimestampMs now, FieldErrors& errors);
  // The order with its lines' figures and its returns; nullopt when there is none.
  Result<std::optional<boost::json::object>> document(pg::Connection& c,
                                                      const std::string& order_id);
  // The order (with the member's status after it) as the answer.
  http::Response answer(Call& call, const std::string& order_id, http::bhttp::status status);
  http::Response answer_return(Call& call, const std::string& order_id,
                               const std::string& return_id, http::bhttp::status status);
  // A retry of an order booked already: answered as booked, or refused when it differs.
  std::optional<http::Response> booked(Call& call, const std::string& order_id,
                                       const boost::json::object& body);
};

// Realized offline exposure: overdrafts (points two offline stores both honoured), their
// write-off, and the report per store and day (overdrafts_api.cpp, docs/offline-exposure.md).
class OverdraftsApi : public Resource {
 public:
  explicit OverdraftsApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response list(Call& call);
  http::Response write_off(Call& call);
  http::Response exposure(Call& call);
};

// Rewards and coupons: the catalogue in force with its stock, a claim on a member's behalf, her
// coupons, voiding one (rewards_api.cpp, docs/rewards.md).
class RewardsApi : public Resource {
 public:
  explicit RewardsApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  friend class MemberApi;
  Result<std::shared_ptr<const PublishedProgram>> program_in_force();
  // `before`, then `batch` booked through ingestion when there is one, then `after` with the
  // result of its one event (nullptr without a batch): one transaction, all or nothing.
  Result<void> in_one_transaction(
      const std::optional<HeadOfficeBatch>& batch,
      const std::function<Result<void>(pg::Connection&)>& before,
      const std::function<Result<void>(pg::Connection&, const sync::v1::EventResult*)>& after);
  http::Response list(Call& call);
  // The catalogue as it stands for one member, judged on everything the cloud holds.
  http::Response for_customer(Call& call);
  // `by_member`: the member claims it herself (member API): no reason is asked for.
  http::Response claim(Call& call, bool by_member = false);
  http::Response coupons(Call& call);
  http::Response void_coupon(Call& call);
  http::Response create_batch(Call& call);
  http::Response batch_codes(Call& call);
};

// Programmes: published versions, their diff, validation, drafts and publication
// (programs_api.cpp).
class ProgramsApi : public Resource {
 public:
  explicit ProgramsApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response list(Call& call);
  http::Response version(Call& call);
  http::Response diff(Call& call);
  http::Response validate(Call& call);
  http::Response draft_create(Call& call);
  http::Response draft_list(Call& call);
  http::Response draft_get(Call& call);
  http::Response draft_put(Call& call);
  http::Response draft_publish(Call& call);
};

// Saved segments: definitions, live counts, members, CSV export (segments_api.cpp).
class SegmentsApi : public Resource {
 public:
  SegmentsApi(HqShared& shared, CustomersApi& customers)
      : Resource(shared), customers_(customers) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response write(Call& call, bool create);
  http::Response list(Call& call);
  http::Response get(Call& call);
  http::Response remove(Call& call);
  http::Response count(Call& call);
  http::Response members(Call& call);
  http::Response export_csv(Call& call);

  CustomersApi& customers_;
};

// Webhook subscriptions, their deliveries and redelivery (webhooks_api.cpp).
class WebhooksApi : public Resource {
 public:
  explicit WebhooksApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response create(Call& call);
  http::Response list(Call& call);
  http::Response get(Call& call);
  http::Response remove(Call& call);
  http::Response deliveries(Call& call);
  http::Response redeliver(Call& call);
};

// Background jobs (bulk adjustments) and the runner that works them (jobs_api.cpp).
class JobsApi : public Resource {
 public:
  explicit JobsApi(HqShared& shared) : Resource(shared) {}
  ~JobsApi();
  void add_routes(Gate& gate, http::Router& router);
  // Starts the runner (once the schema is in place).
  void start();

 private:
  http::Response bulk_adjust(Call& call);
  http::Response get(Call& call);
  http::Response scheduled(Call& call);
  void wake();
  void run(std::stop_token stop);
  // Works one job to its end (or until it fails); false when no job was waiting.
  Result<bool> run_once(std::stop_token stop);

  std::mutex mu_;
  std::condition_variable_any cv_;
  bool woken_ = false;
  std::jthread runner_;
};

// The audit log (audit_api.cpp).
class AuditApi : public Resource {
 public:
  explicit AuditApi(HqShared& shared) : Resource(shared) {}
  void add_routes(Gate& gate, http::Router& router);

 private:
  http::Response list(Call& call);
};

}  // namespace accrue::cloud::hq
