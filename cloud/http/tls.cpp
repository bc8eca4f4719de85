#include "cloud/http/tls.h"

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <cstdio>

namespace accrue::cloud::http {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> server_tls_context(const std::string& cert_file,
                                                         const std::string& key_file,
                                                         const std::string& client_ca_file,
                                                         const std::string& client_crl_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return fail(ErrorCode::kInvalidArgument,
                "tls.cert_file: cannot use " + cert_file + ": " + ec.message());
  }
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    return fail(ErrorCode::kInvalidArgument,
                "tls.key_file: cannot use " + key_file + ": " + ec.message());
  }
  if (!client_ca_file.empty()) {
    ctx->load_verify_file(client_ca_file, ec);
    if (ec) {
      return fail(ErrorCode::kInvalidArgument,
                  "tls.client_ca_file: cannot use " + client_ca_file + ": " + ec.message());
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  }
  if (!client_crl_file.empty()) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(client_crl_file.c_str(), "r"), &std::fclose);
    if (!f) {
      return fail(ErrorCode::kInvalidArgument,
                  "tls.client_crl_file: cannot open " + client_crl_file);
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx->native_handle());
    int crls = 0;
    while (X509_CRL* crl = PEM_read_X509_CRL(f.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
      ++crls;
    }
    if (crls == 0) {
      return fail(ErrorCode::kInvalidArgument,
                  "tls.client_crl_file: no PEM CRL in " + client_crl_file);
    }
    // The leaf (the store's certificate) is checked against the CRL; a CA without a CRL
    // would fail every handshake, so the chain above it is not.
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  return ctx;
}

}  // namespace accrue::cloud::http
