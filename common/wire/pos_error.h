// ErrorCode -> the till API's error (accrue.pos.v1.Error): the one place that mapping lives.
#pragma once

#include "accrue/pos/v1/pos.pb.h"
#include "common/error.h"

namespace accrue::wire {

pos::v1::ErrorCode pos_error_code(ErrorCode code);
// Code, message (already written for people, free of identifiers) and whether to retry.
pos::v1::Error to_pos_error(const Error& error);
// The other way, for clients (accruectl exit codes); unknown codes are kInternal.
ErrorCode error_code_from_pos(pos::v1::ErrorCode code);

}  // namespace accrue::wire
