#include "deliver-ses/credentials/imds_provider.h"

#include <algorithm>

#include "common/http/url.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {
constexpr char kCredentialsPath[] = "/latest/meta-data/iam/security-credentials/";
}  // namespace

struct ImdsProvider::Attempt {
  CredentialsCallback done;
  bool retried_token = false;
};

util::Result<std::string> ImdsEndpoint(const Environment& env) {
  if (auto disabled = EnvValue(env, "AWS_EC2_METADATA_DISABLED");
      disabled && util::EqualsIgnoreCase(*disabled, "true")) {
    return util::NotFound("AWS_EC2_METADATA_DISABLED is true");
  }
  std::string endpoint = kImdsEndpoint;
  if (auto mode = EnvValue(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
      mode && util::EqualsIgnoreCase(*mode, "IPv6")) {
    endpoint = kImdsEndpointIpv6;
  }
  if (auto e = EnvValue(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT")) endpoint = *e;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  util::Result<http::UrlParts> u = http::ParseUrl(endpoint);
  if (!u.ok())
    return util::InvalidArgument("AWS_EC2_METADATA_SERVICE_ENDPOINT: " + u.status().message());
  return endpoint;
}

std::string ImdsRoleFromListing(std::string_view body) {
  for (const std::string& line : util::Split(body, '\n')) {
    if (!line.empty()) return line;
  }
  return "";
}

ImdsProvider::ImdsProvider(http::HttpClient* client, Environment env, const util::Clock* clock,
                           std::chrono::milliseconds timeout)
    : client_(client),
      env_(std::move(env)),
      clock_(clock ? clock : &util::Clock::System()),
      timeout_(timeout) {}

ImdsProvider::~ImdsProvider() {
  if (inflight_ != 0) client_->Cancel(inflight_);
}

http::Request ImdsProvider::Base(const std::string& method, const std::string& path) const {
  http::Request req;
  req.method = method;
  req.url = endpoint_ + path;
  req.timeout = timeout_;
  req.connect_timeout = std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(1));
  req.max_response_size = 64 << 10;
  req.metadata_service = true;  // http://169.254.169.254 is link-local, not loopback
  if (method != "PUT") req.headers.emplace_back("X-aws-ec2-metadata-token", token_);
  return req;
}

util::Status ImdsProvider::Unreachable(const http::Response& r, const std::string& what) const {
  std::string text = "EC2 instance metadata at " + endpoint_ + ": " + what + ": " + r.error_message;
  // Before it ever answered this is simply "not on EC2": the chain reports no credentials.
  if (!ever_answered_) return util::NotFound(text);
  if (r.error == http::TransportError::kTimeout ||
      r.error == http::TransportError::kConnectTimeout) {
    return util::Status(util::Code::kTimeout, text);
  }
  return util::Unavailable(text);
}

void ImdsProvider::Fetch(CredentialsCallback done) {
  util::Result<std::string> endpoint = ImdsEndpoint(env_);
  if (!endpoint.ok()) return done(endpoint.status());
  if (inflight_ != 0) return done(util::Internal("IMDS fetch already in flight"));
  if (*endpoint != endpoint_) token_.clear();
  endpoint_ = *endpoint;
  auto a = std::make_shared<Attempt>();
  a->done = std::move(done);
  if (!token_.empty() && clock_->MonotonicMicros() < token_valid_until_) {
    GetRole(std::move(a));
  } else {
    PutToken(std::move(a));
  }
}

void ImdsProvider::PutToken(std::shared_ptr<Attempt> a) {
  http::Request req = Base("PUT", "/latest/api/token");
  req.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds",
                           std::to_string(kImdsTokenTtlSeconds));
  ++token_requests_;
  token_.clear();
  inflight_ = client_->Send(std::move(req), [this, a](http::Response r) {
    inflight_ = 0;
    if (!r.transport_ok()) return Finish(a, Unreachable(r, "token request"));
    ever_answered_ = true;
    if (r.status != 200) {
      // 403: IMDS is turned off for this instance (or the hop limit is too small for a
      // container); 404/405: an IMDSv1-only service, which is not used.
      return Finish(a, util::NotFound("EC2 instance metadata at " + endpoint_ +
                                      " refused the IMDSv2 token "
                                      "request with " +
                                      std::to_string(r.status)));
    }
    std::string token(util::Trim(r.body));
    if (token.empty() || token.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Finish(a,
                    util::Unavailable("EC2 instance metadata answered a malformed IMDSv2 token"));
    }
    int64_t ttl = kImdsTokenTtlSeconds;
    if (const std::string* h = r.Header("x-aws-ec2-metadata-token-ttl-seconds")) {
      if (auto v = util::ParseInt(*h); v && *v > 0)
        ttl = std::min<int64_t>(*v, kImdsTokenTtlSeconds);
    }
    token_ = std::move(token);
    // Renewed a minute early (or at half its life when that is shorter) so it never ends in flight.
    int64_t margin = std::min<int64_t>(60, ttl / 2);
    token_valid_until_ = clock_->MonotonicMicros() + (ttl - margin) * 1000000;
    GetRole(a);
  });
}

void ImdsProvider::RetryWithNewToken(std::shared_ptr<Attempt> a, const std::string& what) {
  token_.clear();
  if (a->retried_token) {
    return Finish(
        a, util::Unavailable("EC2 instance metadata refused a fresh IMDSv2 token for " + what));
  }
  a->retried_token = true;
  PutToken(std::move(a));
}

void ImdsProvider::GetRole(std::shared_ptr<Attempt> a) {
  inflight_ = client_->Send(Base("GET", kCredentialsPath), [this, a](http::Response r) {
    inflight_ = 0;
    if (!r.transport_ok()) return Finish(a, Unreachable(r, "role listing"));
    if (r.status == 401) return RetryWithNewToken(a, "the role listing");
    if (r.status == 404) {
      return Finish(a, util::NotFound("the EC2 instance has no IAM role (instance profile)"));
    }
    if (r.status != 200) {
      return Finish(a, util::Unavailable("EC2 instance metadata answered " +
                                         std::to_string(r.status) + " to the role listing"));
    }
    std::string role = ImdsRoleFromListing(r.body);
    if (role.empty())
      return Finish(a, util::NotFound("the EC2 instance has no IAM role (instance profile)"));
    if (role.find_first_of("/?#% ") != std::string::npos) {
      return Finish(a, util::Unavailable("EC2 instance metadata listed a malformed role name"));
    }
    GetCredentials(a, std::move(role));
  });
}

void ImdsProvider::GetCredentials(std::shared_ptr<Attempt> a, std::string role) {
  inflight_ =
      client_->Send(Base("GET", kCredentialsPath + role), [this, a, role](http::Response r) {
        inflight_ = 0;
        if (!r.transport_ok()) return Finish(a, Unreachable(r, "credentials request"));
        if (r.status == 401) return RetryWithNewToken(a, "the credentials of role " + role);
        if (r.status != 200) {
          return Finish(
              a, util::Unavailable("EC2 instance metadata answered " + std::to_string(r.status) +
                                   " for the credentials of role " + role));
        }
        Finish(a, ParseCredentialsJson(r.body, "EC2 instance metadata (role " + role + ")"));
      });
}

void ImdsProvider::Finish(std::shared_ptr<Attempt> a, util::Result<AwsCredentials> result) {
  CredentialsCallback done = std::move(a->done);
  done(std::move(result));
}

}  // namespace mailrelay::ses
