// Keeps the credentials deliver-ses signs with: fetched once and shared by every request that
// waits meanwhile, refreshed before they expire, never handed out expired. Runs on the agent's
// loop; answers always come later from the loop, never from inside Get().
// A failed fetch is remembered for error_ttl, so a burst of messages makes one attempt.
//
// Temporary keys are refreshed once less than `advisory` remains; should that refresh fail,
// the current keys stay in use until `mandatory` before their end; after that Get() fails
// until a fetch succeeds. Keys a source hands out already inside the mandatory window are
// refused.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/util/clock.h"
#include "deliver-ses/credentials/provider.h"

struct event;
struct event_base;

namespace mailrelay::ses {

struct CachePolicy {
  std::chrono::seconds advisory{300};
  std::chrono::seconds mandatory{60};
  std::chrono::seconds error_ttl{5};
};

class CredentialCache {
 public:
  // `base` and `clock` must outlive the cache; clock nullptr = Clock::System().
  CredentialCache(event_base* base, std::unique_ptr<CredentialProvider> provider,
                  const util::Clock* clock = nullptr, CachePolicy policy = {});
  // Drops waiting callbacks and a fetch in flight.
  ~CredentialCache();
  CredentialCache(const CredentialCache&) = delete;
  CredentialCache& operator=(const CredentialCache&) = delete;

  void Get(CredentialsCallback done);
  // SES refused these keys (expired token, unknown key, bad signature): forget them, and any
  // remembered error, if they are still the current ones, so the next Get() fetches again.
  void Invalidate(const std::string& access_key_id);

  std::optional<AwsCredentials> Cached() const;  // the current keys, usable or not
  uint64_t fetch_count() const { return fetch_count_; }
  bool fetching() const { return fetching_; }

 private:
  bool Usable(int64_t now) const;
  bool Fresh(int64_t now) const;
  void StartFetch();
  void OnFetched(util::Result<AwsCredentials> result);
  void Answer(CredentialsCallback done, util::Result<AwsCredentials> result);
  static void OnReady(int fd, short events, void* arg);
  void DeliverReady();

  std::unique_ptr<CredentialProvider> provider_;
  const util::Clock* clock_;
  CachePolicy policy_;
  std::optional<AwsCredentials> current_;
  std::optional<util::Status> error_;
  int64_t error_until_ = 0;
  bool fetching_ = false;
  uint64_t fetch_count_ = 0;
  std::vector<CredentialsCallback> waiters_;
  std::deque<std::pair<CredentialsCallback, util::Result<AwsCredentials>>> ready_;
  event* ready_event_ = nullptr;
  bool delivering_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mailrelay::ses
