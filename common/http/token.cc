#include "common/http/token.h"

#include <event2/event.h>

#include <algorithm>
#include <cmath>

#include "common/http/url.h"
#include "common/json/json.h"
#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::http {

namespace {

bool ValidTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > 253 || tenant == "." || tenant == "..") return false;
  for (char c : tenant) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string TrimmedAuthority(std::string_view authority) {
  authority = util::Trim(authority);
  while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  return std::string(authority);
}

// expires_in is a number in v2.0 answers, a string in some older ones.
std::optional<int64_t> ExpiresIn(const json::Value& v) {
  if (v.is_number()) return static_cast<int64_t>(std::floor(v.as_double()));
  if (v.is_string()) {
    if (std::optional<int64_t> n = util::ParseInt(util::Trim(v.as_string()))) return n;
  }
  return std::nullopt;
}

}  // namespace

bool IsPermanentTokenError(const util::Status& status) {
  return status.code() == util::Code::kPermissionDenied ||
         status.code() == util::Code::kInvalidArgument;
}

util::Result<std::string> TokenEndpoint(const TokenConfig& config) {
  if (!ValidTenant(config.tenant)) {
    return util::InvalidArgument("Entra tenant must be a GUID or domain name, got \"" +
                                 util::Printable(config.tenant, 80) + "\"");
  }
  if (config.client_id.empty()) return util::InvalidArgument("Entra client id is empty");
  if (config.client_secret.empty()) return util::InvalidArgument("Entra client secret is empty");
  if (config.scope.empty()) return util::InvalidArgument("token scope is empty");
  std::string url = TrimmedAuthority(config.authority) + "/" + config.tenant + "/oauth2/v2.0/token";
  MR_RETURN_IF_ERROR(CheckUrlAllowed(url).WithContext("Entra authority: "));
  return url;
}

std::string TokenRequestBody(const TokenConfig& config) {
  return FormEncode({{"grant_type", "client_credentials"},
                     {"client_id", config.client_id},
                     {"client_secret", config.client_secret},
                     {"scope", config.scope}});
}

util::Result<AccessToken> ParseTokenResponse(const Response& response, int64_t now_micros) {
  if (!response.transport_ok()) {
    util::Status st = response.TransportStatus();
    if (st.code() == util::Code::kResourceExhausted) st = util::Unavailable(st.message());
    return st.WithContext("token request failed: ");
  }
  util::Result<json::Value> parsed = json::Parse(response.body, {.max_depth = 16});
  const int status = response.status;
  if (status == 200) {
    if (!parsed.ok() || !parsed->is_object()) {
      return util::Unavailable("token endpoint answered 200 without a JSON object");
    }
    const json::Value& v = *parsed;
    AccessToken token;
    token.value = v["access_token"].as_string();
    if (token.value.empty()) {
      return util::Unavailable("token endpoint answered 200 without an access_token");
    }
    if (token.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return util::Unavailable("token endpoint answered with a malformed access_token");
    }
    const std::string& type = v["token_type"].as_string();
    if (!type.empty() && !util::EqualsIgnoreCase(type, "bearer")) {
      return util::Unavailable("token endpoint answered token_type \"" + util::Printable(type, 40) +
                               "\", not Bearer");
    }
    // Missing expires_in: assume the usual hour; a 401 will tell if that was wrong.
    token.lifetime_seconds =
        std::clamp<int64_t>(ExpiresIn(v["expires_in"]).value_or(3600), 0, int64_t{366} * 86400);
    token.expires_at_micros = now_micros + token.lifetime_seconds * 1000000;
    return token;
  }
  std::string error, description;
  if (parsed.ok() && parsed->is_object()) {
    error = (*parsed)["error"].as_string();
    description = (*parsed)["error_description"].as_string();
  }
  std::string message = "token endpoint answered " + std::to_string(status);
  if (!error.empty()) message += ": " + util::Printable(error, 60);
  // error_description from Entra spans lines ("AADSTS...\r\nTrace ID: ...").
  if (!description.empty()) message += ": " + util::OneLine(description, 400);
  // RFC 6749 5.2 errors are about the request or the client: the configuration. Only
  // temporarily_unavailable, 408, 429 and 5xx are worth retrying unchanged.
  const bool transient = status >= 500 || status == 408 || status == 429 || status < 400 ||
                         error == "temporarily_unavailable";
  if (transient) return util::Unavailable(message);
  return util::PermissionDenied(message);
}

// --- TokenSource ---------------------------------------------------------------------------

TokenSource::TokenSource(HttpClient* client, TokenConfig config, const util::Clock* clock,
                         TokenPolicy policy)
    : client_(client),
      config_(std::move(config)),
      clock_(clock ? clock : &util::Clock::System()),
      policy_(policy) {
  ready_event_ = event_new(client_->base(), -1, 0, &TokenSource::OnReadyEvent, this);
}

TokenSource::~TokenSource() {
  alive_.reset();
  if (fetch_id_ != 0) client_->Cancel(fetch_id_);
  event_free(ready_event_);
}

bool TokenSource::Fresh(int64_t now) const {
  if (!token_) return false;
  const int64_t lifetime = token_->lifetime_seconds * 1000000;
  const int64_t margin = std::min<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(policy_.refresh_margin).count(),
      static_cast<int64_t>(static_cast<double>(lifetime) * policy_.refresh_fraction));
  return now < token_->expires_at_micros - margin;
}

std::optional<AccessToken> TokenSource::Cached() const {
  if (Fresh(clock_->MonotonicMicros())) return token_;
  return std::nullopt;
}

void TokenSource::Get(TokenCallback done) {
  const int64_t now = clock_->MonotonicMicros();
  if (Fresh(now)) {
    DeliverLater(std::move(done), *token_);
    return;
  }
  if (permanent_error_ && now < permanent_error_until_) {
    DeliverLater(std::move(done), *permanent_error_);
    return;
  }
  waiters_.push_back(std::move(done));
  if (fetch_id_ == 0) StartFetch();
}

void TokenSource::Invalidate(std::string_view rejected) {
  if (rejected.empty()) {
    token_.reset();
    permanent_error_.reset();
    return;
  }
  if (token_ && token_->value == rejected) token_.reset();
}

void TokenSource::StartFetch() {
  util::Result<std::string> url = TokenEndpoint(config_);
  if (!url.ok()) {
    // Nothing to send; answer the waiters on the loop like any other outcome.
    std::vector<TokenCallback> waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiters) DeliverLater(std::move(w), url.status());
    return;
  }
  Request req;
  req.method = "POST";
  req.url = std::move(url).value();
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = TokenRequestBody(config_);
  req.ca_file = config_.ca_file;
  req.timeout = config_.timeout;
  req.connect_timeout = config_.connect_timeout;
  req.max_response_size = policy_.max_response_size;
  ++fetch_count_;
  fetch_id_ = client_->Send(std::move(req), [this](Response r) { OnFetched(std::move(r)); });
}

void TokenSource::OnFetched(Response response) {
  fetch_id_ = 0;
  const int64_t now = clock_->MonotonicMicros();
  util::Result<AccessToken> result = ParseTokenResponse(response, now);
  if (result.ok()) {
    token_ = *result;
    permanent_error_.reset();
  } else if (IsPermanentTokenError(result.status())) {
    token_.reset();
    permanent_error_ = result.status();
    permanent_error_until_ =
        now +
        std::chrono::duration_cast<std::chrono::microseconds>(policy_.permanent_error_ttl).count();
  }
  std::vector<TokenCallback> waiters = std::move(waiters_);
  waiters_.clear();
  std::weak_ptr<bool> alive = alive_;
  for (auto& w : waiters) {
    w(result);
    if (alive.expired()) return;  // a callback destroyed this source
  }
}

void TokenSource::DeliverLater(TokenCallback done, util::Result<AccessToken> result) {
  ready_.emplace_back(std::move(done), std::move(result));
  event_active(ready_event_, EV_TIMEOUT, 1);
}

void TokenSource::OnReadyEvent(int, short, void* arg) {
  static_cast<TokenSource*>(arg)->DeliverReady();
}

void TokenSource::DeliverReady() {
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

// --- TokenCache ----------------------------------------------------------------------------

TokenCache::TokenCache(HttpClient* client, const util::Clock* clock, size_t max_sources,
                       TokenPolicy policy)
    : client_(client),
      clock_(clock ? clock : &util::Clock::System()),
      max_sources_(std::max<size_t>(max_sources, 1)),
      policy_(policy),
      key_salt_(util::RandomBytes(32)) {}

TokenCache::~TokenCache() = default;

std::string TokenCache::Key(const TokenConfig& c) const {
  std::string key;
  for (const std::string* part : {&c.authority, &c.tenant, &c.client_id, &c.scope, &c.ca_file}) {
    key += *part;
    key.push_back('\0');
  }
  key += util::HexEncode(util::HmacSha256(key_salt_, c.client_secret));
  return key;
}

void TokenCache::EvictIdle() {
  while (sources_.size() > max_sources_) {
    auto victim = sources_.end();
    for (auto it = sources_.begin(); it != sources_.end(); ++it) {
      if (!it->second.source->idle()) continue;
      if (victim == sources_.end() || it->second.last_used < victim->second.last_used) {
        victim = it;
      }
    }
    if (victim == sources_.end()) return;  // all busy: over the limit until they settle
    sources_.erase(victim);
  }
}

void TokenCache::Get(const TokenConfig& config, TokenCallback done) {
  std::string key = Key(config);
  auto it = sources_.find(key);
  if (it == sources_.end()) {
    it = sources_
             .emplace(std::move(key),
                      Entry{std::make_unique<TokenSource>(client_, config, clock_, policy_), 0})
             .first;
  }
  it->second.last_used = clock_->MonotonicMicros();
  // Get() never calls back synchronously, so `it` stays valid; afterwards the source is busy
  // (waiting or answering), so the eviction below cannot pick it.
  it->second.source->Get(std::move(done));
  EvictIdle();
}

void TokenCache::Invalidate(const TokenConfig& config, std::string_view rejected) {
  auto it = sources_.find(Key(config));
  if (it != sources_.end()) it->second.source->Invalidate(rejected);
}

const TokenSource* TokenCache::Find(const TokenConfig& config) const {
  auto it = sources_.find(Key(config));
  return it == sources_.end() ? nullptr : it->second.source.get();
}

}  // namespace mailrelay::http
