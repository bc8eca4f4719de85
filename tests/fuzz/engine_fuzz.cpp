// The domain core fed with arbitrary programmes and baskets: a programme (protobuf JSON), then
// "\n----\n", then a basket (protobuf JSON). Validation refuses what it must; whatever it accepts
// must earn, redeem and plan returns without crashing, overflowing (UBSan) or looping.
#include <google/protobuf/util/json_util.h>

#include "common/engine/earn.h"
#include "common/engine/redemption.h"
#include "common/wire/loyalty_codec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace accrue;
  auto [program_json, basket_json] = fuzz::split2(fuzz::text(data, size));
  auto program = wire::program_from_json(program_json);
  if (!program) return 0;
  loyalty::v1::Basket pb;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(std::string(basket_json), &pb, o).ok()) {
    return 0;
  }
  auto basket = wire::basket_from_proto(pb);
  if (!basket) return 0;
  for (const auto& tier : program->tiers.ladder) {
    auto e = compute_earn(*program, *basket, {tier.tier_id, 0, nullptr, "IE"});
    if (e && e->points < 0) __builtin_trap();
  }
  auto anonymous = compute_earn(*program, *basket, {});
  (void)anonymous;
  (void)redemption_value(program->redemption, basket->currency, 100);
  (void)points_for_discount(program->redemption, Money(1000, basket->currency));
  return 0;
}
