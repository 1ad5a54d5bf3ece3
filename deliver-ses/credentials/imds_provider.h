// EC2 instance-role credentials from the instance metadata service, IMDSv2 only (no fallback
// to the token-less IMDSv1): PUT /latest/api/token (TTL 6 h, reused until shortly before it
// ends), GET /latest/meta-data/iam/security-credentials/ for the role name, then GET that
// role's credentials. Endpoint http://169.254.169.254 ([fd00:ec2::254] with
// AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6), or AWS_EC2_METADATA_SERVICE_ENDPOINT;
// AWS_EC2_METADATA_DISABLED=true turns it off. Runs on the agent's loop through its HttpClient.
// kNotFound when disabled, unreachable before it ever answered, or without a role.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/http/http_client.h"
#include "common/util/clock.h"
#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

inline constexpr char kImdsEndpoint[] = "http://169.254.169.254";
inline constexpr char kImdsEndpointIpv6[] = "http://[fd00:ec2::254]";
inline constexpr int64_t kImdsTokenTtlSeconds = 21600;

// The endpoint the environment asks for, without a trailing slash; kNotFound when disabled.
util::Result<std::string> ImdsEndpoint(const Environment& env);
// The role name from the listing (first non-empty line); "" if none.
std::string ImdsRoleFromListing(std::string_view body);

class ImdsProvider : public CredentialProvider {
 public:
  ImdsProvider(http::HttpClient* client, Environment env, const util::Clock* clock = nullptr,
               std::chrono::milliseconds timeout = std::chrono::seconds(3));
  ~ImdsProvider() override;
  std::string Name() const override { return "EC2 instance metadata (IMDSv2)"; }
  void Fetch(CredentialsCallback done) override;

  uint64_t token_requests() const { return token_requests_; }

 private:
  struct Attempt;
  void PutToken(std::shared_ptr<Attempt> a);
  void GetRole(std::shared_ptr<Attempt> a);
  void GetCredentials(std::shared_ptr<Attempt> a, std::string role);
  // A 401: the token is no longer accepted. Fetches a new one once per attempt.
  void RetryWithNewToken(std::shared_ptr<Attempt> a, const std::string& what);
  void Finish(std::shared_ptr<Attempt> a, util::Result<AwsCredentials> result);
  http::Request Base(const std::string& method, const std::string& path) const;
  util::Status Unreachable(const http::Response& r, const std::string& what) const;

  http::HttpClient* client_;
  Environment env_;
  const util::Clock* clock_;
  std::chrono::milliseconds timeout_;
  std::string endpoint_;
  std::string token_;              // a credential of sorts: never logged
  int64_t token_valid_until_ = 0;  // monotonic micros
  bool ever_answered_ = false;
  uint64_t token_requests_ = 0;
  http::HttpClient::RequestId inflight_ = 0;
};

}  // namespace mailrelay::ses
