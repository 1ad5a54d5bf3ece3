// Entra ID access tokens by the OAuth 2.0 client-credentials grant (ACS, Graph, XOAUTH2).
// Runs on the HttpClient's event loop thread; not thread-safe.
// Failures arrive as util::Status; IsPermanentTokenError() tells configuration from transient.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/http/http_client.h"
#include "common/util/clock.h"
#include "common/util/status.h"

struct event;

namespace mailrelay::http {

inline constexpr char kEntraAuthority[] = "https://login.microsoftonline.com";
inline constexpr char kGraphScope[] = "https://graph.microsoft.com/.default";
// Two slashes, exactly as every Azure SDK asks for it.
inline constexpr char kAcsScope[] = "https://communication.azure.com//.default";
// SMTP AUTH XOAUTH2 to Exchange Online (client credentials).
inline constexpr char kOutlookScope[] = "https://outlook.office365.com/.default";

struct TokenConfig {
  std::string authority = kEntraAuthority;  // tests point it at a loopback fake
  std::string tenant;                       // GUID or domain name
  std::string client_id;
  std::string client_secret;  // never logged, never part of an error message
  std::string scope;          // e.g. kGraphScope
  std::string ca_file;        // extra CA bundle for the authority (tests, private PKI)
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
};

struct AccessToken {
  std::string value;  // the bearer token itself: never log it
  std::string type = "Bearer";
  int64_t lifetime_seconds = 0;   // expires_in as the server gave it
  int64_t expires_at_micros = 0;  // on Clock::MonotonicMicros()
  // "Bearer <token>", for the Authorization header.
  std::string AuthorizationValue() const { return type + " " + value; }
};

using TokenCallback = std::function<void(util::Result<AccessToken>)>;

// True for errors that retrying with the same configuration cannot fix: the token endpoint
// refused the tenant, client, secret or scope (kPermissionDenied), or the configuration is
// unusable before sending (kInvalidArgument). False for kUnavailable / kTimeout (5xx, 429,
// connection failures, malformed answers).
bool IsPermanentTokenError(const util::Status& status);

struct TokenPolicy {
  // A token is refreshed once less than min(refresh_margin, lifetime * refresh_fraction) of
  // its lifetime remains.
  std::chrono::seconds refresh_margin{300};
  double refresh_fraction = 0.1;
  // A permanent error is remembered this long, so a burst of messages with a wrong secret
  // does not turn into a burst of token requests. Invalidate() forgets it.
  std::chrono::seconds permanent_error_ttl{60};
  size_t max_response_size = 1 << 20;
};

// The token endpoint URL for a config: {authority}/{tenant}/oauth2/v2.0/token.
util::Result<std::string> TokenEndpoint(const TokenConfig& config);
// The form body of the token request (secret included: do not log it).
std::string TokenRequestBody(const TokenConfig& config);
// Interprets the token endpoint's answer; now_micros is Clock::MonotonicMicros().
util::Result<AccessToken> ParseTokenResponse(const Response& response, int64_t now_micros);

// One principal's token: cached until shortly before expiry, one fetch shared by every caller
// that asks while it is in flight (a burst of 50 messages makes one token request).
class TokenSource {
 public:
  // `client` (and its event_base) must outlive the source. clock: nullptr = Clock::System().
  TokenSource(HttpClient* client, TokenConfig config, const util::Clock* clock = nullptr,
              TokenPolicy policy = {});
  // Cancels a fetch in flight. Callbacks still waiting are dropped, not called.
  ~TokenSource();
  TokenSource(const TokenSource&) = delete;
  TokenSource& operator=(const TokenSource&) = delete;

  // Calls `done` later on the loop (never from inside Get()) with a fresh-enough token,
  // fetching one if needed. Calls made while a fetch is in flight wait for that fetch.
  void Get(TokenCallback done);
  // The cached token if it is fresh enough, for callers that can use it synchronously.
  std::optional<AccessToken> Cached() const;
  // After a 401 with `rejected`: forget that token so the next Get() fetches. Tokens other than
  // `rejected` are kept (late 401s for an old token must not throw away its replacement).
  // Empty `rejected`: forget whatever is cached, a remembered permanent error too.
  void Invalidate(std::string_view rejected = {});

  bool fetching() const { return fetch_id_ != 0; }
  // Nothing in flight and nobody waiting: safe to destroy without dropping a callback.
  bool idle() const { return fetch_id_ == 0 && waiters_.empty() && ready_.empty(); }
  uint64_t fetch_count() const { return fetch_count_; }  // token requests sent so far
  const TokenConfig& config() const { return config_; }

 private:
  bool Fresh(int64_t now) const;
  void StartFetch();
  void OnFetched(Response response);
  void Finish(const util::Result<AccessToken>& result);
  void DeliverLater(TokenCallback done, util::Result<AccessToken> result);
  static void OnReadyEvent(int fd, short events, void* arg);
  void DeliverReady();

  HttpClient* client_;
  TokenConfig config_;
  const util::Clock* clock_;
  TokenPolicy policy_;
  std::optional<AccessToken> token_;
  std::optional<util::Status> permanent_error_;
  int64_t permanent_error_until_ = 0;
  HttpClient::RequestId fetch_id_ = 0;
  uint64_t fetch_count_ = 0;
  std::vector<TokenCallback> waiters_;  // for the fetch in flight
  std::deque<std::pair<TokenCallback, util::Result<AccessToken>>> ready_;  // answered from cache
  event* ready_event_ = nullptr;
  bool delivering_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// One TokenSource per (authority, tenant, client, scope, CA file, secret), so several tenants
// coexist, e.g. for Graph passthrough auth where each SMTP user brings its own credentials.
class TokenCache {
 public:
  // Keeps at most max_sources sources; past that, idle ones are evicted least recently used
  // first (sources with a fetch in flight or callers waiting are never evicted).
  TokenCache(HttpClient* client, const util::Clock* clock = nullptr, size_t max_sources = 1000,
             TokenPolicy policy = {});
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // TokenSource::Get() on the source for `config`, made on first use. The key includes a keyed
  // hash of the secret, so a wrong secret never gets the token a right one fetched.
  void Get(const TokenConfig& config, TokenCallback done);
  // TokenSource::Invalidate() on the source for `config`, if there is one.
  void Invalidate(const TokenConfig& config, std::string_view rejected = {});
  size_t size() const { return sources_.size(); }
  // The source for `config` if it exists (tests, metrics); owned by the cache.
  const TokenSource* Find(const TokenConfig& config) const;

 private:
  struct Entry {
    std::unique_ptr<TokenSource> source;
    int64_t last_used = 0;
  };
  std::string Key(const TokenConfig& config) const;
  void EvictIdle();

  HttpClient* client_;
  const util::Clock* clock_;
  size_t max_sources_;
  TokenPolicy policy_;
  std::string key_salt_;  // random per cache: the hashes mean nothing outside this process
  std::unordered_map<std::string, Entry> sources_;
};

}  // namespace mailrelay::http
