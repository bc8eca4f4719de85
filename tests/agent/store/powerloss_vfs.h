// A SQLite VFS for power-loss tests. kill -9 keeps the operating system's page cache, so it
// cannot show whether a commit waited for fsync; this VFS can. It passes everything to the
// default VFS and remembers, for every file, its bytes as of its last xSync. At a chosen write
// (crash_at_write) the "disk" stops: that write and every later write, sync and truncate fail
// with SQLITE_IOERR and reach nothing. power_loss() then puts every file back to what was synced
// (a file never synced disappears; the WAL index, memory only, goes), optionally garbling the
// bytes of the first write after the last sync (a torn write; only those bytes, since the unix
// VFS declares powersafe overwrite), as a machine that lost power would find its disk. Reopen the
// database with the default VFS and check what survived.
//
// Test-only, single process; thread-safe (one mutex). Files are read whole at each sync: meant
// for databases of a few megabytes.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace accrue::testing {

class PowerLossVfs {
 public:
  // Registers the VFS under `name`; as the process's default when `make_default` (so code that
  // opens its databases with the default VFS, like the agent, runs over it).
  explicit PowerLossVfs(std::string name, bool make_default = false);
  ~PowerLossVfs();
  PowerLossVfs(const PowerLossVfs&) = delete;
  PowerLossVfs& operator=(const PowerLossVfs&) = delete;

  const char* name() const { return name_.c_str(); }
  // The write (1-based, counted over every file) at which the disk stops; 0: never.
  void crash_at_write(int64_t n);
  bool crashed() const;
  // A disk that refuses writes (disk full: SQLITE_FULL; a failing disk: SQLITE_IOERR_WRITE) from
  // write n on, while reads and syncs go on, until heal(). 0: off.
  void fail_writes_from(int64_t n, int rc);
  void heal();
  int64_t refused_writes() const;
  int64_t writes() const;
  int64_t syncs() const;
  // Every file back to its last synced bytes (`garble_torn_write`: and the first write since
  // then garbled). Call with every connection closed.
  void power_loss(bool garble_torn_write = false);

  // For the VFS callbacks (public because they are plain C functions).
  struct State;
  State& state() { return *state_; }

 private:
  std::string name_;
  sqlite3_vfs vfs_{};
  State* state_;
};

}  // namespace accrue::testing
