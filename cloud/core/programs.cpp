#include "cloud/core/programs.h"

#include "cloud/sync/feed.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::cloud {

Result<std::shared_ptr<const PublishedProgram>> ProgramCatalog::get(pg::Connection& c,
                                                                    const std::string& program_id,
                                                                    uint32_t version) {
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find({program_id, version}); it != cache_.end()) return it->second;
  }
  const std::string v = std::to_string(version);
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query("SELECT body::text FROM program_version WHERE program_id = $1 AND version = $2",
              {pg::Param::text(program_id), pg::Param::text(v)}));
  if (r.rows() == 0) {
    return fail(ErrorCode::kNotFound,
                "program " + program_id + " version " + v + " has not been published");
  }
  auto program = wire::program_from_json(r.text(0, 0));
  if (!program) {
    return fail(ErrorCode::kDataLoss,
                "program " + program_id + " version " + v +
                    " in the database does not validate: " + program.error().message);
  }
  ACCRUE_ASSIGN_OR_RETURN(auto zone, zones_.load(program->time_zone));
  auto p = std::make_shared<const PublishedProgram>(std::move(*program), std::move(zone));
  std::lock_guard lock(mu_);
  return cache_.try_emplace({program_id, version}, std::move(p)).first->second;
}

Result<std::shared_ptr<const PublishedProgram>> ProgramCatalog::in_zone(
    const std::shared_ptr<const PublishedProgram>& program, const std::string& time_zone) {
  if (time_zone.empty() || time_zone == program->zone.name()) return program;
  const auto key =
      std::make_tuple(program->program.program_id, program->program.version, time_zone);
  {
    std::lock_guard lock(mu_);
    if (auto it = zoned_.find(key); it != zoned_.end()) return it->second;
  }
  auto zone = zones_.load(time_zone);
  if (!zone) {
    return fail(ErrorCode::kInvalidArgument, "the store's time zone " + time_zone +
                                                 " is not known here: " + zone.error().message);
  }
  auto p = std::make_shared<const PublishedProgram>(program->program, std::move(*zone));
  std::lock_guard lock(mu_);
  return zoned_.try_emplace(key, std::move(p)).first->second;
}

Result<std::shared_ptr<const PublishedProgram>> ProgramCatalog::latest(pg::Connection& c,
                                                                       TimestampMs now) {
  {
    std::lock_guard lock(mu_);
    if (latest_ && now - latest_checked_ < 10'000) return latest_;
  }
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.exec(
          "SELECT program_id, version FROM program_version ORDER BY created_at DESC, version DESC "
          "LIMIT 1"));
  if (r.rows() == 0) return fail(ErrorCode::kNotFound, "no program has been published");
  auto p = get(c, std::string(r.text(0, 0)), static_cast<uint32_t>(r.int64(0, 1)));
  if (!p) return p;
  std::lock_guard lock(mu_);
  latest_ = *p;
  latest_checked_ = now;
  return latest_;
}

Result<Program> ProgramCatalog::publish(pg::Connection& c, std::string_view json) {
  ACCRUE_ASSIGN_OR_RETURN(auto program, wire::program_from_json(json));
  const std::string canonical = wire::program_to_json(program);
  const std::string v = std::to_string(program.version);
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query(
          "INSERT INTO program_version (program_id, version, body) VALUES ($1, $2, $3::jsonb) "
          "ON CONFLICT (program_id, version) DO NOTHING",
          {pg::Param::text(program.program_id), pg::Param::text(v), pg::Param::text(canonical)}));
  if (r.affected() == 1) {
    // Stores pick the new version up from their change feed.
    ACCRUE_TRY(c.query("INSERT INTO change_feed (kind) VALUES ($1::smallint)",
                       {pg::Param::text(std::to_string(to_int(FeedKind::kProgram)))}));
  }
  if (r.affected() == 0) {
    ACCRUE_ASSIGN_OR_RETURN(
        auto same,
        c.query(
            "SELECT body = $3::jsonb FROM program_version WHERE program_id = $1 AND version = $2",
            {pg::Param::text(program.program_id), pg::Param::text(v), pg::Param::text(canonical)}));
    if (same.rows() == 0 || !same.boolean(0, 0)) {
      return fail(ErrorCode::kConflict, "program " + program.program_id + " version " + v +
                                            " is already published with different rules; "
                                            "publish a new version instead");
    }
  }
  return program;
}

}  // namespace accrue::cloud
