#include "cloud/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

namespace accrue::cloud::auth {

namespace json = boost::json;

namespace {

constexpr int64_t kLeewayS = 60;

template <typename T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using Bn = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Free<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Free<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Bio = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using EcSig = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG, ECDSA_SIG_free>>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) { return {p, EVP_PKEY_free}; }

Error unauthenticated(std::string why) { return {ErrorCode::kUnauthenticated, std::move(why)}; }

std::shared_ptr<EVP_PKEY> key_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return own(pkey);
}

std::optional<std::string> member_b64(const json::object& o, const char* name) {
  auto* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return base64url_decode(std::string_view(v->as_string()));
}

bool verify_signature(EVP_PKEY* key, std::string_view data, std::string_view sig) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

// JWS ES256 signatures are r || s (32 bytes each); OpenSSL wants DER.
std::optional<std::string> es256_raw_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  EcSig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(sig.get(), &p);
  return der;
}

}  // namespace

std::string_view to_string(Role r) {
  switch (r) {
    case Role::kAdmin:
      return "hq-admin";
    case Role::kSupport:
      return "hq-support";
    case Role::kAnalyst:
      return "hq-analyst";
    case Role::kWebShop:
      return "web-shop";
  }
  return "";
}

bool Principal::has_any(std::initializer_list<Role> wanted) const {
  for (Role r : wanted) {
    if (roles.contains(r)) return true;
  }
  return false;
}

Result<JwtVerifier> JwtVerifier::load(const std::string& jwks_path, std::string issuer,
                                      std::string audience) {
  std::ifstream in(jwks_path);
  if (!in) return fail(ErrorCode::kNotFound, "auth.jwks_file: cannot read " + jwks_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_jwks(ss.str(), jwks_path, std::move(issuer), std::move(audience));
}

Result<JwtVerifier> JwtVerifier::from_jwks(std::string_view text, const std::string& jwks_path,
                                           std::string issuer, std::string audience) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("keys") ||
      !doc.as_object().at("keys").is_array()) {
    return fail(ErrorCode::kInvalidArgument,
                jwks_path + ": not a JWKS document ({\"keys\": [...]})");
  }
  JwtVerifier v;
  v.issuer_ = std::move(issuer);
  v.audience_ = std::move(audience);
  size_t i = 0;
  for (const auto& k : doc.as_object().at("keys").as_array()) {
    const std::string where = jwks_path + ": keys[" + std::to_string(i++) + "]";
    if (!k.is_object()) return fail(ErrorCode::kInvalidArgument, where + ": not an object");
    const auto& o = k.as_object();
    auto str = [&](const char* name) -> std::string {
      auto* v2 = o.if_contains(name);
      return v2 && v2->is_string() ? std::string(v2->as_string()) : "";
    };
    const std::string kid = str("kid"), kty = str("kty"), use = str("use");
    if (kid.empty()) return fail(ErrorCode::kInvalidArgument, where + ".kid: required");
    if (!use.empty() && use != "sig") continue;  // encryption keys are not ours
    Key key;
    ParamBld bld(OSSL_PARAM_BLD_new());
    if (kty == "RSA") {
      auto n = member_b64(o, "n"), e = member_b64(o, "e");
      if (!n || !e) return fail(ErrorCode::kInvalidArgument, where + ": RSA keys need n and e");
      Bn bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                        static_cast<int>(n->size()), nullptr));
      Bn bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                        static_cast<int>(e->size()), nullptr));
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
      key.alg = "RS256";
      key.pkey = key_from_params("RSA", bld.get());
      if (key.pkey && EVP_PKEY_get_bits(key.pkey.get()) < 2048) {
        return fail(ErrorCode::kInvalidArgument, where + ": RSA keys must have 2048 bits or more");
      }
    } else if (kty == "EC") {
      auto x = member_b64(o, "x"), y = member_b64(o, "y");
      if (str("crv") != "P-256" || !x || !y || x->size() != 32 || y->size() != 32) {
        return fail(ErrorCode::kInvalidArgument, where + ": EC keys must be P-256 with x and y");
      }
      std::string pub = "\x04" + *x + *y;
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size());
      key.alg = "ES256";
      key.pkey = key_from_params("EC", bld.get());
    } else {
      return fail(ErrorCode::kInvalidArgument, where + ".kty: RSA or EC");
    }
    if (!key.pkey) return fail(ErrorCode::kInvalidArgument, where + ": not a valid public key");
    if (auto alg = str("alg"); !alg.empty() && alg != key.alg) {
      return fail(ErrorCode::kInvalidArgument,
                  where + ".alg: " + alg + " does not fit a " + kty + " key (RS256 or ES256 only)");
    }
    v.keys_[kid] = std::move(key);
  }
  if (v.keys_.empty()) return fail(ErrorCode::kInvalidArgument, jwks_path + ": no signing keys");
  return v;
}

Result<Principal> JwtVerifier::verify(std::string_view token, TimestampMs now) const {
  const int64_t now_s = now / 1000;
  auto in_window = [now_s](const Verified& v) -> Result<void> {
    if (v.exp_s + kLeewayS <= now_s) return std::unexpected(unauthenticated("token expired"));
    if (v.nbf_s && *v.nbf_s - kLeewayS > now_s) {
      return std::unexpected(unauthenticated("token not yet valid"));
    }
    return {};
  };
  {
    std::shared_lock lock(remembered_->mu);
    if (auto it = remembered_->tokens.find(std::string(token)); it != remembered_->tokens.end()) {
      ACCRUE_TRY(in_window(it->second));
      return it->second.principal;
    }
  }
  ACCRUE_ASSIGN_OR_RETURN(auto v, verify_signed(token));
  ACCRUE_TRY(in_window(v));
  std::unique_lock lock(remembered_->mu);
  // Bounded: when full, start over (every entry is one signature check away from coming back).
  if (remembered_->tokens.size() >= kRememberedTokens) remembered_->tokens.clear();
  remembered_->tokens.emplace(std::string(token), v);
  return v.principal;
}

Result<JwtVerifier::Verified> JwtVerifier::verify_signed(std::string_view token) const {
  if (token.size() > 8192) return std::unexpected(unauthenticated("token too long"));
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return std::unexpected(unauthenticated("malformed token"));
  }
  auto header_raw = base64url_decode(token.substr(0, d1));
  auto claims_raw = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!header_raw || !claims_raw || !sig) {
    return std::unexpected(unauthenticated("malformed token"));
  }
  boost::system::error_code ec;
  json::value header = json::parse(*header_raw, ec);
  if (ec || !header.is_object()) return std::unexpected(unauthenticated("malformed token"));
  auto hstr = [&](const char* n) -> std::string {
    auto* v = header.as_object().if_contains(n);
    return v && v->is_string() ? std::string(v->as_string()) : "";
  };
  const std::string alg = hstr("alg"), kid = hstr("kid");
  if (alg != "RS256" && alg != "ES256") {
    return std::unexpected(unauthenticated("algorithm not accepted"));
  }
  auto k = keys_.find(kid);
  if (k == keys_.end()) return std::unexpected(unauthenticated(std::string(kUnknownKey)));
  if (k->second.alg != alg) {
    return std::unexpected(unauthenticated("algorithm does not match the key"));
  }
  const std::string_view signed_part = token.substr(0, d2);
  bool good = false;
  if (alg == "RS256") {
    good = verify_signature(k->second.pkey.get(), signed_part, *sig);
  } else if (auto der = es256_raw_to_der(*sig)) {
    good = verify_signature(k->second.pkey.get(), signed_part, *der);
  }
  if (!good) return std::unexpected(unauthenticated("bad signature"));

  json::value claims = json::parse(*claims_raw, ec);
  if (ec || !claims.is_object()) return std::unexpected(unauthenticated("malformed claims"));
  const auto& c = claims.as_object();
  auto* iss = c.if_contains("iss");
  if (!iss || !iss->is_string() || iss->as_string() != issuer_) {
    return std::unexpected(unauthenticated("wrong issuer"));
  }
  bool aud_ok = false;
  if (auto* aud = c.if_contains("aud")) {
    if (aud->is_string()) aud_ok = aud->as_string() == audience_;
    if (aud->is_array()) {
      for (const auto& a : aud->as_array()) aud_ok |= a.is_string() && a.as_string() == audience_;
    }
  }
  if (!aud_ok) return std::unexpected(unauthenticated("wrong audience"));
  auto number = [&](const char* n) -> std::optional<int64_t> {
    auto* v = c.if_contains(n);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    if (v->is_double()) return static_cast<int64_t>(v->as_double());
    return std::nullopt;
  };
  auto exp = number("exp");
  if (!exp) return std::unexpected(unauthenticated("no expiry"));
  Verified v;
  v.exp_s = *exp;
  v.nbf_s = number("nbf");
  Principal& p = v.principal;
  if (auto* sub = c.if_contains("sub"); sub && sub->is_string()) p.subject = sub->as_string();
  if (auto* roles = c.if_contains("roles"); roles && roles->is_array()) {
    for (const auto& r : roles->as_array()) {
      if (!r.is_string()) continue;
      for (Role role : {Role::kAdmin, Role::kSupport, Role::kAnalyst, Role::kWebShop}) {
        if (r.as_string() == to_string(role)) p.roles.insert(role);
      }
    }
  }
  return v;
}

Result<DevKeys> make_dev_keys(const std::string& kid) {
  auto key = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return fail(ErrorCode::kInternal, "could not generate a P-256 key");
  unsigned char pub[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len) !=
          1 ||
      len != 65) {
    return fail(ErrorCode::kInternal, "could not read the public key");
  }
  json::object jwk;
  jwk["kty"] = "EC";
  jwk["crv"] = "P-256";
  jwk["alg"] = "ES256";
  jwk["use"] = "sig";
  jwk["kid"] = kid;
  jwk["x"] = base64url_encode(std::string_view(reinterpret_cast<char*>(pub + 1), 32));
  jwk["y"] = base64url_encode(std::string_view(reinterpret_cast<char*>(pub + 33), 32));
  json::object doc;
  doc["keys"] = json::array{jwk};
  Bio bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail(ErrorCode::kInternal, "could not write the private key");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return DevKeys{json::serialize(doc), std::string(data, static_cast<size_t>(n))};
}

Result<std::string> sign_es256(const std::string& private_pem, const std::string& kid,
                               const std::string& claims_json) {
  Bio bio(BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())));
  auto key = own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(ErrorCode::kInvalidArgument, "not a PEM private key");
  json::object header;
  header["alg"] = "ES256";
  header["typ"] = "JWT";
  header["kid"] = kid;
  std::string signing_input =
      base64url_encode(json::serialize(header)) + "." + base64url_encode(claims_json);
  MdCtx ctx(EVP_MD_CTX_new());
  size_t der_len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return fail(ErrorCode::kInternal, "signing failed");
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return fail(ErrorCode::kInternal, "signing failed");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return fail(ErrorCode::kInternal, "signing failed");
  unsigned char raw[64];
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + 32, 32);
  return signing_input + "." +
         base64url_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
}

}  // namespace accrue::cloud::auth
