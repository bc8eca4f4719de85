#include "agent/store/programs.h"

#include "common/wire/loyalty_codec.h"

namespace accrue::agent {

Result<bool> install_program(Replica& writer, const Program& program, TimestampMs now) {
  ACCRUE_ASSIGN_OR_RETURN(auto current, writer.latest_program_body());
  if (current) {
    loyalty::v1::Program pb;
    if (pb.ParseFromString(*current) && pb.program_id() == program.program_id &&
        pb.version() >= program.version) {
      return false;
    }
  }
  ACCRUE_TRY(writer.insert_program(program.program_id, program.version,
                                   wire::program_to_proto(program).SerializeAsString(), now));
  return true;
}

}  // namespace accrue::agent
