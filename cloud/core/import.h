// `accrue-cloud import customers|receipts FILE.csv`: members and their history from another
// system, streamed from the file, validated row by row, written in batches, resumable.
//
// Files are CSV (RFC 4180: quoted fields, "" for a quote) with a header naming their columns, in
// any order. A column the kind does not know, or a required one missing, refuses the whole file
// before anything is written.
//
// customers: customer_id (required), display_name, email, phone, country, currency,
// home_store_id, enrolled_at (RFC 3339), card, points (the opening balance). Each row is checked
// on its own (id, lengths, e-mail and phone normalised, card normalised and hashed with the
// programme key, a known home store, no id or card already taken, in the file or in the
// database). Good rows are written set-based: customer, balance, personal data, the card's keyed
// hash, and for an opening balance a ledger adjustment with its points lot (so every balance
// still equals its ledger), plus a change-feed row so the home store gets the member.
//
// receipts: receipt_id, store_id, customer_id, occurred_at (RFC 3339), amount_minor, currency
// (all required), till_id (default "import"), points (what the sale earned, default 0). A receipt
// is booked as a till's sale is: the receipt (transaction history, returns), a ledger accrual at
// its time, a points lot opened then (pending and expiring from the sale, as the programme's
// lots say: an old lot the expiry run will expire), the balance, and the member's day
// (qualifying points and spend for tiers and segments). Import balances before their receipts,
// or give receipts points 0 to bring in history alone. Refused: an unknown or merged customer, an
// unknown store, a receipt (store, till, receipt id) already in the books or earlier in the file.
//
// A bad row is recorded with its line number and reason (import_reject) and the rest goes on.
// Batches are written by several connections at once, each batch one transaction that records
// itself as committed: run the same command again after a stop and it writes only the batches
// that were not committed.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cloud/core/programs.h"
#include "cloud/pg/pg.h"

namespace accrue::cloud {

struct ImportOptions {
  std::string file;
  std::string job;                                     // resume key; empty: the file's name
  std::optional<std::vector<uint8_t>> identifier_key;  // needed when the file has cards
  size_t batch = 5000;  // data lines per batch (a resumed job keeps its first run's)
  std::string actor = "import";
  // Connections writing batches in parallel (this one included), when connect_more can open
  // the others.
  int workers = 2;
  std::function<Result<pg::Connection>()> connect_more;
  // After each committed batch, with the customers it wrote or changed (the cache invalidates
  // them; `accrue-cloud import customers` also claims the provisional points of their cards).
  std::function<void(const std::vector<std::string>&)> on_commit;
};

struct ImportReport {
  std::string job;
  int64_t lines = 0;     // data lines this run wrote (committed batches of earlier runs aside)
  int64_t skipped = 0;   // lines in batches a previous run had committed
  int64_t imported = 0;  // this run
  int64_t rejected = 0;  // this run
  double seconds = 0;
};

// `progress(lines done)` after each batch. Errors: kInvalidArgument (a bad header, a file that is
// not readable), database errors (the last batch rolled back; run again to resume).
Result<ImportReport> import_customers(pg::Connection& c, ProgramCatalog& programs,
                                      const ImportOptions& options,
                                      const std::function<void(int64_t)>& progress = {});

Result<ImportReport> import_receipts(pg::Connection& c, ProgramCatalog& programs,
                                     const ImportOptions& options,
                                     const std::function<void(int64_t)>& progress = {});

// The rejected rows of a job: (line, key, reason), in line order.
struct ImportReject {
  int64_t line = 0;
  std::string key, reason;
};
Result<std::vector<ImportReject>> import_rejects(pg::Connection& c, const std::string& job);

// Splits one CSV record from `in` (which may span lines inside quotes). nullopt at the end;
// kInvalidArgument for an unterminated quote. `lines` counts the physical lines consumed.
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}
  Result<std::optional<std::vector<std::string>>> next();
  int64_t line() const { return line_; }  // the physical line the last record started on

 private:
  std::istream& in_;
  int64_t line_ = 0, consumed_ = 0;
};

}  // namespace accrue::cloud
