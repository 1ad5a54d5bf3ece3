// Credentials for an IAM role assumed with a web identity token (EKS IRSA and the like):
// AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), exchanged at STS
// AssumeRoleWithWebIdentity, an unsigned form POST answered in XML. The token file is read at
// every fetch (it rotates), so after privileges are dropped: mailrelay-deliver must be able to
// read it. Runs on the agent's loop through its HttpClient.
// kNotFound when neither variable is set; STS refusals are kPermissionDenied, outages
// kUnavailable / kTimeout.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/http/http_client.h"
#include "common/util/clock.h"
#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

// The STS endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else the regional
// https://sts.REGION.amazonaws.com (what current SDKs default to).
std::string StsEndpoint(const Environment& env, const std::string& region);

// The form body of the request (the token is in it: never log it).
std::string AssumeRoleWithWebIdentityBody(const std::string& role_arn,
                                          const std::string& session_name,
                                          const std::string& token);
// Interprets STS's answer.
util::Result<AwsCredentials> ParseAssumeRoleWithWebIdentityResponse(const http::Response& response,
                                                                    const std::string& role_arn);

// The text of the first <tag>...</tag> element in `xml`, entities decoded; nullopt if absent.
std::optional<std::string> XmlElementText(std::string_view xml, std::string_view tag);

class WebIdentityProvider : public CredentialProvider {
 public:
  WebIdentityProvider(http::HttpClient* client, Environment env, std::string sts_endpoint,
                      std::string ca_file, std::chrono::milliseconds timeout,
                      const util::Clock* clock = nullptr);
  ~WebIdentityProvider() override;
  std::string Name() const override { return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"; }
  void Fetch(CredentialsCallback done) override;

 private:
  http::HttpClient* client_;
  Environment env_;
  std::string endpoint_;
  std::string ca_file_;
  std::chrono::milliseconds timeout_;
  const util::Clock* clock_;
  http::HttpClient::RequestId inflight_ = 0;
};

}  // namespace mailrelay::ses
