#include "agent/sync/cloud_client.h"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>

namespace accrue::agent {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<HttpReply*>(user);
  // Bounded: the cloud's answers are small; a runaway body is cut off (and then fails to parse).
  constexpr size_t kMaxBody = 16u << 20;
  const size_t len = size * n;
  if (out->body.size() + len > kMaxBody) return 0;
  out->body.append(data, len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<HttpReply*>(user);
  const size_t len = size * n;
  std::string_view line(data, len);
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  if (name == "retry-after") {
    int64_t s = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
    // Only the delay-seconds form; an HTTP date is ignored (our own backoff applies).
    if (ec == std::errc() && p == value.data() + value.size() && s >= 0) {
      out->retry_after = std::chrono::seconds(std::min<int64_t>(s, 3600));
    }
  } else if (name == "content-type") {
    out->content_type = std::string(value);
  }
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load() ? 1 : 0;  // non-zero aborts
}

}  // namespace

struct CloudClient::Handle {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  ~Handle() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

Result<std::unique_ptr<CloudClient>> CloudClient::create(CloudClientOptions options) {
  if (!options.base_url.starts_with("https://") && !options.base_url.starts_with("http://")) {
    return fail(ErrorCode::kInvalidArgument,
                "cloud url must start with https:// (or http:// behind a local proxy)");
  }
  while (options.base_url.ends_with('/')) options.base_url.pop_back();
  global_init();
  std::unique_ptr<CloudClient> c(new CloudClient());
  c->h_ = std::make_unique<Handle>();
  c->h_->easy = curl_easy_init();
  if (!c->h_->easy) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  CURL* e = c->h_->easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // whatever this libcurl can decode
  curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
  if (!options.cert_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, options.cert_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEY, options.key_file.c_str());
  }
  if (!options.pinned_public_key.empty()) {
    curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, options.pinned_public_key.c_str());
  }
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &c->cancelled_);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  c->options_ = std::move(options);
  return c;
}

CloudClient::~CloudClient() = default;

void CloudClient::refresh_credentials(std::string store_token) {
  std::lock_guard lock(credentials_mu_);
  fresh_token_ = std::move(store_token);
  refreshed_ = true;
}

Result<HttpReply> CloudClient::post(const std::string& path, const std::string& body,
                                    const std::string& content_type) {
  return perform(path, &body, content_type, options_.timeout);
}

Result<HttpReply> CloudClient::post(const std::string& path, const std::string& body,
                                    const std::string& content_type,
                                    std::chrono::milliseconds timeout) {
  return perform(path, &body, content_type, timeout);
}

Result<HttpReply> CloudClient::get(const std::string& path, std::chrono::milliseconds timeout) {
  return perform(path, nullptr, "", timeout);
}

Result<HttpReply> CloudClient::perform(const std::string& path, const std::string* body,
                                       const std::string& content_type,
                                       std::chrono::milliseconds timeout) {
  if (cancelled_.load()) return fail(ErrorCode::kUnavailable, "cancelled");
  CURL* e = h_->easy;
  bool fresh_connection = false;
  {
    std::lock_guard lock(credentials_mu_);
    if (refreshed_) {
      options_.store_token = std::move(fresh_token_);
      refreshed_ = false;
      fresh_connection = true;
    }
  }
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh_connection ? 1L : 0L);
  HttpReply reply;
  const std::string url = options_.base_url + path;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &reply);
  if (h_->headers) curl_slist_free_all(h_->headers), h_->headers = nullptr;
  auto add = [&](const std::string& h) { h_->headers = curl_slist_append(h_->headers, h.c_str()); };
  if (!options_.store_token.empty()) add("Authorization: Bearer " + options_.store_token);
  add("Expect:");  // no 100-continue round trip before a batch
  std::string compressed;
  if (body) {
    const std::string* send = body;
    if (body->size() > options_.gzip_above_bytes) {
      compressed = gzip_compress(*body);
      send = &compressed;
      add("Content-Encoding: gzip");
    }
    add("Content-Type: " + content_type);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, send->data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(send->size()));
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h_->headers);
  const CURLcode rc = curl_easy_perform(e);
  if (rc != CURLE_OK) {
    return fail(ErrorCode::kUnavailable,
                std::string("cloud ") + url + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

std::string gzip_compress(std::string_view in) {
  z_stream zs{};
  // 15 + 16: a gzip header and trailer around the deflate stream.
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace accrue::agent
