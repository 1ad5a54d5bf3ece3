#include "deliver-azure/acs_auth.h"

#include "common/util/strings.h"
#include "deliver-azure/acs_hmac.h"

namespace mailrelay::azure {

namespace {

class AccessKeyAuthorizer : public Authorizer {
 public:
  AccessKeyAuthorizer(std::string key, const util::Clock* clock)
      : key_(std::move(key)), clock_(clock ? clock : &util::Clock::System()) {}

  void Authorize(http::Request request, Done done) override {
    auto sig = SignRequest(request.method, request.url, request.body, clock_->NowSeconds(), key_);
    if (!sig.ok()) {
      done(sig.status().WithContext("cannot sign the ACS request: "));
      return;
    }
    // Host is not sent by hand: libcurl sends exactly the host[:port] that was signed.
    request.headers.emplace_back("x-ms-date", sig->x_ms_date);
    request.headers.emplace_back("x-ms-content-sha256", sig->x_ms_content_sha256);
    request.headers.emplace_back("Authorization", sig->authorization);
    done(std::move(request));
  }

  bool RefreshAfter401(std::string_view) override { return false; }
  std::string Describe() const override { return "access key (HMAC-SHA256)"; }

 private:
  std::string key_;
  const util::Clock* clock_;
};

class EntraAuthorizer : public Authorizer {
 public:
  EntraAuthorizer(http::HttpClient* client, http::TokenConfig config)
      : source_(client, std::move(config)) {}

  void Authorize(http::Request request, Done done) override {
    // The request (with its body, possibly megabytes) is shared, not copied, by the callback.
    auto shared = std::make_shared<http::Request>(std::move(request));
    source_.Get([shared, done = std::move(done)](util::Result<http::AccessToken> token) {
      if (!token.ok()) {
        done(token.status().WithContext("Entra ID token: "));
        return;
      }
      shared->headers.emplace_back("Authorization", token->AuthorizationValue());
      done(std::move(*shared));
    });
  }

  bool RefreshAfter401(std::string_view authorization) override {
    if (!util::StartsWithIgnoreCase(authorization, "bearer ")) return false;
    source_.Invalidate(authorization.substr(7));
    return true;
  }

  std::string Describe() const override {
    return "Entra ID client " + source_.config().client_id + " in tenant " + source_.config().tenant;
  }

 private:
  http::TokenSource source_;
};

}  // namespace

std::unique_ptr<Authorizer> MakeAccessKeyAuthorizer(std::string access_key, const util::Clock* clock) {
  return std::make_unique<AccessKeyAuthorizer>(std::move(access_key), clock);
}

std::unique_ptr<Authorizer> MakeEntraAuthorizer(http::HttpClient* client, http::TokenConfig config) {
  return std::make_unique<EntraAuthorizer>(client, std::move(config));
}

}  // namespace mailrelay::azure
