// What crosses the WAN: an EventBatch (the cloud decodes it from a store) and a ChangesPage (a
// store decodes it from the cloud), with the codec checks applied to what they carry (baskets,
// programmes). The first byte picks which.
#include "accrue/sync/v1/sync.pb.h"
#include "common/wire/loyalty_codec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace accrue;
  if (size == 0) return 0;
  if (data[0] & 1) {
    sync::v1::EventBatch batch;
    if (!batch.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
    for (const auto& e : batch.events()) {
      if (e.has_accrual()) (void)wire::basket_from_proto(e.accrual().basket());
    }
  } else {
    sync::v1::ChangesPage page;
    if (!page.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
    for (const auto& c : page.changes()) {
      if (c.has_program()) (void)wire::program_from_proto(c.program());
    }
  }
  return 0;
}
