// A real accrue-cloud for the till tests that want an online store: a throwaway database on the
// test PostgreSQL (ACCRUE_TEST_PG_DSN), the cloud in this process, and the agent's cloud
// settings. Kept apart from the Qt code (no Qt headers here, no Boost headers there).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace accrue::testing {

class OnlineCloud {
 public:
  // The cloud knows the store's `customers` seeded members (the agent's key file is
  // dir/key). nullptr when no test PostgreSQL is configured (`why` says so) or it fails.
  static std::unique_ptr<OnlineCloud> start(const std::string& dir, const std::string& store_id,
                                            int64_t customers, std::string& why);
  ~OnlineCloud();
  // An agent TOML file pointing at this cloud, with a store token for `store_id`.
  const std::string& agent_config() const { return config_; }
  // Head office claims `reward_id` (of the demo programme) for the customer, as the service
  // desk would (POST /v1/customers/{id}/rewards/{reward_id}/claims): the coupon's code, or
  // empty with `why` set.
  std::string claim(const std::string& customer_id, const std::string& reward_id, std::string& why);

 private:
  OnlineCloud() = default;
  struct State;
  std::unique_ptr<State> state_;
  std::string config_;
};

}  // namespace accrue::testing
