// The bulk import's CSV reader: quoted fields over line breaks, CRLF, a record-size bound.
#include <sstream>

#include "cloud/core/import.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(accrue::fuzz::text(data, size)));
  accrue::cloud::CsvReader csv(in);
  // Each record consumes at least one byte: size + 2 rounds always reach the end.
  for (size_t i = 0; i < size + 2; ++i) {
    auto rec = csv.next();
    if (!rec || !*rec) break;
  }
  return 0;
}
