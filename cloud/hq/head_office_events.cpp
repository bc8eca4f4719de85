#include "cloud/hq/head_office_events.h"

#include "cloud/sync/ingest.h"

namespace accrue::cloud::hq {

HeadOfficeBatch::HeadOfficeBatch(const PublishedProgram& program, TimestampMs now)
    : program_(program), now_(now) {
  batch_.set_store_id(std::string(Ingest::kHeadOfficeStore));
  batch_.set_agent_id(std::string(Ingest::kHeadOfficeAgent));
}

sync::v1::EventEnvelope& HeadOfficeBatch::event(std::string event_id) {
  auto* e = batch_.add_events();
  e->set_event_id(std::move(event_id));
  e->set_store_id(batch_.store_id());
  e->set_agent_id(batch_.agent_id());
  e->set_occurred_at_ms(now_);
  e->set_program_id(program_.program.program_id);
  e->set_program_version(program_.program.version);
  e->set_schema_version(1);
  return *e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::adjustment(std::string event_id,
                                                     const std::string& customer_id, int64_t points,
                                                     const std::string& reason,
                                                     const std::string& actor) {
  auto& e = event(std::move(event_id));
  auto* a = e.mutable_adjustment();
  a->set_customer_id(customer_id);
  a->set_points(points);
  a->set_reason(reason);
  a->set_actor(actor);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::enrolment_bonus(std::string event_id,
                                                          const std::string& customer_id,
                                                          const std::string& actor) {
  auto& e = event(std::move(event_id));
  auto* a = e.mutable_adjustment();
  a->set_customer_id(customer_id);
  a->set_reason("enrolment bonus");
  a->set_actor(actor);
  a->set_enrolment_bonus(true);
  return e;
}

sync::v1::EventEnvelope& HeadOfficeBatch::claim(std::string event_id,
                                                const std::string& customer_id,
                                                const std::vector<std::string>& hashes,
                                                const std::string& actor) {
  auto& e = event(std::move(event_id));
  auto* c = e.mutable_claim();
  c->set_customer_id(customer_id);
  for (const auto& h : hashes) c->add_identifier_hashes(h);
  c->set_actor(actor);
  return e;
}

}  // namespace accrue::cloud::hq
