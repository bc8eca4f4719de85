// Published programme versions, read from PostgreSQL and kept in memory: a version never changes
// once published, so an entry never goes stale. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "cloud/pg/pg.h"
#include "common/program.h"
#include "common/time_zone.h"

namespace accrue::cloud {

struct PublishedProgram {
  Program program;
  TimeZone zone;
};

class ProgramCatalog {
 public:
  explicit ProgramCatalog(TimeZoneSource& zones) : zones_(zones) {}

  // kNotFound when that version was never published.
  Result<std::shared_ptr<const PublishedProgram>> get(pg::Connection& c,
                                                      const std::string& program_id,
                                                      uint32_t version);
  // The newest published version (of any programme: one chain runs one programme), looked up at
  // most every 10 s. kNotFound when nothing is published.
  Result<std::shared_ptr<const PublishedProgram>> latest(pg::Connection& c, TimestampMs now);
  // Validates the programme JSON and stores it as (program_id, version). Publishing the same
  // version again with the same body is a no-op; with another body it is kConflict.
  static Result<Program> publish(pg::Connection& c, std::string_view json);

  // `program` as a store in `time_zone` runs it: its days, caps, windows and lot dates in that
  // zone (the store registry's; empty, or the programme's own: `program` itself). Cached.
  // kInvalidArgument for a zone this machine does not know.
  Result<std::shared_ptr<const PublishedProgram>> in_zone(
      const std::shared_ptr<const PublishedProgram>& program, const std::string& time_zone);

 private:
  TimeZoneSource& zones_;
  std::mutex mu_;
  std::map<std::pair<std::string, uint32_t>, std::shared_ptr<const PublishedProgram>> cache_;
  std::shared_ptr<const PublishedProgram> latest_;
  std::map<std::tuple<std::string, uint32_t, std::string>, std::shared_ptr<const PublishedProgram>>
      zoned_;
  TimestampMs latest_checked_ = 0;
};

}  // namespace accrue::cloud
