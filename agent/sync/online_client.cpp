#include "agent/sync/online_client.h"

#include "agent/sync/downloader.h"
#include "common/hex.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::agent {

namespace sv1 = accrue::sync::v1;

namespace {

std::string key_of(const IdentifierHash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

}  // namespace

OnlineClient::OnlineClient(OnlineClientOptions options, std::unique_ptr<CloudClient> client,
                           GroupCommitWriter& writer, AgentService& service, const Clock& clock)
    : options_(std::move(options)),
      client_(std::move(client)),
      writer_(writer),
      service_(service),
      clock_(clock) {}

OnlineClient::~OnlineClient() { stop(); }

void OnlineClient::start() {
  std::lock_guard lock(mu_);
  accepting_ = true;
  thread_ = std::jthread([this](std::stop_token stop) {
    name_this_thread("accrue-online");
    run(stop);
  });
}

void OnlineClient::stop() {
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    if (!thread_.joinable()) return;
    thread_.request_stop();  // ends the wait in run()
  }
  client_->cancel();  // and the call in flight; queued calls then end at once, unanswered
  thread_.join();
}

bool OnlineClient::worth_asking(const IdentifierHash& hash) {
  std::lock_guard lock(mu_);
  if (!accepting_) return false;
  auto it = unknown_.find(key_of(hash));
  if (it == unknown_.end()) return true;
  if (clock_.now_ms() < it->second) return false;
  unknown_.erase(it);
  return true;
}

bool OnlineClient::lookup(const IdentifierHash& hash, std::function<void(LookupOutcome)> done) {
  Call call;
  call.hash = hash;
  call.looked_up = std::move(done);
  return enqueue(std::move(call));
}

bool OnlineClient::redeem(const sv1::EventEnvelope& event,
                          std::function<void(RedeemOutcome)> done) {
  Call call;
  call.event = event;
  call.redeemed = std::move(done);
  return enqueue(std::move(call));
}

bool OnlineClient::return_sale(const sv1::EventEnvelope& event,
                               std::function<void(ReturnOutcome)> done) {
  Call call;
  call.event = event;
  call.returned = std::move(done);
  return enqueue(std::move(call));
}

bool OnlineClient::claim(const sv1::EventEnvelope& event, std::function<void(ClaimOutcome)> done) {
  Call call;
  call.event = event;
  call.claimed = std::move(done);
  return enqueue(std::move(call));
}

bool OnlineClient::enqueue(Call call) {
  {
    std::lock_guard lock(mu_);
    if (!accepting_ || queue_.size() >= options_.max_queue) return false;
    queue_.push_back(std::move(call));
  }
  cv_.notify_one();
  return true;
}

void OnlineClient::run(std::stop_token stop) {
  auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
  for (;;) {
    std::optional<Call> call;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, stop, next_sweep, [&] { return !queue_.empty(); });
      if (stop.stop_requested() && queue_.empty()) return;
      if (!queue_.empty()) {
        call = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    // After stop(), the client is cancelled: every queued call ends at once, unanswered.
    if (call && call->hash) {
      do_lookup(*call);
    } else if (call && call->returned) {
      do_return(*call);
    } else if (call && call->claimed) {
      do_claim(*call);
    } else if (call) {
      do_redeem(*call);
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {
      next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
      if (auto voided = service_.void_stale_online_redemptions(); !voided) {
        log(LogLevel::kError, "online_redemption_sweep_failed",
            {{"reason", voided.error().message}});
      } else if (*voided > 0) {
        log(LogLevel::kWarn, "online_redemptions_voided", {{"count", std::to_string(*voided)}});
      }
    }
  }
}

void OnlineClient::unreachable(const std::string& why) {
  // Tills should stop waiting for a cloud that is not there; the uploader's next successful
  // round trip sets the agent online again.
  service_.set_online(false);
  log(LogLevel::kWarn, "online_call_failed", {{"reason", why}});
}

void OnlineClient::do_lookup(Call& call) {
  const std::string path =
      "/v1/sync/lookup?identifier=" + to_hex(*call.hash) + "&agent=" + options_.agent_id;
  auto reply = client_->get(path, options_.lookup_timeout);
  if (!reply) {
    unreachable(reply.error().message);
    return call.looked_up(LookupOutcome::kUnavailable);
  }
  if (reply->status == 404) {
    std::lock_guard lock(mu_);
    if (unknown_.size() >= options_.max_unknown) unknown_.clear();  // crude, bounded
    unknown_[key_of(*call.hash)] = clock_.now_ms() + options_.unknown_ttl.count();
    return call.looked_up(LookupOutcome::kNotFound);
  }
  sv1::LookupResponse found;
  if (reply->status != 200 || !found.ParseFromString(reply->body) || !found.found()) {
    log(LogLevel::kWarn, "lookup_failed", {{"status", std::to_string(reply->status)}});
    return call.looked_up(LookupOutcome::kUnavailable);
  }
  // The member joins the replica before the till's request runs again.
  const TimestampMs now = clock_.now_ms();
  auto shared = std::make_shared<sv1::LookupResponse>(std::move(found));
  auto done = std::make_shared<std::function<void(LookupOutcome)>>(std::move(call.looked_up));
  WriteJob job;
  job.apply = [shared, now](Replica& w) { return apply_lookup(w, *shared, now); };
  job.done = [done](Result<void> r) {
    if (!r) log(LogLevel::kError, "lookup_refused", {{"reason", r.error().message}});
    (*done)(r ? LookupOutcome::kJoined : LookupOutcome::kUnavailable);
  };
  if (!writer_.submit(std::move(job))) (*done)(LookupOutcome::kUnavailable);
}

template <typename Request, typename Answer>
std::optional<Answer> OnlineClient::post_event(const char* path, const char* failure,
                                               const sv1::EventEnvelope& event, std::string& why) {
  Request request;
  *request.mutable_event() = event;
  auto reply = client_->post(path, request.SerializeAsString(), "application/x-protobuf",
                             options_.redeem_timeout);
  if (!reply) {
    unreachable(reply.error().message);
    why = reply.error().message;
    return std::nullopt;
  }
  Answer answer;
  if (reply->status != 200 || !answer.ParseFromString(reply->body) ||
      answer.result().event_id() != event.event_id()) {
    why = "HTTP " + std::to_string(reply->status);
    log(LogLevel::kWarn, failure, {{"status", std::to_string(reply->status)}});
    return std::nullopt;
  }
  return answer;
}

void OnlineClient::do_redeem(Call& call) {
  RedeemOutcome outcome;
  auto answer = post_event<sv1::OnlineRedeemRequest, sv1::OnlineRedeemResponse>(
      "/v1/sync/redeem", "online_redeem_failed", call.event, outcome.why);
  if (answer) {
    outcome.answered = true;
    outcome.result = answer->result();
    outcome.available_points = answer->available_points();
  }
  call.redeemed(std::move(outcome));
}

void OnlineClient::do_return(Call& call) {
  ReturnOutcome outcome;
  auto answer = post_event<sv1::OnlineReturnRequest, sv1::OnlineReturnResponse>(
      "/v1/sync/return", "online_return_failed", call.event, outcome.why);
  if (answer) {
    outcome.answered = true;
    outcome.response = std::move(*answer);
  }
  call.returned(std::move(outcome));
}

void OnlineClient::do_claim(Call& call) {
  ClaimOutcome outcome;
  auto answer = post_event<sv1::OnlineClaimRequest, sv1::OnlineClaimResponse>(
      "/v1/sync/claim", "online_claim_failed", call.event, outcome.why);
  if (answer) {
    outcome.answered = true;
    outcome.response = std::move(*answer);
  }
  call.claimed(std::move(outcome));
}

}  // namespace accrue::agent
