// Proves the throwaway Redis started for the tests is real and version 7.
#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/services/service_env.h"

namespace {

struct RedisDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(void* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply command(redisContext* c, const char* fmt, auto... args) {
  return Reply(static_cast<redisReply*>(redisCommand(c, fmt, args...)));
}

TEST(RedisSmokeTest, ConnectsToARealRedis7) {
  ACCRUE_NEED_SERVICE("ACCRUE_TEST_REDIS_PORT");
  int port = std::stoi(accrue::testing::service_env("ACCRUE_TEST_REDIS_PORT"));
  std::unique_ptr<redisContext, RedisDeleter> c(redisConnect("127.0.0.1", port));
  ASSERT_TRUE(c && !c->err) << (c ? c->errstr : "no context");

  auto info = command(c.get(), "INFO server");
  ASSERT_TRUE(info && info->type == REDIS_REPLY_STRING);
  std::string text(info->str, info->len);
  auto at = text.find("redis_version:");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(text.substr(at + 14, 2), "7.");

  auto set = command(c.get(), "SET %s %s PX 60000", "accrue:smoke", "ok");
  ASSERT_TRUE(set && set->type == REDIS_REPLY_STATUS);
  auto get = command(c.get(), "GET %s", "accrue:smoke");
  ASSERT_TRUE(get && get->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(get->str, get->len), "ok");
}

}  // namespace
