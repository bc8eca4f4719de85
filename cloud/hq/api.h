// The head-office REST API (/v1/customers, /v1/audit, /v1/openapi.yaml, ...), described route by
// route in cloud/openapi/openapi.yaml, which the server serves and the tests hold it to.
//
// One class per resource (resources.h), every route behind one gate (gate.h: token, roles, rate
// limits, idempotency). Bodies are JSON objects read strictly (json_input.h): a field the
// operation does not take is an error. Errors are RFC 9457 problem+json with a type per kind of
// problem (cloud/http/problems.h). Lists page by keyset (`limit`, capped, and an opaque
// `cursor`). Updates answer an ETag and honour If-Match. Every change writes its audit row in its
// own transaction; reads of personal data are audited asynchronously (audit_trail.h).
#pragma once

#include <memory>

#include "cloud/hq/deps.h"
#include "cloud/hq/gate.h"
#include "cloud/hq/member_api.h"
#include "cloud/hq/resources.h"

namespace accrue::cloud::hq {

// The OpenAPI 3.1 document (cloud/openapi/openapi.yaml, compiled in).
std::string_view openapi_document();

class HqApi {
 public:
  // kInvalidArgument / kNotFound for an unreadable identifier key file.
  static Result<std::unique_ptr<HqApi>> create(HqDeps deps);
  void add_routes(http::Router& router);
  // Starts the background job runner (once the schema is in place).
  void start_background() { jobs_.start(); }
  AuditTrail& audit() { return shared_.audit; }
  // Writes what the audit queue holds (shutdown).
  void flush_audit() { shared_.audit.flush(std::chrono::seconds(5)); }

 private:
  explicit HqApi(HqDeps deps);

  HqShared shared_;
  Gate gate_;
  CustomersApi customers_;
  PointsApi points_;
  PrivacyApi privacy_;
  StoresApi stores_;
  ReturnsApi returns_;
  OrdersApi orders_;
  OverdraftsApi overdrafts_;
  RewardsApi rewards_;
  ProgramsApi programs_;
  SegmentsApi segments_;
  WebhooksApi webhooks_;
  JobsApi jobs_;
  AuditApi audit_;
  MemberApi members_;  // after customers_ and rewards_, whose handlers it serves to members
};

}  // namespace accrue::cloud::hq
