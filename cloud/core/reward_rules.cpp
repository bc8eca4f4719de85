#include "cloud/core/reward_rules.h"

#include <limits>

#include "cloud/hq/segments.h"
#include "common/engine/rewards.h"

namespace accrue::cloud {

Result<int64_t> lock_reward_stock(pg::Connection& c, const std::string& program_id,
                                  const std::string& reward_id) {
  ACCRUE_TRY(c.query(
      "INSERT INTO reward_stock (program_id, reward_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      {pg::Param::text(program_id), pg::Param::text(reward_id)}));
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT issued FROM reward_stock WHERE program_id = $1 AND reward_id = $2 "
                      "FOR UPDATE",
                      {pg::Param::text(program_id), pg::Param::text(reward_id)}));
  return r.int64(0, 0);
}

Result<std::vector<std::string>> customer_segments(pg::Connection& c,
                                                   const std::string& customer_id,
                                                   const std::vector<std::string>& segment_ids) {
  std::vector<std::string> in;
  for (const auto& segment : segment_ids) {
    std::vector<std::string> values;
    auto sql = hq::segment_sql(c, segment, values);
    if (!sql) {
      if (sql.error().code == ErrorCode::kNotFound) continue;
      return std::unexpected(sql.error());
    }
    values.push_back(customer_id);
    std::vector<pg::Param> params;
    for (const auto& v : values) params.push_back(pg::Param::text(v));
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query(("SELECT 1 FROM customer c JOIN balance b USING (customer_id)" + sql->join +
                         " WHERE (" + sql->where + ") AND c.customer_id = $" +
                         std::to_string(values.size()))
                            .c_str(),
                        std::span<const pg::Param>(params)));
    if (r.rows() > 0) in.push_back(segment);
  }
  return in;
}

Result<void> check_reward_rules(pg::Connection& c, const Program& program, const Reward& reward,
                                const std::string& ref, TimestampMs now) {
  // By her id, or by the temporary id a store gave her at enrolment (as ingestion resolves it).
  ACCRUE_ASSIGN_OR_RETURN(
      auto who,
      c.query("SELECT tier_id, status, customer_id FROM customer WHERE customer_id = $1 "
              "OR temp_customer_id = $1 ORDER BY customer_id = $1 DESC LIMIT 1 FOR UPDATE",
              {pg::Param::text(ref)}));
  if (who.rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + ref);
  const std::string customer_id(who.text(0, 2));
  if (who.int64(0, 1) == 2) {
    return std::unexpected(Error{ErrorCode::kFailedPrecondition,
                                 "the member is blocked: rewards cannot be claimed",
                                 "reward.member_blocked",
                                 {}});
  }
  const std::string tier(who.text(0, 0));
  ACCRUE_ASSIGN_OR_RETURN(auto issued, lock_reward_stock(c, program.program_id, reward.reward_id));
  ACCRUE_ASSIGN_OR_RETURN(
      auto mine, c.query("SELECT count(*) FROM coupon WHERE customer_id = $1 AND "
                         "program_id = $2 AND reward_id = $3 AND status <> 'voided'",
                         {pg::Param::text(customer_id), pg::Param::text(program.program_id),
                          pg::Param::text(reward.reward_id)}));
  ACCRUE_ASSIGN_OR_RETURN(auto segments, customer_segments(c, customer_id, reward.segments));
  return check_claim(reward, {tier, segments, now, std::numeric_limits<Points>::max(),
                              static_cast<uint32_t>(mine.int64(0, 0)), issued});
}

}  // namespace accrue::cloud
