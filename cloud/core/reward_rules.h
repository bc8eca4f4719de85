// The rules of a reward claim that the cloud decides (docs/rewards.md, "Claims in the cloud"),
// shared by head office's claims and a till's online claim: the member's row and the reward's
// stock row are locked, in that order, and the domain core's check_claim judges the window, her
// tier, her segments, her coupons of this reward and the stock (voided coupons left out). Her
// points are ingestion's, which books the cost in the same transaction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cloud/pg/pg.h"
#include "common/error.h"
#include "common/program.h"

namespace accrue::cloud {

// The reward's stock row, made when missing and locked for the transaction: the coupons issued
// and not voided. Every writer of a reward's coupons takes it, so they queue on it.
Result<int64_t> lock_reward_stock(pg::Connection& c, const std::string& program_id,
                                  const std::string& reward_id);

// Which of `segment_ids` (saved segments) the customer is in; one head office never defined
// counts as none.
Result<std::vector<std::string>> customer_segments(pg::Connection& c,
                                                   const std::string& customer_id,
                                                   const std::vector<std::string>& segment_ids);

// Locks and judges as above, for the customer `ref` names (her id, or a store's temporary id of
// hers). kNotFound: no such customer. A refusal: kFailedPrecondition with
// its message id (reward.member_blocked, reward.not_yet, reward.ended, reward.tier,
// reward.segment, reward.member_limit, reward.out_of_stock) and the English text.
Result<void> check_reward_rules(pg::Connection& c, const Program& program, const Reward& reward,
                                const std::string& ref, TimestampMs now);

}  // namespace accrue::cloud
