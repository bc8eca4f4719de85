#include "tests/agent/store/powerloss_vfs.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>

namespace accrue::testing {

struct FileState {
  std::optional<std::string> durable;     // the bytes as of the last sync; nullopt: never synced
  std::optional<int64_t> first_unsynced;  // offset of the first write since then
  int64_t first_unsynced_len = 0;
};

struct PowerLossVfs::State {
  sqlite3_vfs* real = nullptr;
  std::mutex mu;
  std::map<std::string, FileState> files;
  int64_t writes = 0, syncs = 0, crash_at = 0;
  int64_t fail_from = 0, refused = 0;
  int fail_rc = SQLITE_FULL;
  bool crashed = false;
};

namespace {

using State = PowerLossVfs::State;

struct PlFile {
  sqlite3_file base;  // first: SQLite sees this
  State* st;
  std::string* path;  // nullptr for temporary files (not tracked)
  sqlite3_file* real;
};

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

PlFile* pl(sqlite3_file* f) { return reinterpret_cast<PlFile*>(f); }

int x_close(sqlite3_file* f) {
  auto* p = pl(f);
  int rc = p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
  delete p->path;
  p->path = nullptr;
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return pl(f)->real->pMethods->xRead(pl(f)->real, buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  auto* p = pl(f);
  {
    std::lock_guard lock(p->st->mu);
    ++p->st->writes;
    if (p->st->crashed || (p->st->crash_at > 0 && p->st->writes >= p->st->crash_at)) {
      p->st->crashed = true;
      return SQLITE_IOERR_WRITE;
    }
    if (p->st->fail_from > 0 && p->st->writes >= p->st->fail_from) {
      ++p->st->refused;
      return p->st->fail_rc;
    }
    if (p->path) {
      auto& fs = p->st->files[*p->path];
      if (!fs.first_unsynced) {
        fs.first_unsynced = off;
        fs.first_unsynced_len = n;
      }
    }
  }
  return p->real->pMethods->xWrite(p->real, buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  auto* p = pl(f);
  {
    std::lock_guard lock(p->st->mu);
    if (p->st->crashed) return SQLITE_IOERR_TRUNCATE;
  }
  return p->real->pMethods->xTruncate(p->real, size);
}
int x_sync(sqlite3_file* f, int flags) {
  auto* p = pl(f);
  std::lock_guard lock(p->st->mu);
  if (p->st->crashed) return SQLITE_IOERR_FSYNC;
  ++p->st->syncs;
  int rc = p->real->pMethods->xSync(p->real, flags);
  if (rc == SQLITE_OK && p->path) {
    auto& fs = p->st->files[*p->path];
    fs.durable = read_whole(*p->path);
    fs.first_unsynced.reset();
  }
  return rc;
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return pl(f)->real->pMethods->xFileSize(pl(f)->real, size);
}
int x_lock(sqlite3_file* f, int l) { return pl(f)->real->pMethods->xLock(pl(f)->real, l); }
int x_unlock(sqlite3_file* f, int l) { return pl(f)->real->pMethods->xUnlock(pl(f)->real, l); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return pl(f)->real->pMethods->xCheckReservedLock(pl(f)->real, out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return pl(f)->real->pMethods->xFileControl(pl(f)->real, op, arg);
}
int x_sector_size(sqlite3_file* f) { return pl(f)->real->pMethods->xSectorSize(pl(f)->real); }
int x_device(sqlite3_file* f) { return pl(f)->real->pMethods->xDeviceCharacteristics(pl(f)->real); }
int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** out) {
  return pl(f)->real->pMethods->xShmMap(pl(f)->real, pg, sz, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return pl(f)->real->pMethods->xShmLock(pl(f)->real, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { pl(f)->real->pMethods->xShmBarrier(pl(f)->real); }
int x_shm_unmap(sqlite3_file* f, int del) {
  return pl(f)->real->pMethods->xShmUnmap(pl(f)->real, del);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  *out = nullptr;  // no memory-mapped reads: every read goes through xRead
  (void)f;
  (void)off;
  (void)n;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  (void)f;
  (void)off;
  (void)p;
  return SQLITE_OK;
}

const sqlite3_io_methods kMethods = {3,           x_close,          x_read,         x_write,
                                     x_truncate,  x_sync,           x_file_size,    x_lock,
                                     x_unlock,    x_check_reserved, x_file_control, x_sector_size,
                                     x_device,    x_shm_map,        x_shm_lock,     x_shm_barrier,
                                     x_shm_unmap, x_fetch,          x_unfetch};

State* state_of(sqlite3_vfs* v) { return static_cast<State*>(v->pAppData); }

int v_open(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  State* st = state_of(v);
  auto* p = pl(f);
  p->base.pMethods = nullptr;
  p->st = st;
  p->path = nullptr;
  p->real = reinterpret_cast<sqlite3_file*>(p + 1);
  std::memset(p->real, 0, static_cast<size_t>(st->real->szOsFile));
  int rc = st->real->xOpen(st->real, name, p->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  if (name) {
    p->path = new std::string(name);
    std::lock_guard lock(st->mu);
    if (!st->files.contains(*p->path)) {
      // What was on disk before the VFS saw the file counts as durable.
      st->files[*p->path].durable = read_whole(*p->path);
      if (st->files[*p->path].durable && st->files[*p->path].durable->empty() &&
          (flags & SQLITE_OPEN_CREATE)) {
        st->files[*p->path].durable.reset();  // created just now: nothing durable yet
      }
    }
  }
  p->base.pMethods = &kMethods;
  return SQLITE_OK;
}
int v_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  State* st = state_of(v);
  {
    std::lock_guard lock(st->mu);
    if (st->crashed) return SQLITE_IOERR_DELETE;
    st->files[name].durable.reset();  // a delete is durable once the directory is synced
    st->files[name].first_unsynced.reset();
  }
  return st->real->xDelete(st->real, name, sync_dir);
}
int v_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return state_of(v)->real->xAccess(state_of(v)->real, name, flags, out);
}
int v_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return state_of(v)->real->xFullPathname(state_of(v)->real, name, n, out);
}
void* v_dl_open(sqlite3_vfs* v, const char* f) {
  return state_of(v)->real->xDlOpen(state_of(v)->real, f);
}
void v_dl_error(sqlite3_vfs* v, int n, char* out) {
  state_of(v)->real->xDlError(state_of(v)->real, n, out);
}
void (*v_dl_sym(sqlite3_vfs* v, void* h, const char* s))(void) {
  return state_of(v)->real->xDlSym(state_of(v)->real, h, s);
}
void v_dl_close(sqlite3_vfs* v, void* h) { state_of(v)->real->xDlClose(state_of(v)->real, h); }
int v_randomness(sqlite3_vfs* v, int n, char* out) {
  return state_of(v)->real->xRandomness(state_of(v)->real, n, out);
}
int v_sleep(sqlite3_vfs* v, int us) { return state_of(v)->real->xSleep(state_of(v)->real, us); }
int v_current_time(sqlite3_vfs* v, double* out) {
  return state_of(v)->real->xCurrentTime(state_of(v)->real, out);
}
int v_last_error(sqlite3_vfs* v, int n, char* out) {
  return state_of(v)->real->xGetLastError(state_of(v)->real, n, out);
}
int v_current_time64(sqlite3_vfs* v, sqlite3_int64* out) {
  return state_of(v)->real->xCurrentTimeInt64(state_of(v)->real, out);
}

}  // namespace

PowerLossVfs::PowerLossVfs(std::string name, bool make_default)
    : name_(std::move(name)), state_(new State) {
  state_->real = sqlite3_vfs_find(nullptr);
  vfs_.iVersion = 2;
  vfs_.szOsFile = static_cast<int>(sizeof(PlFile)) + state_->real->szOsFile;
  vfs_.mxPathname = state_->real->mxPathname;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = state_;
  vfs_.xOpen = v_open;
  vfs_.xDelete = v_delete;
  vfs_.xAccess = v_access;
  vfs_.xFullPathname = v_full_pathname;
  vfs_.xDlOpen = v_dl_open;
  vfs_.xDlError = v_dl_error;
  vfs_.xDlSym = v_dl_sym;
  vfs_.xDlClose = v_dl_close;
  vfs_.xRandomness = v_randomness;
  vfs_.xSleep = v_sleep;
  vfs_.xCurrentTime = v_current_time;
  vfs_.xGetLastError = v_last_error;
  vfs_.xCurrentTimeInt64 = v_current_time64;
  sqlite3_vfs_register(&vfs_, make_default ? 1 : 0);
}

PowerLossVfs::~PowerLossVfs() {
  sqlite3_vfs_unregister(&vfs_);
  delete state_;
}

void PowerLossVfs::crash_at_write(int64_t n) {
  std::lock_guard lock(state_->mu);
  state_->crash_at = n;
}
void PowerLossVfs::fail_writes_from(int64_t n, int rc) {
  std::lock_guard lock(state_->mu);
  state_->fail_from = n;
  state_->fail_rc = rc;
}
void PowerLossVfs::heal() {
  std::lock_guard lock(state_->mu);
  state_->fail_from = 0;
}
int64_t PowerLossVfs::refused_writes() const {
  std::lock_guard lock(state_->mu);
  return state_->refused;
}
bool PowerLossVfs::crashed() const {
  std::lock_guard lock(state_->mu);
  return state_->crashed;
}
int64_t PowerLossVfs::writes() const {
  std::lock_guard lock(state_->mu);
  return state_->writes;
}
int64_t PowerLossVfs::syncs() const {
  std::lock_guard lock(state_->mu);
  return state_->syncs;
}

void PowerLossVfs::power_loss(bool garble_torn_write) {
  std::lock_guard lock(state_->mu);
  std::mt19937 rng(static_cast<uint32_t>(state_->writes));
  for (const auto& [path, fs] : state_->files) {
    std::error_code ec;
    if (path.ends_with("-shm")) {  // the WAL index lives in memory: rebuilt from the WAL
      std::filesystem::remove(path, ec);
      continue;
    }
    if (!fs.durable) {
      std::filesystem::remove(path, ec);
      continue;
    }
    std::string bytes = *fs.durable;
    if (garble_torn_write && fs.first_unsynced) {
      // The write in flight when the power went: its bytes garbled, nothing around them (the
      // unix VFS declares powersafe overwrite, which SQLite relies on).
      const size_t at = static_cast<size_t>(*fs.first_unsynced);
      const size_t n = static_cast<size_t>(fs.first_unsynced_len);
      if (bytes.size() < at + n) bytes.resize(at + n);
      for (size_t i = at; i < at + n; ++i) bytes[i] = static_cast<char>(rng());
    }
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  state_->files.clear();
  state_->crashed = false;
  state_->crash_at = 0;
}

}  // namespace accrue::testing
