#include "cloud/config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <variant>

extern char** environ;

namespace accrue::cloud {
namespace {

struct UInt {
  uint64_t CloudConfig::*field;
  uint64_t min, max;
};
struct Str {
  std::string CloudConfig::*field;
};
struct Bool {
  bool CloudConfig::*field;
};

struct Key {
  const char* name;
  std::variant<UInt, Str, Bool> target;
  const char* help;
};

constexpr uint64_t kMiB = 1024 * 1024;

// [member_auth]: members signing in with the chain's OpenID Connect provider (docs/members.md).
std::vector<Key> member_auth_keys() {
  return {{"member_auth.issuer", Str{&CloudConfig::member_issuer},
           "the chain's OpenID Connect issuer (https://...) whose tokens members sign in with; its "
           "discovery document names the keys; without it the member API answers 401"},
          {"member_auth.audience", Str{&CloudConfig::member_audience},
           "the aud members' tokens must carry (the member API's resource or the app's client id)"},
          {"member_auth.jwks_refresh_s", UInt{&CloudConfig::member_jwks_refresh_s, 60, 86'400},
           "how often the issuer's keys are fetched again"},
          {"member_auth.jwks_min_refresh_s", UInt{&CloudConfig::member_jwks_min_refresh_s, 0, 3600},
           "a token signed with a key not held yet (a rotation) fetches the keys at once, but not "
           "sooner than this after the last fetch (a forged key id cannot make the service hammer "
           "the provider)"},
          {"member_auth.rate_limit_per_minute",
           UInt{&CloudConfig::member_rate_limit_per_minute, 1, 1'000'000},
           "member API requests one member may make per minute across all replicas; beyond: 429"},
          {"member_auth.write_rate_limit_per_minute",
           UInt{&CloudConfig::member_write_rate_limit_per_minute, 1, 1'000'000},
           "of which changes (claims, preferences)"}};
}

const std::vector<Key>& keys() {
  static const std::vector<Key> k = [] {
    std::vector<Key> all = {
        {"server.listen_address", Str{&CloudConfig::listen_address},
         "IP address to listen on (0.0.0.0 in a pod, 127.0.0.1 for local use)"},
        {"server.port", UInt{&CloudConfig::port, 0, 65535}, "TCP port; 0 picks a free one"},
        {"server.io_threads", UInt{&CloudConfig::io_threads, 1, 64}, "threads serving sockets"},
        {"server.workers", UInt{&CloudConfig::workers, 1, 1024},
         "threads running handlers (they wait on PostgreSQL and Redis)"},
        {"server.max_connections", UInt{&CloudConfig::max_connections, 1, 1'000'000},
         "open connections beyond this are closed at accept"},
        {"server.max_in_flight", UInt{&CloudConfig::max_in_flight, 1, 1'000'000},
         "requests queued for or running in the workers; beyond: 503 + Retry-After"},
        {"server.header_limit_bytes", UInt{&CloudConfig::header_limit_bytes, 1024, kMiB},
         "largest request header block (431 beyond)"},
        {"server.body_limit_bytes", UInt{&CloudConfig::body_limit_bytes, 1024, 256 * kMiB},
         "largest request body (413 beyond)"},
        {"server.read_timeout_ms", UInt{&CloudConfig::read_timeout_ms, 100, 3'600'000},
         "deadline for reading a request"},
        {"server.idle_timeout_ms", UInt{&CloudConfig::idle_timeout_ms, 100, 3'600'000},
         "keep-alive: how long an idle connection waits for its next request"},
        {"server.write_timeout_ms", UInt{&CloudConfig::write_timeout_ms, 100, 3'600'000},
         "deadline for writing a response"},
        {"server.drain_grace_ms", UInt{&CloudConfig::drain_grace_ms, 0, 3'600'000},
         "on SIGTERM: how long in-flight requests may take to finish"},
        {"server.access_log", Bool{&CloudConfig::access_log}, "one log line per request"},
        {"tls.cert_file", Str{&CloudConfig::tls_cert_file},
         "PEM certificate chain: serve HTTPS (empty: plain HTTP behind an ingress)"},
        {"tls.key_file", Str{&CloudConfig::tls_key_file}, "PEM private key of tls.cert_file"},
        {"tls.client_ca_file", Str{&CloudConfig::tls_client_ca_file},
         "the stores' CA: require client certificates (mTLS); the common name is the store id"},
        {"tls.client_crl_file", Str{&CloudConfig::tls_client_crl_file},
         "the stores' CA's revocation list (PEM; packaging/pki/accrue-pki publishes it): revoked "
         "store certificates are refused. Read at start: restart replicas to apply a new one"},
        {"postgres.dsn", Str{&CloudConfig::pg_dsn},
         "libpq connection string or URI of the system of record (required)"},
        {"postgres.pool_size", UInt{&CloudConfig::pg_pool_size, 1, 1000},
         "most connections this replica opens"},
        {"postgres.acquire_timeout_ms", UInt{&CloudConfig::pg_acquire_timeout_ms, 1, 60'000},
         "how long a request waits for a free connection before 503"},
        {"postgres.connect_timeout_s", UInt{&CloudConfig::pg_connect_timeout_s, 1, 300},
         "deadline for opening a connection"},
        {"postgres.answer_timeout_ms", UInt{&CloudConfig::pg_answer_timeout_ms, 100, 3'600'000},
         "deadline for each statement's answer: beyond it the connection is dropped (the server "
         "rolls back), the request gets 503 and the database counts as down"},
        {"postgres.down_cooldown_ms", UInt{&CloudConfig::pg_down_cooldown_ms, 10, 60'000},
         "once the database is down, requests fail at once (503) for this long before one "
         "probes it again"},
        {"postgres.prepared_statements", Bool{&CloudConfig::pg_prepared_statements},
         "plan each statement once per connection; false behind a pooler in transaction mode "
         "that does not track prepared statements"},
        {"postgres.migrate_at_start", Bool{&CloudConfig::migrate_at_start},
         "apply pending migrations when serving starts (safe with many replicas)"},
        {"redis.host", Str{&CloudConfig::redis_host},
         "Redis for the hot-read cache; empty: no cache (reads go to PostgreSQL)"},
        {"redis.port", UInt{&CloudConfig::redis_port, 1, 65535}, "Redis port"},
        {"redis.timeout_ms", UInt{&CloudConfig::redis_timeout_ms, 1, 10'000},
         "connect and command deadline; a slower Redis is skipped for a second"},
        {"redis.ttl_s", UInt{&CloudConfig::cache_ttl_s, 1, 86'400},
         "cache entry lifetime (the bound on staleness if an invalidation cannot reach Redis)"},
        {"redis.key_prefix", Str{&CloudConfig::cache_key_prefix},
         "prefix of every cache key: environments sharing one Redis keep apart by it"},
        {"sync.max_batch_events", UInt{&CloudConfig::max_batch_events, 1, 100'000},
         "most events one upload batch may carry"},
        {"sync.max_inflated_bytes", UInt{&CloudConfig::max_inflated_bytes, 1024, 1024 * kMiB},
         "largest upload once gunzipped (413 beyond)"},
        {"sync.scope_days", UInt{&CloudConfig::scope_days, 1, 3650},
         "a store's change feed covers its home customers and those it has seen in this many days"},
        {"sync.feed_retention_days", UInt{&CloudConfig::feed_retention_days, 1, 3650},
         "prune-feed deletes change-feed rows older than this; a store offline for longer "
         "rebuilds its replica when it comes back"},
        {"auth.store_token_key_file", Str{&CloudConfig::store_token_key_file},
         "secret (32+ bytes or 64+ hex digits) that signs store tokens; required for /v1/sync"},
        {"auth.jwks_file", Str{&CloudConfig::jwks_file},
         "JWKS file with the public keys (RS256/ES256) that sign head-office tokens; required "
         "for /v1/customers"},
        {"auth.issuer", Str{&CloudConfig::jwt_issuer}, "the iss head-office tokens must carry"},
        {"auth.audience", Str{&CloudConfig::jwt_audience}, "the aud head-office tokens must carry"},
        {"auth.identifier_key_file", Str{&CloudConfig::identifier_key_file},
         "the programme key (32+ bytes or 64+ hex digits) the stores hash identifiers with; "
         "needed to give a customer a card, phone or e-mail through the head-office API and to "
         "search by them"},
        {"auth.contact_key_file", Str{&CloudConfig::contact_key_file},
         "PEM X25519 private key (accrue-cloud dev-keys writes one): the stores seal the e-mail "
         "and phone captured at enrolment to its public key, which the change feed gives them; "
         "without it tills enrol members without contact details"},
        {"auth.coupon_key_file", Str{&CloudConfig::coupon_key_file},
         "PEM Ed25519 private key (accrue-cloud dev-keys writes one) that signs coupons; the "
         "stores check them with its public key; without it rewards cannot be claimed"},
        {"auth.coupon_key_id", UInt{&CloudConfig::coupon_key_id, 1, 4'294'967'295},
         "the coupon key's id in the rotation: a new key gets a new id, and coupons signed with "
         "an older key still verify where that key is known"},
        {"hq.rate_limit_per_minute", UInt{&CloudConfig::hq_rate_limit_per_minute, 1, 100'000'000},
         "head-office requests one client (token subject) may make per minute across all "
         "replicas; beyond: 429 + Retry-After"},
        {"hq.write_rate_limit_per_minute",
         UInt{&CloudConfig::hq_write_rate_limit_per_minute, 1, 100'000'000},
         "of which changes (POST, PATCH, PUT, DELETE)"},
        {"hq.idempotency_ttl_s", UInt{&CloudConfig::hq_idempotency_ttl_s, 60, 30 * 86'400},
         "how long an Idempotency-Key and its first response are kept"},
        {"hq.webhooks_allow_http", Bool{&CloudConfig::hq_webhooks_allow_http},
         "accept http:// webhook URLs (local development only; otherwise https is required)"},
        {"hq.webhook_backoff_base_ms",
         UInt{&CloudConfig::hq_webhook_backoff_base_ms, 10, 3'600'000},
         "first webhook retry after about this; doubles per attempt (with jitter), up to 6 hours"},
        {"hq.webhook_max_attempts", UInt{&CloudConfig::hq_webhook_max_attempts, 1, 100},
         "attempts before a webhook delivery is marked failed (it can be redelivered by hand)"},
        {"hq.webhook_poll_ms", UInt{&CloudConfig::hq_webhook_poll_ms, 10, 60'000},
         "how often each replica looks for due webhook deliveries"},
        {"search.backend", Str{&CloudConfig::search_backend},
         "the customer search's read model: postgres (the system of record itself) or "
         "elasticsearch (an Elasticsearch/OpenSearch index kept from the change feed)"},
        {"search.url", Str{&CloudConfig::search_url},
         "Elasticsearch/OpenSearch base URL, e.g. https://search.internal:9200 (backend "
         "elasticsearch)"},
        {"search.alias", Str{&CloudConfig::search_alias},
         "the index alias searched; rebuilds fill <alias>-<n> and move the alias"},
        {"search.api_key_file", Str{&CloudConfig::search_api_key_file},
         "file holding the cluster's API key (sent as Authorization: ApiKey); empty: none"},
        {"search.ca_file", Str{&CloudConfig::search_ca_file},
         "PEM CA bundle the cluster's certificate is checked against; empty: the system's"},
        {"search.timeout_ms", UInt{&CloudConfig::search_timeout_ms, 100, 120'000},
         "deadline of one request to the cluster"},
        {"search.batch", UInt{&CloudConfig::search_batch, 1, 10'000},
         "change-feed rows (and so customers at most) per _bulk request of the projection"},
        {"search.poll_ms", UInt{&CloudConfig::search_poll_ms, 10, 60'000},
         "how often the projecting replica looks for new changes when it has caught up"},
        {"scheduler.enabled", Bool{&CloudConfig::scheduler_enabled},
         "run the daily jobs (points expiry, tier pass, birthday and anniversary bonuses) in this "
         "replica; one replica at a time runs each, by lease"},
        {"scheduler.run_at", Str{&CloudConfig::scheduler_run_at},
         "programme-local time (HH:MM) after which a day's jobs run"},
        {"scheduler.poll_ms", UInt{&CloudConfig::scheduler_poll_ms, 10, 3'600'000},
         "how often a replica looks for due days"},
        {"log.level", Str{&CloudConfig::log_level}, "debug | info | warn | error"},
    };
    auto members = member_auth_keys();
    all.insert(all.end(), members.begin(), members.end());
    return all;
  }();
  return k;
}

const Key* find_key(std::string_view name) {
  for (const auto& k : keys()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

Error bad(std::string_view key, std::string_view source, std::string_view why) {
  return {ErrorCode::kInvalidArgument,
          std::string(key) + " (" + std::string(source) + "): " + std::string(why)};
}

// Sets `key` from text (environment and --set).
Result<void> set_from_text(CloudConfig& c, const Key& k, std::string_view v,
                           std::string_view source) {
  return std::visit(
      [&](const auto& t) -> Result<void> {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, Str>) {
          c.*t.field = std::string(v);
        } else if constexpr (std::is_same_v<T, Bool>) {
          if (v == "true" || v == "1") {
            c.*t.field = true;
          } else if (v == "false" || v == "0") {
            c.*t.field = false;
          } else {
            return std::unexpected(bad(k.name, source, "expected true or false"));
          }
        } else {
          uint64_t n = 0;
          auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
          if (ec != std::errc() || p != v.data() + v.size() || n < t.min || n > t.max) {
            return std::unexpected(bad(k.name, source,
                                       "expected a whole number from " + std::to_string(t.min) +
                                           " to " + std::to_string(t.max)));
          }
          c.*t.field = n;
        }
        return {};
      },
      k.target);
}

Result<void> set_from_toml(CloudConfig& c, const Key& k, const toml::node& n,
                           std::string_view source) {
  return std::visit(
      [&](const auto& t) -> Result<void> {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, Str>) {
          auto s = n.value<std::string>();
          if (!n.is_string() || !s)
            return std::unexpected(bad(k.name, source, "expected a string"));
          c.*t.field = *s;
        } else if constexpr (std::is_same_v<T, Bool>) {
          if (!n.is_boolean())
            return std::unexpected(bad(k.name, source, "expected true or false"));
          c.*t.field = *n.value<bool>();
        } else {
          auto i = n.value<int64_t>();
          if (!n.is_integer() || !i || *i < 0 || static_cast<uint64_t>(*i) < t.min ||
              static_cast<uint64_t>(*i) > t.max) {
            return std::unexpected(bad(k.name, source,
                                       "expected a whole number from " + std::to_string(t.min) +
                                           " to " + std::to_string(t.max)));
          }
          c.*t.field = static_cast<uint64_t>(*i);
        }
        return {};
      },
      k.target);
}

std::string env_name(std::string_view key) {
  std::string e = "ACCRUE_";
  for (char ch : key) e += ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
  return e;
}

}  // namespace

int run_at_minute(std::string_view t) {
  if (t.size() != 5 || t[2] != ':') return -1;
  for (size_t i : {0u, 1u, 3u, 4u}) {
    if (t[i] < '0' || t[i] > '9') return -1;
  }
  const int h = (t[0] - '0') * 10 + (t[1] - '0');
  const int m = (t[3] - '0') * 10 + (t[4] - '0');
  return h < 24 && m < 60 ? h * 60 + m : -1;
}

namespace {

Result<void> validate(const CloudConfig& c) {
  if (c.pg_dsn.empty()) {
    return std::unexpected(bad("postgres.dsn", "required",
                               "not set: give it in the file, as ACCRUE_POSTGRES_DSN or with "
                               "--set postgres.dsn=..."));
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    return std::unexpected(bad("log.level", "value", "expected debug, info, warn or error"));
  }
  if (!c.jwks_file.empty() && c.jwt_issuer.empty()) {
    return std::unexpected(bad("auth.issuer", "required",
                               "set it together with auth.jwks_file (tokens are checked against "
                               "it)"));
  }
  if (c.member_issuer.empty() != c.member_audience.empty()) {
    return std::unexpected(bad("member_auth.audience", "required",
                               "set member_auth.issuer and member_auth.audience together"));
  }
  if (!c.member_issuer.empty() && !c.member_issuer.starts_with("https://") &&
      !c.member_issuer.starts_with("http://127.0.0.1") &&
      !c.member_issuer.starts_with("http://localhost")) {
    return std::unexpected(bad("member_auth.issuer", "value",
                               "an https:// URL (http only for a provider on this machine)"));
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return std::unexpected(
        bad("tls.key_file", "value", "set tls.cert_file and tls.key_file together"));
  }
  if (!c.tls_client_crl_file.empty() && c.tls_client_ca_file.empty()) {
    return std::unexpected(bad("tls.client_crl_file", "value", "needs tls.client_ca_file"));
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return std::unexpected(
        bad("tls.client_ca_file", "value", "needs tls.cert_file and tls.key_file"));
  }
  if (run_at_minute(c.scheduler_run_at) < 0) {
    return std::unexpected(bad("scheduler.run_at", "value", "expected HH:MM, 00:00 to 23:59"));
  }
  if (c.search_backend != "postgres" && c.search_backend != "elasticsearch") {
    return std::unexpected(bad("search.backend", "value", "expected postgres or elasticsearch"));
  }
  if (c.search_backend == "elasticsearch") {
    if (!c.search_url.starts_with("http://") && !c.search_url.starts_with("https://")) {
      return std::unexpected(
          bad("search.url", "value", "the elasticsearch backend needs an http:// or https:// URL"));
    }
    if (c.search_url.ends_with('/')) {
      return std::unexpected(bad("search.url", "value", "without a trailing slash"));
    }
  }
  if (c.search_alias.empty() ||
      c.search_alias.find_first_of("/\\*?\"<>| ,#") != std::string::npos ||
      c.search_alias.front() == '_' || c.search_alias.front() == '-' ||
      std::ranges::any_of(c.search_alias, [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
    return std::unexpected(bad("search.alias", "value",
                               "an index name: lower case, no spaces, commas or /\\*?\"<>|#, "
                               "not starting with _ or -"));
  }
  if (c.listen_address.empty()) {
    return std::unexpected(bad("server.listen_address", "value", "must not be empty"));
  }
  return {};
}

}  // namespace

std::string describe_config_keys() {
  CloudConfig d;
  std::string out;
  for (const auto& k : keys()) {
    std::string def = std::visit(
        [&](const auto& t) -> std::string {
          using T = std::decay_t<decltype(t)>;
          if constexpr (std::is_same_v<T, Str>) {
            return "\"" + d.*t.field + "\"";
          } else if constexpr (std::is_same_v<T, Bool>) {
            return d.*t.field ? "true" : "false";
          } else {
            return std::to_string(d.*t.field);
          }
        },
        k.target);
    out += "  " + std::string(k.name) + " = " + def + "\n      " + k.help + "  [env " +
           env_name(k.name) + "]\n";
  }
  return out;
}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    if (!kv.starts_with("ACCRUE_")) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

Result<CloudConfig> load_cloud_config(const std::optional<std::string>& file,
                                      const Environment& env,
                                      const std::vector<std::string>& overrides) {
  CloudConfig c;
  if (file) {
    std::ifstream in(*file);
    if (!in) return fail(ErrorCode::kNotFound, "cannot read the configuration file " + *file);
    std::stringstream ss;
    ss << in.rdbuf();
    toml::table t;
    try {
      t = toml::parse(ss.str(), *file);
    } catch (const toml::parse_error& e) {
      return fail(ErrorCode::kInvalidArgument, *file + ":" + std::to_string(e.source().begin.line) +
                                                   ": " + std::string(e.description()));
    }
    for (const auto& [section, node] : t) {
      const toml::table* st = node.as_table();
      if (!st) {
        return std::unexpected(bad(section.str(), *file,
                                   "unknown key (settings live in sections "
                                   "such as [server] and [postgres])"));
      }
      for (const auto& [key, value] : *st) {
        std::string name = std::string(section.str()) + "." + std::string(key.str());
        const Key* k = find_key(name);
        if (!k) return std::unexpected(bad(name, *file, "unknown key"));
        ACCRUE_TRY(set_from_toml(c, *k, value, *file));
      }
    }
  }
  for (const auto& [name, value] : env) {
    // Only ACCRUE_<SECTION>_<KEY> names that belong to a key; other ACCRUE_ variables (the test
    // helpers' for instance) are not ours to judge.
    for (const auto& k : keys()) {
      if (env_name(k.name) == name) ACCRUE_TRY(set_from_text(c, k, value, "environment " + name));
    }
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos) {
      return std::unexpected(bad(o, "--set", "expected key=value"));
    }
    std::string name = o.substr(0, eq);
    const Key* k = find_key(name);
    if (!k) return std::unexpected(bad(name, "--set", "unknown key"));
    ACCRUE_TRY(set_from_text(c, *k, std::string_view(o).substr(eq + 1), "--set"));
  }
  ACCRUE_TRY(validate(c));
  return c;
}

}  // namespace accrue::cloud
