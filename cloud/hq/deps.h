// What the head-office API is built on: the configuration, the stores of record and caches, the
// programme catalogue, ingestion (head-office point changes are booked like a store's events),
// and the clock, randomness and time zones it reads.
#pragma once

#include "cloud/auth/jwt.h"
#include "cloud/auth/oidc.h"
#include "cloud/cache/customer_cache.h"
#include "cloud/config/config.h"
#include "cloud/core/programs.h"
#include "cloud/core/webhooks.h"
#include "cloud/hq/reads.h"
#include "cloud/search/search.h"
#include "cloud/sync/ingest.h"
#include "common/coupon.h"
#include "common/time_zone.h"

namespace accrue::cloud::hq {

struct HqDeps {
  const CloudConfig& config;
  pg::Pool& pool;
  ProgramCatalog& programs;
  Ingest& ingest;
  CustomerReads& reads;
  cache::Redis& redis;
  cache::CustomerCache& cache;
  const auth::JwtVerifier* jwt;  // null: head-office authentication not configured
  const Clock& clock;
  Random& random;
  TimeZoneSource& zones;
  WebhookDispatcher* webhooks;     // woken on redelivery; may be null
  search::CustomerSearch& search;  // the configured read model (segments always use PostgreSQL)
  const CouponSigner* coupons;     // null: no coupon key configured (claims answer 503)
  auth::OidcVerifier* members;     // null: member sign-in not configured (the member API: 401)
};

}  // namespace accrue::cloud::hq
