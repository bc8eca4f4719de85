#include "cloud/core/balance.h"

#include <charconv>

namespace accrue::cloud {

const char* const kOpenLotsColumn =
    "(SELECT coalesce(string_agg(concat_ws(':', (extract(epoch FROM l.earned_at)*1000)::bigint, "
    "(extract(epoch FROM l.available_at)*1000)::bigint, "
    "coalesce((extract(epoch FROM l.expires_at)*1000)::bigint, -1), l.remaining), ','), '') "
    "FROM points_lot l WHERE l.customer_id = c.customer_id AND l.remaining > 0)";

std::vector<Lot> parse_open_lots(std::string_view s) {
  std::vector<Lot> lots;
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    int64_t v[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
      auto colon = item.find(':');
      auto part = item.substr(0, colon);
      std::from_chars(part.data(), part.data() + part.size(), v[i]);
      item = colon == std::string_view::npos ? std::string_view{} : item.substr(colon + 1);
    }
    Lot l;
    l.lot_id = std::to_string(lots.size());
    l.earned_at_ms = v[0];
    l.available_at_ms = v[1];
    l.expires_at_ms = v[2] < 0 ? kNeverExpires : v[2];
    l.points = v[3];
    l.remaining = v[3];
    lots.push_back(std::move(l));
  }
  return lots;
}

CustomerPoints customer_points(int64_t balance_points, const std::vector<Lot>& lots,
                               TimestampMs now) {
  LotBalance lb = balance_of(lots, now, now + kExpiringHorizonMs);
  int64_t in_lots = 0;
  for (const auto& l : lots) in_lots += l.remaining;
  const int64_t owed = std::min<int64_t>(0, balance_points - in_lots);
  return {lb.available + owed, lb.pending, lb.expiring, lb.expiring_at_ms};
}

}  // namespace accrue::cloud
