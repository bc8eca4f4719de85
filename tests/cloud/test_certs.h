// Throwaway X.509 material for TLS tests, made with OpenSSL in the test process: a CA, and
// certificates it signs (server for 127.0.0.1, clients named by their common name). P-256 keys,
// valid for a day. PEM strings.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace accrue::testing {

struct Pem {
  std::string cert;
  std::string key;
};

class TestCa {
 public:
  explicit TestCa(const std::string& name) {
    key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    cert_.reset(make(name, key_.get(), nullptr, key_.get(), true, false));
  }
  std::string cert_pem() const { return to_pem(cert_.get()); }
  // A certificate for `cn` signed by this CA; `server` adds a 127.0.0.1 / localhost SAN.
  Pem issue(const std::string& cn, bool server) const {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> c(
        make(cn, k.get(), cert_.get(), key_.get(), false, server), &X509_free);
    return {to_pem(c.get()), key_pem(k.get())};
  }

 private:
  static X509* make(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                    bool ca, bool server) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
      X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
    if (server) add(NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    X509_sign(x, issuer_key, EVP_sha256());
    return x;
  }
  static std::string to_pem(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* d = nullptr;
    long n = BIO_get_mem_data(b, &d);
    std::string s(d, static_cast<size_t>(n));
    BIO_free(b);
    return s;
  }
  static std::string key_pem(EVP_PKEY* k) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* d = nullptr;
    long n = BIO_get_mem_data(b, &d);
    std::string s(d, static_cast<size_t>(n));
    BIO_free(b);
    return s;
  }

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_{nullptr, &EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> cert_{nullptr, &X509_free};
};

}  // namespace accrue::testing
