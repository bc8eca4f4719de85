#include "common/sealed_contact.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <vector>

namespace accrue {

namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kKeyLen = 32, kNonceLen = 12, kTagLen = 16;
constexpr size_t kHeader = 1 + kKeyLen + kNonceLen;
constexpr size_t kMaxField = 320;
constexpr std::string_view kInfo = "accrue contact v1";

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::unexpected<Error> crypto_failure(std::string_view what) {
  return fail(ErrorCode::kInternal, "sealed contact: " + std::string(what) + " failed");
}

const uint8_t* bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

Result<ContactPublicKey> raw_public(EVP_PKEY* key) {
  ContactPublicKey out{};
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, out.data(), &len) != 1 || len != out.size()) {
    return crypto_failure("reading the public key");
  }
  return out;
}

// The AES key from the X25519 shared secret of `own` and `peer`.
Result<std::array<uint8_t, 32>> box_key(EVP_PKEY* own, EVP_PKEY* peer,
                                        const ContactPublicKey& ephemeral,
                                        const ContactPublicKey& recipient) {
  PkeyCtx dh(EVP_PKEY_CTX_new(own, nullptr), EVP_PKEY_CTX_free);
  std::array<uint8_t, 32> secret{};
  size_t secret_len = secret.size();
  if (!dh || EVP_PKEY_derive_init(dh.get()) != 1 || EVP_PKEY_derive_set_peer(dh.get(), peer) != 1 ||
      EVP_PKEY_derive(dh.get(), secret.data(), &secret_len) != 1 || secret_len != secret.size()) {
    return crypto_failure("the key agreement");
  }
  std::array<uint8_t, 2 * kKeyLen> salt{};
  std::copy(ephemeral.begin(), ephemeral.end(), salt.begin());
  std::copy(recipient.begin(), recipient.end(), salt.begin() + kKeyLen);
  PkeyCtx kdf(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), EVP_PKEY_CTX_free);
  std::array<uint8_t, 32> key{};
  size_t key_len = key.size();
  if (!kdf || EVP_PKEY_derive_init(kdf.get()) != 1 ||
      EVP_PKEY_CTX_set_hkdf_md(kdf.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_salt(kdf.get(), salt.data(), static_cast<int>(salt.size())) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(kdf.get(), secret.data(), static_cast<int>(secret.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(kdf.get(), bytes(kInfo), static_cast<int>(kInfo.size())) != 1 ||
      EVP_PKEY_derive(kdf.get(), key.data(), &key_len) != 1) {
    return crypto_failure("the key derivation");
  }
  return key;
}

}  // namespace

struct ContactOpener::Key {
  Pkey pkey{nullptr, EVP_PKEY_free};
};

Result<std::string> seal_contact(const ContactPublicKey& cloud_key, const ContactDetails& contact) {
  for (const auto* f : {&contact.email, &contact.phone}) {
    if (f->size() > kMaxField || f->find('\n') != std::string::npos) {
      return fail(ErrorCode::kInvalidArgument, "contact: a field has a newline or is too long");
    }
  }
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, cloud_key.data(), kKeyLen),
            EVP_PKEY_free);
  Pkey eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"), EVP_PKEY_free);
  if (!peer || !eph) return crypto_failure("the ephemeral key");
  ACCRUE_ASSIGN_OR_RETURN(auto eph_pub, raw_public(eph.get()));
  ACCRUE_ASSIGN_OR_RETURN(auto key, box_key(eph.get(), peer.get(), eph_pub, cloud_key));
  std::array<uint8_t, kNonceLen> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    return crypto_failure("the nonce");
  }
  const std::string plain = contact.email + "\n" + contact.phone;
  std::string out(kHeader + plain.size() + kTagLen, '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  o[0] = kVersion;
  std::copy(eph_pub.begin(), eph_pub.end(), o + 1);
  std::copy(nonce.begin(), nonce.end(), o + 1 + kKeyLen);
  CipherCtx c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0, fin = 0;
  if (!c ||
      EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(c.get(), nullptr, &len, &kVersion, 1) != 1 ||
      EVP_EncryptUpdate(c.get(), o + kHeader, &len, bytes(plain), static_cast<int>(plain.size())) !=
          1 ||
      EVP_EncryptFinal_ex(c.get(), o + kHeader + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kTagLen, o + kHeader + plain.size()) !=
          1) {
    return crypto_failure("the encryption");
  }
  return out;
}

Result<ContactOpener> ContactOpener::from_pem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  auto key = std::make_shared<Key>();
  if (bio) key->pkey.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key->pkey || EVP_PKEY_get_id(key->pkey.get()) != EVP_PKEY_X25519) {
    return fail(ErrorCode::kInvalidArgument,
                "the contact key is not a PEM X25519 private key (accrue-cloud dev-keys writes "
                "one)");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto pub, raw_public(key->pkey.get()));
  return ContactOpener(std::move(key), pub);
}

Result<ContactDetails> ContactOpener::open(std::string_view sealed) const {
  auto refused = [] {
    return fail(ErrorCode::kInvalidArgument,
                "sealed contact: not a version-1 box sealed to this key");
  };
  if (sealed.size() < kHeader + kTagLen || static_cast<uint8_t>(sealed[0]) != kVersion) {
    return refused();
  }
  ContactPublicKey eph_pub{};
  std::copy(bytes(sealed) + 1, bytes(sealed) + 1 + kKeyLen, eph_pub.begin());
  Pkey eph(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, eph_pub.data(), kKeyLen),
           EVP_PKEY_free);
  if (!eph) return refused();
  ACCRUE_ASSIGN_OR_RETURN(auto key, box_key(key_->pkey.get(), eph.get(), eph_pub, public_));
  const uint8_t* nonce = bytes(sealed) + 1 + kKeyLen;
  const size_t body = sealed.size() - kHeader - kTagLen;
  std::vector<uint8_t> tag(bytes(sealed) + kHeader + body, bytes(sealed) + sealed.size());
  std::string plain(body, '\0');
  CipherCtx c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0, fin = 0;
  if (!c || EVP_DecryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      EVP_DecryptUpdate(c.get(), nullptr, &len, &kVersion, 1) != 1 ||
      EVP_DecryptUpdate(c.get(), reinterpret_cast<uint8_t*>(plain.data()), &len,
                        bytes(sealed) + kHeader, static_cast<int>(body)) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kTagLen, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(c.get(), reinterpret_cast<uint8_t*>(plain.data()) + len, &fin) != 1) {
    return refused();
  }
  const auto nl = plain.find('\n');
  if (nl == std::string::npos) return refused();
  return ContactDetails{plain.substr(0, nl), plain.substr(nl + 1)};
}

Result<std::string> make_contact_key_pem() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"), EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!key || !bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return crypto_failure("the key generation");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace accrue
