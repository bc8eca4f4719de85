// Contact details a store captures at enrolment (the member's e-mail and phone), sealed to the
// cloud's X25519 public key so that only the cloud can read them: the replica, the outbox, the
// logs and the network carry the sealed bytes only (docs/lifecycle.md, "Contact and consent").
//
// Format, version 1:
//   0x01 | ephemeral X25519 public key (32) | nonce (12) | AES-256-GCM ciphertext | tag (16)
// key = HKDF-SHA-256(X25519(ephemeral, cloud), salt = ephemeral public | cloud public,
//                    info = "accrue contact v1"); the version byte is the additional data.
// The plaintext is "<email>\n<phone>", each normalised or empty.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace accrue {

using ContactPublicKey = std::array<uint8_t, 32>;  // raw X25519

struct ContactDetails {
  std::string email;
  std::string phone;
  bool empty() const { return email.empty() && phone.empty(); }
};

// Seals `contact` to `cloud_key`. kInvalidArgument for a field with a newline or over 320 bytes.
Result<std::string> seal_contact(const ContactPublicKey& cloud_key, const ContactDetails& contact);

// The cloud's side: its private key, and the opening of what stores sealed.
class ContactOpener {
 public:
  // A PKCS#8 PEM X25519 private key (what make_contact_key_pem writes). kInvalidArgument otherwise.
  static Result<ContactOpener> from_pem(std::string_view pem);
  // The public key stores seal to.
  const ContactPublicKey& public_key() const { return public_; }
  // kInvalidArgument for bytes that are not a version-1 box sealed to this key (tampered,
  // truncated, or sealed to another key).
  Result<ContactDetails> open(std::string_view sealed) const;

 private:
  struct Key;
  explicit ContactOpener(std::shared_ptr<Key> key, ContactPublicKey pub)
      : key_(std::move(key)), public_(pub) {}
  std::shared_ptr<Key> key_;
  ContactPublicKey public_{};
};

// A fresh private key as PKCS#8 PEM (accrue-cloud dev-keys, tests).
Result<std::string> make_contact_key_pem();

}  // namespace accrue
