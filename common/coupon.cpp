#include "common/coupon.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>

#include "common/base32.h"

namespace accrue {

namespace {

constexpr uint8_t kVersion = 1;
constexpr std::string_view kContext = "accrue coupon v1";
constexpr size_t kSignatureLen = 64;
constexpr size_t kFixedLen = 1 + 4 + 16 + 16 + 8 + 1;  // up to the reward id
constexpr size_t kMaxRewardId = 40;

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_be(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v = v << 8 | static_cast<uint8_t>(in[at + static_cast<size_t>(i)]);
  return v;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string signed_message(std::string_view payload) {
  std::string m(kContext);
  m += payload;
  return m;
}

Error malformed() {
  return {ErrorCode::kInvalidArgument,
          "This is not a coupon code; it may have been mistyped.",
          "coupon.malformed",
          {}};
}

}  // namespace

struct CouponSigner::Key {
  Pkey pkey{nullptr, EVP_PKEY_free};
};

struct CouponVerifier::Key {
  Pkey pkey{nullptr, EVP_PKEY_free};
};

Result<CouponSigner> CouponSigner::from_pem(std::string_view pem, uint32_t key_id) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  auto key = std::make_shared<Key>();
  if (bio) key->pkey.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  CouponPublicKey pub{};
  size_t len = pub.size();
  if (!key->pkey || EVP_PKEY_get_id(key->pkey.get()) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(key->pkey.get(), pub.data(), &len) != 1 || len != pub.size()) {
    return fail(ErrorCode::kInvalidArgument, "the coupon key is not a PEM Ed25519 private key");
  }
  return CouponSigner(std::move(key), key_id, pub);
}

Result<std::string> CouponSigner::sign(CouponClaims c) const {
  if (c.reward_id.empty() || c.reward_id.size() > kMaxRewardId) {
    return fail(ErrorCode::kInvalidArgument, "coupon: reward_id must have 1 to 40 bytes");
  }
  if (c.coupon_id.is_nil()) return fail(ErrorCode::kInvalidArgument, "coupon: no coupon id");
  if (c.expires_at_ms <= 0) return fail(ErrorCode::kInvalidArgument, "coupon: no expiry");
  std::string payload;
  payload += static_cast<char>(kVersion);
  put_be(payload, key_id_, 4);
  payload.append(reinterpret_cast<const char*>(c.coupon_id.bytes().data()), 16);
  const Uuid member = c.member_id.value_or(Uuid{});
  payload.append(reinterpret_cast<const char*>(member.bytes().data()), 16);
  put_be(payload, static_cast<uint64_t>(c.expires_at_ms), 8);
  payload += static_cast<char>(c.reward_id.size());
  payload += c.reward_id;
  const std::string message = signed_message(payload);
  std::string signature(kSignatureLen, '\0');
  size_t sig_len = signature.size();
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &sig_len,
                     bytes(message), message.size()) != 1 ||
      sig_len != kSignatureLen) {
    return fail(ErrorCode::kInternal, "coupon: the signature failed");
  }
  return base32_encode(payload + signature);
}

Result<std::string> make_coupon_key_pem() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!key || !bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail(ErrorCode::kInternal, "could not make an Ed25519 key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<void> CouponVerifier::add_key(uint32_t key_id, const CouponPublicKey& raw) {
  auto key = std::make_shared<Key>();
  key->pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!key->pkey) return fail(ErrorCode::kInvalidArgument, "not an Ed25519 public key");
  keys_[key_id] = std::move(key);
  return {};
}

Result<CouponClaims> CouponVerifier::verify(std::string_view code, TimestampMs now_ms) const {
  if (code.size() > kMaxCouponCodeChars) return std::unexpected(malformed());
  auto raw = base32_decode(code);
  if (!raw || raw->size() < kFixedLen + 1 + kSignatureLen ||
      static_cast<uint8_t>((*raw)[0]) != kVersion) {
    return std::unexpected(malformed());
  }
  const std::string_view all(*raw);
  const size_t id_len = static_cast<uint8_t>(all[kFixedLen - 1]);
  if (id_len == 0 || id_len > kMaxRewardId || all.size() != kFixedLen + id_len + kSignatureLen) {
    return std::unexpected(malformed());
  }
  const std::string_view payload = all.substr(0, kFixedLen + id_len);
  const std::string_view signature = all.substr(payload.size());
  CouponClaims c;
  c.key_id = static_cast<uint32_t>(get_be(all, 1, 4));
  auto it = keys_.find(c.key_id);
  if (it == keys_.end()) {
    return std::unexpected(
        Error{ErrorCode::kUnavailable,
              "This coupon cannot be checked at this store yet; try again when online.",
              "coupon.unknown_key",
              {}});
  }
  const std::string message = signed_message(payload);
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, it->second->pkey.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(message),
                       message.size()) != 1) {
    return std::unexpected(
        Error{ErrorCode::kFailedPrecondition, "This coupon is not valid.", "coupon.forged", {}});
  }
  std::array<uint8_t, 16> id{}, member{};
  std::copy_n(bytes(all) + 5, 16, id.begin());
  std::copy_n(bytes(all) + 21, 16, member.begin());
  c.coupon_id = Uuid(id);
  if (!Uuid(member).is_nil()) c.member_id = Uuid(member);
  c.expires_at_ms = static_cast<TimestampMs>(get_be(all, 37, 8));
  c.reward_id = std::string(all.substr(kFixedLen, id_len));
  if (now_ms >= c.expires_at_ms) {
    return std::unexpected(Error{ErrorCode::kFailedPrecondition,
                                 "This coupon has expired.",
                                 "coupon.expired",
                                 {{"expires_at_ms", std::to_string(c.expires_at_ms)}}});
  }
  return c;
}

}  // namespace accrue
