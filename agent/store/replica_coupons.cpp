// The replica's coupons (docs/rewards.md): the cloud's verification keys, the coupons spent
// elsewhere (from the change feed), and the uses at this store's tills.
#include "agent/store/replica.h"
#include "agent/store/replica_rows.h"

namespace accrue::agent {

using namespace replica_rows;

Result<std::vector<std::pair<uint32_t, CouponPublicKey>>> Replica::coupon_keys() {
  ACCRUE_STMT(st, "SELECT key_id, public_key FROM coupon_key ORDER BY key_id");
  ACCRUE_ASSIGN_OR_RETURN(auto rows, st.all([](const sqlite::Stmt& s) {
    return std::pair{s.int64(0), std::string(s.blob(1))};
  }));
  std::vector<std::pair<uint32_t, CouponPublicKey>> out;
  for (const auto& [id, raw] : rows) {
    if (raw.size() != 32 || id < 0 || id > UINT32_MAX) {
      return fail(ErrorCode::kDataLoss, "a coupon key in the replica is damaged");
    }
    CouponPublicKey key{};
    std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(key.data()));
    out.emplace_back(static_cast<uint32_t>(id), key);
  }
  return out;
}

Result<bool> Replica::coupon_spent(std::string_view coupon_id) {
  ACCRUE_STMT(st, "SELECT 1 FROM coupon_spent WHERE coupon_id = ?");
  st.bind_blob(1, coupon_id);
  ACCRUE_ASSIGN_OR_RETURN(auto row, st.first([](const sqlite::Stmt&) { return true; }));
  return row.has_value();
}

Result<std::optional<int64_t>> Replica::live_coupon_use(std::string_view coupon_id) {
  ACCRUE_STMT(st, "SELECT seq FROM coupon_use WHERE coupon_id = ? AND voided_seq IS NULL");
  st.bind_blob(1, coupon_id);
  return st.first([](const sqlite::Stmt& s) { return s.int64(0); });
}

Result<std::optional<CouponUseRow>> Replica::coupon_use(int64_t seq) {
  ACCRUE_STMT(st,
              "SELECT seq, coupon_id, expires_at, voided_seq, sale_seq FROM coupon_use WHERE "
              "seq = ?");
  st.bind(1, seq);
  return st.first([](const sqlite::Stmt& s) {
    auto opt = [&s](int i) { return s.is_null(i) ? std::nullopt : std::optional(s.int64(i)); };
    return CouponUseRow{s.int64(0), std::string(s.blob(1)), s.int64(2), opt(3), opt(4)};
  });
}

Result<int64_t> Replica::offline_coupons() {
  ACCRUE_ASSIGN_OR_RETURN(auto v, meta_int("offline_coupons"));
  return v.value_or(0);
}

Result<int64_t> Replica::offline_claims() {
  ACCRUE_ASSIGN_OR_RETURN(auto v, meta_int("offline_claims"));
  return v.value_or(0);
}

Result<void> Replica::put_coupon_key(uint32_t key_id, const CouponPublicKey& key) {
  ACCRUE_STMT(st, "INSERT OR REPLACE INTO coupon_key (key_id, public_key) VALUES (?, ?)");
  return st.bind(1, static_cast<int64_t>(key_id)).bind_blob(2, std::span<const uint8_t>(key)).run();
}

Result<void> Replica::set_coupon_spent(std::string_view coupon_id, TimestampMs expires_at,
                                       bool spent) {
  if (!spent) {
    ACCRUE_STMT(st, "DELETE FROM coupon_spent WHERE coupon_id = ?");
    return st.bind_blob(1, coupon_id).run();
  }
  ACCRUE_STMT(st, "INSERT OR REPLACE INTO coupon_spent (coupon_id, expires_at) VALUES (?, ?)");
  return st.bind_blob(1, coupon_id).bind(2, expires_at).run();
}

Result<void> Replica::forget_expired_coupons(TimestampMs now) {
  ACCRUE_STMT(st, "DELETE FROM coupon_spent WHERE expires_at < ?");
  return st.bind(1, now).run();
}

Result<void> Replica::clear_spent_coupons() {
  ACCRUE_STMT(st, "DELETE FROM coupon_spent");
  return st.run();
}

Result<void> Replica::insert_coupon_use(int64_t seq, std::string_view coupon_id,
                                        TimestampMs expires_at) {
  ACCRUE_STMT(st, "INSERT INTO coupon_use (seq, coupon_id, expires_at) VALUES (?, ?, ?)");
  return st.bind(1, seq).bind_blob(2, coupon_id).bind(3, expires_at).run();
}

Result<void> Replica::void_coupon_use(int64_t seq, int64_t voided_seq) {
  ACCRUE_STMT(st, "UPDATE coupon_use SET voided_seq = ? WHERE seq = ? AND voided_seq IS NULL");
  return st.bind(1, voided_seq).bind(2, seq).run();
}

Result<void> Replica::set_coupon_use_sale(int64_t seq, int64_t sale_seq) {
  ACCRUE_STMT(st, "UPDATE coupon_use SET sale_seq = ? WHERE seq = ?");
  return st.bind(1, sale_seq).bind(2, seq).run();
}

Result<void> Replica::add_offline_coupons(int64_t n) {
  ACCRUE_STMT(st,
              "INSERT INTO meta (key, value) VALUES ('offline_coupons', ?1) "
              "ON CONFLICT (key) DO UPDATE SET value = MAX(0, CAST(value AS INTEGER) + ?1)");
  return st.bind(1, n).run();
}

Result<void> Replica::add_offline_claims(int64_t n) {
  ACCRUE_STMT(st,
              "INSERT INTO meta (key, value) VALUES ('offline_claims', ?1) "
              "ON CONFLICT (key) DO UPDATE SET value = MAX(0, CAST(value AS INTEGER) + ?1)");
  return st.bind(1, n).run();
}

}  // namespace accrue::agent
