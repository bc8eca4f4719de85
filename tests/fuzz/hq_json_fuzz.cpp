// Head-office request bodies: the strict JSON parser (depth and size bounds) and the field
// reader every handler uses, over the fields of a customer create.
#include "cloud/hq/json_input.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace accrue::cloud::hq;
  const auto body = accrue::fuzz::text(data, size);
  auto obj = parse_json_object(body);
  (void)parse_rfc3339_ms(body);
  (void)utf8_length(body);
  if (!obj) return 0;
  FieldErrors errors;
  ObjectReader in(*obj, errors);
  (void)in.string("display_name", {.max = 200});
  (void)in.one_of("kind", {"card", "phone", "email", "qr"}, false);
  (void)in.integer("points", {.min = -10'000'000, .max = 10'000'000});
  (void)in.array("identifiers", 16);
  in.finish();
  return 0;
}
