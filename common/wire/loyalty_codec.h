// Domain <-> protobuf (accrue.loyalty.v1) for the values both sides exchange. Decoding is where
// untrusted input enters the domain: every decoder validates and returns kInvalidArgument naming
// the offending field; nothing partially decoded escapes.
#pragma once

#include "accrue/loyalty/v1/loyalty.pb.h"
#include "common/customer.h"
#include "common/engine/basket.h"
#include "common/money.h"
#include "common/program.h"

namespace accrue::wire {

Result<Money> money_from_proto(const loyalty::v1::Money& m);
loyalty::v1::Money money_to_proto(const Money& m);

Result<Basket> basket_from_proto(const loyalty::v1::Basket& b);
loyalty::v1::Basket basket_to_proto(const Basket& b);

// Decodes and validates (validate_and_normalize): the result is ready for the engine.
Result<Program> program_from_proto(const loyalty::v1::Program& p);
loyalty::v1::Program program_to_proto(const Program& p);

Result<CustomerSnapshot> customer_from_proto(const loyalty::v1::CustomerSnapshot& c);
loyalty::v1::CustomerSnapshot customer_to_proto(const CustomerSnapshot& c);

// Parses a Program from canonical protobuf JSON (unknown fields are errors) and validates it.
Result<Program> program_from_json(std::string_view json);
std::string program_to_json(const Program& p);

}  // namespace accrue::wire
