#include "deliver-ses/credentials/cache.h"

#include <event2/event.h>

#include "common/log/log.h"
#include "common/util/clock.h"

namespace mailrelay::ses {

namespace {
int64_t Micros(std::chrono::seconds s) { return static_cast<int64_t>(s.count()) * 1000000; }
}  // namespace

CredentialCache::CredentialCache(event_base* base, std::unique_ptr<CredentialProvider> provider,
                                 const util::Clock* clock, CachePolicy policy)
    : provider_(std::move(provider)),
      clock_(clock ? clock : &util::Clock::System()),
      policy_(policy) {
  ready_event_ = event_new(base, -1, 0, &CredentialCache::OnReady, this);
}

CredentialCache::~CredentialCache() {
  alive_.reset();
  provider_.reset();  // cancels its fetch in flight
  event_free(ready_event_);
}

bool CredentialCache::Usable(int64_t now) const {
  if (!current_) return false;
  return current_->expires_at_us == 0 || now < current_->expires_at_us - Micros(policy_.mandatory);
}

bool CredentialCache::Fresh(int64_t now) const {
  if (!current_) return false;
  return current_->expires_at_us == 0 || now < current_->expires_at_us - Micros(policy_.advisory);
}

std::optional<AwsCredentials> CredentialCache::Cached() const { return current_; }

void CredentialCache::Get(CredentialsCallback done) {
  const int64_t now = clock_->NowMicros();
  if (Fresh(now)) return Answer(std::move(done), *current_);
  const bool recent_error = error_ && now < error_until_;
  if (recent_error) {
    // A refresh failed a moment ago: keep using keys that still work, else report the failure.
    if (Usable(now)) return Answer(std::move(done), *current_);
    return Answer(std::move(done), *error_);
  }
  waiters_.push_back(std::move(done));
  if (!fetching_) StartFetch();
}

void CredentialCache::Invalidate(const std::string& access_key_id) {
  if (current_ && current_->keys.access_key_id == access_key_id) {
    current_.reset();
    error_.reset();
  }
}

void CredentialCache::StartFetch() {
  fetching_ = true;
  ++fetch_count_;
  std::weak_ptr<bool> alive = alive_;
  provider_->Fetch([this, alive](util::Result<AwsCredentials> r) {
    if (alive.expired()) return;
    OnFetched(std::move(r));
  });
}

void CredentialCache::OnFetched(util::Result<AwsCredentials> result) {
  fetching_ = false;
  const int64_t now = clock_->NowMicros();
  if (result.ok() && result->expires_at_us != 0 &&
      result->expires_at_us - Micros(policy_.mandatory) <= now) {
    result = util::Unavailable(result->source + " handed out credentials that expire at " +
                               util::IsoUtc(result->expires_at_us) + ", too soon to use");
  }
  if (result.ok()) {
    if (result->expires_at_us != 0 && result->expires_at_us - Micros(policy_.advisory) <= now) {
      log::Warning()
          .Kv("source", result->source)
          .Text("AWS credentials expire at " + util::IsoUtc(result->expires_at_us) +
                ", within the refresh window; using them meanwhile");
      // Without this the next Get() would fetch again at once, and again after that.
      error_ = util::Unavailable("credentials from " + result->source + " expire soon");
      error_until_ = now + Micros(policy_.error_ttl);
    } else {
      error_.reset();
    }
    current_ = *result;
  } else {
    error_ = result.status();
    error_until_ = now + Micros(policy_.error_ttl);
    if (Usable(now)) {
      log::Warning()
          .Kv("source", current_->source)
          .Text("could not refresh AWS credentials (" + result.status().message() +
                "); the current ones work until " + util::IsoUtc(current_->expires_at_us));
    } else if (current_) {
      current_.reset();  // expired: never handed out again
    }
  }
  std::vector<CredentialsCallback> waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    if (Usable(now)) {
      Answer(std::move(w), *current_);
    } else {
      Answer(std::move(w), result.ok()
                               ? util::Result<AwsCredentials>(util::Internal("credentials lost"))
                               : result);
    }
  }
}

void CredentialCache::Answer(CredentialsCallback done, util::Result<AwsCredentials> result) {
  ready_.emplace_back(std::move(done), std::move(result));
  event_active(ready_event_, EV_TIMEOUT, 1);
}

void CredentialCache::OnReady(int, short, void* arg) {
  static_cast<CredentialCache*>(arg)->DeliverReady();
}

void CredentialCache::DeliverReady() {
  if (delivering_) return;
  delivering_ = true;
  std::weak_ptr<bool> alive = alive_;
  while (!ready_.empty()) {
    auto [done, result] = std::move(ready_.front());
    ready_.pop_front();
    done(std::move(result));
    if (alive.expired()) return;
  }
  delivering_ = false;
}

}  // namespace mailrelay::ses
