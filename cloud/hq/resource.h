// What every head-office resource (resources.h) shares, and the answers every handler gives the
// same way: problems (cloud/http/problems.h), a strictly read JSON body, If-Match, the audit row
// of a change in its own transaction, and the cache invalidation after it.
#pragma once

#include <boost/json/object.hpp>
#include <mutex>
#include <optional>
#include <string>

#include "cloud/hq/audit_trail.h"
#include "cloud/hq/deps.h"
#include "cloud/hq/gate.h"
#include "cloud/hq/json_input.h"
#include "cloud/http/problems.h"
#include "common/identifier.h"
#include "common/uuid.h"

namespace accrue::cloud::hq {

// A page size from ?limit= (default kDefaultPageSize, 1..kMaxPageSize; a bad one is recorded in
// `errors` under /limit and the default returned).
int page_limit(std::string_view target, FieldErrors& errors);

// "\"<revision>\"": a resource's ETag.
std::string etag(int64_t revision);

// Owned by HqApi; one for every resource.
struct HqShared {
  explicit HqShared(HqDeps deps);
  // A new UUIDv7 (customers, transfers, events booked by head office).
  std::string new_id();

  HqDeps d;
  AuditTrail audit;
  std::optional<IdentifierHasher> hasher;  // null: no identifier key configured

 private:
  std::mutex ids_mu_;
  UuidV7Generator ids_;
};

class Resource {
 protected:
  explicit Resource(HqShared& shared)
      : d_(shared.d), hasher_(shared.hasher), audit_(&shared.audit), shared_(shared) {}

  // A problem of a named type, or the Error a lower layer returned (its code picks the status).
  http::Response problem(Call& call, http::Problem p, std::string_view detail,
                         boost::json::object extra = {});
  http::Response problem(Call& call, const Error& error);
  // 422 /problems/validation with one item per field.
  http::Response invalid(Call& call, const FieldErrors& errors);
  // The body as a JSON object (415 / 400 answered through `out` when it is not one).
  std::optional<boost::json::object> json_body(Call& call, http::Response& out);
  // A body of only {"reason": 1..500 characters}: the reason, or nullopt with `out` answered.
  std::optional<std::string> reason_body(Call& call, http::Response& out);
  // With If-Match given and not `etag` (nor "*"): the 412 to answer. `what` names the resource.
  std::optional<http::Response> stale(Call& call, const std::string& etag, std::string_view what);
  http::Response no_content(Call& call);
  // A row of a query result as the resource's JSON.
  using RowJson = boost::json::object (*)(const pg::PgResult& result, int row);
  // `sql` run as is, answered as {"items": [row_json(row) ...]}.
  http::Response listing(Call& call, const std::string& sql, RowJson row_json);
  // `sql` run with `id` as $1, answered as the one row's JSON, 404 "no <what> <id>" when there is
  // none; with `etag_column` >= 0, that column's revision is the answer's ETag.
  http::Response one(Call& call, const std::string& sql, const std::string& id, RowJson row_json,
                     std::string_view what, int etag_column = -1);
  // The audit row of a change, written in `c`'s transaction.
  Result<void> audit_change(pg::Connection& c, Call& call, std::string action, std::string subject,
                            boost::json::object detail = {});
  // The customer's cached reads are dropped (a failure is logged; entries expire anyway).
  void after_change(const std::string& customer_id);
  std::string new_id() { return shared_.new_id(); }

  const HqDeps& d_;
  const std::optional<IdentifierHasher>& hasher_;
  AuditTrail* audit_;

 private:
  HqShared& shared_;
};

}  // namespace accrue::cloud::hq
