#include "agent/sync/uploader.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>

#include <google/protobuf/io/coded_stream.h>

#include "accrue/sync/v1/sync.pb.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::agent {
namespace sv1 = accrue::sync::v1;
namespace {

// A length-delimited field of EventBatch (store_id = 1, agent_id = 2, events = 3), its tag and
// length written by protobuf's own encoder: the outbox rows are already serialised events, so
// the batch is assembled from their bytes instead of parsing them back into messages.
void put_field(std::string& out, uint32_t field, std::string_view bytes) {
  using google::protobuf::io::CodedOutputStream;
  constexpr uint32_t kLengthDelimited = 2;
  uint8_t head[5 + 10];  // a varint32 tag and a varint64 length at most
  uint8_t* end = CodedOutputStream::WriteTagToArray(field << 3 | kLengthDelimited, head);
  end = CodedOutputStream::WriteVarint64ToArray(bytes.size(), end);
  out.append(reinterpret_cast<const char*>(head), static_cast<size_t>(end - head));
  out.append(bytes);
}

std::string first_line(std::string_view s, size_t max = 200) {
  s = s.substr(0, std::min(s.find('\n'), max));
  return std::string(s);
}

}  // namespace

Uploader::Uploader(UploaderOptions options, std::unique_ptr<CloudClient> client,
                   GroupCommitWriter& writer, AgentService& service, const Clock& clock,
                   Random& random, std::unique_ptr<Downloader> downloader)
    : options_(std::move(options)),
      client_(std::move(client)),
      downloader_(std::move(downloader)),
      writer_(writer),
      service_(service),
      clock_(clock),
      random_(random),
      max_events_(options_.max_events) {}

Uploader::~Uploader() { stop(); }

Result<void> Uploader::start() {
  thread_ = std::jthread([this](std::stop_token stop) {
    name_this_thread("accrue-sync");
    run(stop);
  });
  return {};
}

void Uploader::notify() {
  {
    std::lock_guard lock(mu_);
    kicked_ = true;
  }
  cv_.notify_one();
}

void Uploader::stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    thread_.request_stop();  // ends the wait in wait_for()
  }
  client_->cancel();  // and a request in flight
  thread_.join();
}

UploaderStats Uploader::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Uploader::wait_for(std::chrono::milliseconds d, bool kickable) {
  std::unique_lock lock(mu_);
  // A commit ends an idle wait (there is something to send), never a backoff: a new sale does
  // not make a failing cloud any healthier.
  cv_.wait_for(lock, stop_, d, [this, kickable] { return kickable && kicked_; });
  if (kickable) kicked_ = false;
}

void Uploader::set_online(bool online, const std::string& why) {
  if (online_ != online) {
    // Logged on the transitions only: an outage of hours is two lines, not thousands.
    if (online) {
      log(LogLevel::kInfo, "cloud_online", {{"store_id", options_.store_id}});
    } else {
      log(LogLevel::kWarn, "cloud_offline", {{"store_id", options_.store_id}, {"reason", why}});
    }
    online_ = online;
  }
  service_.set_online(online);
}

std::chrono::milliseconds Uploader::backoff(std::optional<std::chrono::seconds> retry_after) {
  // Full jitter: uniformly in [0, min(max, base * 2^attempt)].
  const int shift = std::min(attempt_, 20);
  ++attempt_;
  const int64_t cap =
      std::min<int64_t>(options_.backoff_max.count(), options_.backoff_base.count() << shift);
  uint64_t r = 0;
  random_.fill(std::span(reinterpret_cast<uint8_t*>(&r), sizeof r));
  auto wait = std::chrono::milliseconds(static_cast<int64_t>(r % static_cast<uint64_t>(cap + 1)));
  if (retry_after) wait = std::max<std::chrono::milliseconds>(wait, *retry_after);
  return wait;
}

Result<std::optional<Uploader::Batch>> Uploader::next_batch(Replica& reader) {
  ACCRUE_TRY(reader.begin_read());
  bool more = false;
  auto rows = reader.outbox_batch(0, max_events_, options_.max_bytes, &more);
  reader.end_read();
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::nullopt;
  Batch b;
  b.more = more;
  put_field(b.bytes, 1, options_.store_id);
  put_field(b.bytes, 2, options_.agent_id);
  for (auto& row : *rows) {
    put_field(b.bytes, 3, row.body);
    b.seqs.push_back(row.seq);
    b.bodies.push_back(std::move(row.body));
  }
  return b;
}

void Uploader::run(std::stop_token stop) {
  stop_ = stop;
  // A positive nice lets a backlog being compressed and uploaded yield the CPU to the socket
  // threads (Linux nice applies per thread). Failure to change it is harmless.
  if (options_.nice != 0 &&
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.nice) != 0) {
    log(LogLevel::kDebug, "sync_nice_unchanged", {{"errno", std::to_string(errno)}});
  }
  auto reader = Replica::open_reader(options_.database_path);
  if (!reader) {
    log(LogLevel::kError, "upload_stopped", {{"reason", reader.error().message}});
    return;
  }
  std::optional<Batch> batch;  // kept, bytes and all, until the cloud has answered it
  for (;;) {
    if (stop.stop_requested()) return;
    if (!batch) {
      auto next = next_batch(*reader);
      if (!next) {
        log(LogLevel::kError, "outbox_read_failed", {{"reason", next.error().message}});
        wait_for(backoff(std::nullopt), false);
        continue;
      }
      // A failed download only puts the next one off (next_download_): it must never hold
      // the upload queue back. While a backlog drains, it waits longer maybe_download.
      const bool more = *next && (*next)->more;
      const bool backlog = more || (more_before_ && *next);  // and a backlog's last batch
      more_before_ = more;
      maybe_download(*reader, backlog);
      if (!*next) {
        auto idle = options_.idle_poll;
        if (downloader_) {
          idle = std::min(idle, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    next_download_ - std::chrono::steady_clock::now()));
        }
        if (idle.count() > 0) wait_for(idle, true);
        continue;
      }
      batch = std::move(*next);
    }
    std::chrono::milliseconds wait{0};
    if (send(*batch, wait)) batch.reset();
    if (wait.count() > 0) wait_for(wait, false);
  }
}

void Uploader::maybe_download(Replica& reader, bool backlog) {
  if (!downloader_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_download_ ||
      (backlog && now < last_download_ + options_.backlog_download_interval)) {
    return;
  }
  last_download_ = now;
  for (int pages = 0; pages < 100; ++pages) {  // bounded: uploads get their turn
    if (std::chrono::steady_clock::now() < next_download_) return;
    auto more = downloader_->step(*client_, reader);
    if (!more) {
      {
        std::lock_guard lock(mu_);
        ++stats_.failures;
      }
      set_online(false, more.error().message);
      next_download_ = std::chrono::steady_clock::now() + backoff(downloader_->retry_after());
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++stats_.pages;
    }
    attempt_ = 0;
    set_online(true, "");
    service_.set_last_sync(clock_.now_ms());
    if (!*more) next_download_ = std::chrono::steady_clock::now() + options_.download_interval;
  }
}

bool Uploader::send(const Batch& batch, std::chrono::milliseconds& wait) {
  auto reply = client_->post("/v1/sync/events", batch.bytes, "application/x-protobuf");
  auto failed = [&](const std::string& why, std::optional<std::chrono::seconds> retry_after) {
    {
      std::lock_guard lock(mu_);
      ++stats_.failures;
    }
    set_online(false, why);
    wait = backoff(retry_after);
    return false;
  };
  if (!reply) return failed(reply.error().message, std::nullopt);
  if (reply->status == 413 && max_events_ > 1) {
    // Too large for the cloud's limits: the same events in smaller batches.
    max_events_ = std::max(1, max_events_ / 2);
    log(LogLevel::kWarn, "upload_batch_too_large",
        {{"events", std::to_string(batch.seqs.size())}, {"next_max", std::to_string(max_events_)}});
    return true;  // drop the prepared bytes; the next batch is built smaller
  }
  if (reply->status != 200) {
    return failed("HTTP " + std::to_string(reply->status) + ": " + first_line(reply->body),
                  reply->retry_after);
  }
  sv1::EventBatchResult results;
  if (!results.ParseFromString(reply->body) ||
      results.results_size() != static_cast<int>(batch.seqs.size())) {
    return failed("the cloud's answer does not match the batch", std::nullopt);
  }
  if (auto settled = settle(batch, results); !settled) {
    log(LogLevel::kError, "upload_settle_failed", {{"reason", settled.error().message}});
    wait = backoff(std::nullopt);
    return false;  // the same batch again: the cloud answers duplicate for what it has
  }
  attempt_ = 0;
  max_events_ = std::min(options_.max_events, max_events_ * 2);
  set_online(true, "");
  service_.set_last_sync(clock_.now_ms());
  return true;
}

Result<void> Uploader::settle(const Batch& batch, const sv1::EventBatchResult& results) {
  struct Outcome {
    int64_t seq;
    sv1::EventStatus status;
    std::string code, message;
    int64_t offline_redeemed = 0;  // points of an offline redemption the cloud now holds
    int64_t offline_coupons = 0;   // a coupon use the store decided, which the cloud now holds
    int64_t offline_claims = 0;    // likewise a reward claim
  };
  std::vector<Outcome> outcomes;
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const auto& r = results.results(static_cast<int>(i));
    sv1::EventEnvelope e;
    if (!e.ParseFromString(batch.bodies[i]) || e.event_id() != r.event_id()) {
      return fail(ErrorCode::kInternal, "result " + std::to_string(i) + " is for event " +
                                            r.event_id() + ", not the one sent");
    }
    Outcome o{batch.seqs[i], r.status(), r.reject_code(), first_line(r.message(), 500)};
    if (r.status() == sv1::EVENT_STATUS_UNSPECIFIED) {
      return fail(ErrorCode::kInternal, "result " + std::to_string(i) + " has no status");
    }
    if (e.has_redemption() && e.redemption().offline() &&
        r.status() != sv1::EVENT_STATUS_REJECTED) {
      o.offline_redeemed = e.redemption().points();
    }
    if (e.has_coupon_use() && e.coupon_use().offline() &&
        r.status() != sv1::EVENT_STATUS_REJECTED) {
      o.offline_coupons = 1;
    }
    if (e.has_reward_claim() && e.reward_claim().offline() &&
        r.status() != sv1::EVENT_STATUS_REJECTED) {
      o.offline_claims = 1;
      o.offline_redeemed = e.reward_claim().cost_points();  // spent like offline redeemed points
    }
    outcomes.push_back(std::move(o));
  }
  const TimestampMs now = clock_.now_ms();
  std::promise<Result<void>> done;
  auto settled = done.get_future();
  WriteJob job;
  job.apply = [&outcomes, now](Replica& w) -> Result<void> {
    int64_t released = 0;
    int64_t coupons = 0;
    int64_t claims = 0;
    for (const auto& o : outcomes) {
      if (o.status == sv1::EVENT_STATUS_REJECTED) {
        ACCRUE_TRY(w.quarantine_event(o.seq, o.code.empty() ? "rejected" : o.code, o.message, now));
        continue;
      }
      ACCRUE_ASSIGN_OR_RETURN(auto confirmed, w.confirm_uploaded(o.seq));
      if (confirmed) released += o.offline_redeemed;
      if (confirmed) coupons += o.offline_coupons;
      if (confirmed) claims += o.offline_claims;
    }
    if (coupons > 0) ACCRUE_TRY(w.add_offline_coupons(-coupons));
    if (claims > 0) ACCRUE_TRY(w.add_offline_claims(-claims));
    // The store's outstanding offline liability shrinks by what the cloud now holds.
    if (released > 0) ACCRUE_TRY(w.add_offline_outstanding(-released));
    return w.set_meta("last_sync_ms", std::to_string(now));
  };
  job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
  if (!writer_.submit(std::move(job))) {
    return fail(ErrorCode::kUnavailable, "the writer's queue is full");
  }
  ACCRUE_TRY(settled.get());
  std::lock_guard lock(mu_);
  ++stats_.batches;
  for (const auto& o : outcomes) {
    if (o.status == sv1::EVENT_STATUS_APPLIED) ++stats_.applied;
    if (o.status == sv1::EVENT_STATUS_DUPLICATE) ++stats_.duplicates;
    if (o.status == sv1::EVENT_STATUS_REJECTED) {
      ++stats_.rejected;
      log(LogLevel::kWarn, "event_quarantined", {{"seq", std::to_string(o.seq)}, {"code", o.code}});
    }
  }
  return {};
}

}  // namespace accrue::agent
