// Coupons: what the claim of a reward issues (docs/rewards.md). A coupon is checked at any store
// without a database lookup: the cloud signs it with its Ed25519 coupon key, and the stores hold
// the public keys, by key id, from the change feed. Whether it was used already, voided or
// revoked is not in the token: the cloud enforces one use chain-wide online, and stores keep a
// revocation list; offline uses are reconciled on upload.
//
// Format, version 1, then written in Crockford base32 (about 190 characters: a QR code):
//   0x01 | key id (4, big-endian) | coupon id (16) | member id (16; all zero: a bearer coupon of a
//   campaign batch) | expires at (8, big-endian Unix ms) | reward id length (1) | reward id |
//   Ed25519 signature (64) over "accrue coupon v1" followed by every byte before it
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"
#include "common/uuid.h"

namespace accrue {

using CouponPublicKey = std::array<uint8_t, 32>;  // raw Ed25519

inline constexpr size_t kMaxCouponCodeChars = 400;

struct CouponClaims {
  uint32_t key_id = 0;
  Uuid coupon_id;
  std::optional<Uuid> member_id;  // nullopt: a bearer coupon (anyone may use it, once)
  TimestampMs expires_at_ms = 0;
  std::string reward_id;  // 1..40 characters
};

// The cloud's side: signs coupons with one key of a rotation, named by its key id.
class CouponSigner {
 public:
  // A PKCS#8 PEM Ed25519 private key (make_coupon_key_pem writes one). kInvalidArgument else.
  static Result<CouponSigner> from_pem(std::string_view pem, uint32_t key_id);
  uint32_t key_id() const { return key_id_; }
  const CouponPublicKey& public_key() const { return public_; }
  // The coupon's code (its key id is this signer's). kInvalidArgument for a reward id that is
  // empty or over 40 bytes, or a nil coupon id.
  Result<std::string> sign(CouponClaims claims) const;

 private:
  struct Key;
  CouponSigner(std::shared_ptr<Key> key, uint32_t key_id, CouponPublicKey pub)
      : key_(std::move(key)), key_id_(key_id), public_(pub) {}
  std::shared_ptr<Key> key_;
  uint32_t key_id_;
  CouponPublicKey public_;
};

// A fresh Ed25519 private key in PKCS#8 PEM.
Result<std::string> make_coupon_key_pem();

// A store's (or the cloud's) side: the public keys of the rotation, by key id.
class CouponVerifier {
 public:
  // Adds or replaces the key `key_id`. kInvalidArgument for bytes that are not an Ed25519 key.
  Result<void> add_key(uint32_t key_id, const CouponPublicKey& key);
  bool has_key(uint32_t key_id) const { return keys_.contains(key_id); }
  // What the code says, once its signature holds and it has not expired at `now_ms`. Refusals
  // for the cashier: coupon.malformed (kInvalidArgument: not a coupon code, mistyped),
  // coupon.unknown_key (kUnavailable: signed with a key this store has not received yet),
  // coupon.forged (kFailedPrecondition: the signature does not hold), coupon.expired
  // (kFailedPrecondition, `expires_at_ms`).
  Result<CouponClaims> verify(std::string_view code, TimestampMs now_ms) const;

 private:
  struct Key;
  std::map<uint32_t, std::shared_ptr<Key>> keys_;
};

}  // namespace accrue
