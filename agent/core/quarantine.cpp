// The operator's quarantine commands: events the cloud refused, resubmitted (same id and bytes)
// or dropped with a reason. Only over the unix socket, from the agent's own user or root (the
// server checks the peer; handle() refuses anyone else).
#include "agent/core/service_parts.h"
#include "common/sys/log.h"

namespace accrue::agent {

using namespace service_parts;

void AgentService::handle_quarantine_action(const pb::Request& request, Reply reply) {
  const auto& q = request.quarantine_action();
  auto bad = [&](const Error& e) { reply(error_response(request.request_id(), e)); };
  using Action = pb::QuarantineActionRequest;
  if (q.action() != Action::ACTION_RESUBMIT && q.action() != Action::ACTION_DROP) {
    return bad(invalid("quarantine_action: action must be resubmit or drop"));
  }
  if (q.all() == (q.seqs_size() > 0)) {
    return bad(invalid("quarantine_action: give seqs or all, not both"));
  }
  if (q.seqs_size() > 10000) return bad(invalid("quarantine_action: at most 10000 seqs"));
  if (q.action() == Action::ACTION_DROP && (q.reason().empty() || q.reason().size() > 500)) {
    return bad(invalid("quarantine_action: dropping needs a reason (1 to 500 characters)"));
  }
  const TimestampMs now = clock_.now_ms();
  auto affected = std::make_shared<uint32_t>(0);
  auto dropped = std::make_shared<std::vector<int64_t>>();
  WriteJob job;
  job.apply = [q, now, affected, dropped](Replica& w) -> Result<void> {
    std::vector<int64_t> seqs(q.seqs().begin(), q.seqs().end());
    if (q.all()) {
      ACCRUE_ASSIGN_OR_RETURN(auto rows, w.quarantine(0, 1'000'000));
      for (const auto& r : rows) seqs.push_back(r.seq);
    }
    for (int64_t seq : seqs) {
      ACCRUE_ASSIGN_OR_RETURN(auto done, q.action() == Action::ACTION_RESUBMIT
                                             ? w.resubmit_quarantined(seq, now)
                                             : w.drop_quarantined(seq));
      if (done) {
        ++*affected;
        if (q.action() == Action::ACTION_DROP) dropped->push_back(seq);
      }
    }
    return {};
  };
  job.done = [reply, affected, dropped, q, id = request.request_id()](Result<void> r) {
    if (!r) return reply(error_response(id, r.error()));
    for (int64_t seq : *dropped) {
      log(LogLevel::kWarn, "quarantine_dropped",
          {{"seq", std::to_string(seq)}, {"reason", q.reason()}});
    }
    if (q.action() == Action::ACTION_RESUBMIT && *affected > 0) {
      log(LogLevel::kInfo, "quarantine_resubmitted", {{"events", std::to_string(*affected)}});
    }
    pb::Response out;
    out.set_request_id(id);
    out.mutable_quarantine_action()->set_affected(*affected);
    reply(std::move(out));
  };
  if (!writer_.submit(std::move(job))) {
    return bad({ErrorCode::kResourceExhausted, "The agent is busy; retry in a moment."});
  }
}

}  // namespace accrue::agent
