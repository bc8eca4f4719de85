#include "common/customer.h"

namespace accrue {

std::string_view status_name(int64_t stored) {
  switch (stored) {
    case to_int(CustomerStatus::kActive):
      return "active";
    case to_int(CustomerStatus::kBlocked):
      return "blocked";
    case to_int(CustomerStatus::kErased):
      return "erased";
    case to_int(CustomerStatus::kMerged):
      return "merged";
    case to_int(CustomerStatus::kProvisional):
      return "provisional";
    default:
      return "unknown";
  }
}

}  // namespace accrue
