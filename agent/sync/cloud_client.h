// The agent's HTTP client to accrue-cloud, on libcurl: one keep-alive connection (the easy
// handle is reused), TLS 1.2 or later, mutual TLS with the store's certificate when configured,
// optional public-key pinning, a store token as bearer credential behind an ingress, gzip on
// request bodies above a threshold, and connect/transfer timeouts. A request in flight is
// abandoned within ~100 ms of cancel().
//
// Not thread-safe: one client per thread (the uploader owns one). The one exception is
// refresh_credentials(), which any thread may call (SIGHUP).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/error.h"

namespace accrue::agent {

struct CloudClientOptions {
  std::string base_url;           // e.g. "https://cloud.example:8443"; no trailing slash needed
  std::string store_token;        // sent as "Authorization: Bearer <token>" when not empty
  std::string ca_file;            // CA bundle that signs the cloud's certificate (default: system)
  std::string cert_file;          // the store's client certificate (mutual TLS)
  std::string key_file;           // and its private key
  std::string pinned_public_key;  // "sha256//<base64>[;sha256//...]" (curl's syntax), optional
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds timeout{30000};
  size_t gzip_above_bytes = 4096;  // request bodies larger than this are sent gzip-compressed
  std::string user_agent = "accrue-agent";
};

struct HttpReply {
  long status = 0;
  std::string body;
  std::string content_type;
  std::optional<std::chrono::seconds> retry_after;  // from a Retry-After header (seconds form)
};

class CloudClient {
 public:
  // kInvalidArgument when the URL is not http(s).
  static Result<std::unique_ptr<CloudClient>> create(CloudClientOptions options);
  ~CloudClient();

  // A transport failure (cannot connect, TLS refused, timeout, reset) is kUnavailable with
  // curl's reason; any HTTP answer, 5xx included, is a reply.
  Result<HttpReply> post(const std::string& path, const std::string& body,
                         const std::string& content_type);
  Result<HttpReply> post(const std::string& path, const std::string& body,
                         const std::string& content_type, std::chrono::milliseconds timeout);
  Result<HttpReply> get(const std::string& path, std::chrono::milliseconds timeout);

  // From any thread: abandon the current and every later request (for shutdown).
  void cancel() { cancelled_.store(true); }

  // From any thread: the next request sends `store_token` and opens a fresh connection, so
  // client certificate and key files rotated on disk are read again.
  void refresh_credentials(std::string store_token);

 private:
  CloudClient() = default;
  Result<HttpReply> perform(const std::string& path, const std::string* body,
                            const std::string& content_type, std::chrono::milliseconds timeout);

  struct Handle;
  std::unique_ptr<Handle> h_;
  CloudClientOptions options_;
  std::atomic<bool> cancelled_{false};
  std::mutex credentials_mu_;
  std::string fresh_token_;  // under credentials_mu_; taken by the next request
  bool refreshed_ = false;   // under credentials_mu_
};

// gzip (RFC 1952) of `in`, for request bodies.
std::string gzip_compress(std::string_view in);

}  // namespace accrue::agent
