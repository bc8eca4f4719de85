// The programme versions the replica keeps (table program): the store side of a programme
// arriving, from the seed, the change feed or a lookup.
#pragma once

#include "agent/store/replica.h"
#include "common/program.h"

namespace accrue::agent {

// Stores `program` unless the replica already has this or a newer version of it. Answers
// whether it was stored.
Result<bool> install_program(Replica& writer, const Program& program, TimestampMs now);

}  // namespace accrue::agent
