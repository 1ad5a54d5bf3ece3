// ECS task-role and EKS Pod Identity credentials: GET http://169.254.170.2 +
// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
// "Authorization: " + the contents of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every
// fetch; mailrelay-deliver must be able to read it) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
// A full URI must be https://, or http:// to loopback or the ECS/EKS agent addresses, as the
// SDKs require. MAILRELAY_AWS_CONTAINER_ENDPOINT replaces http://169.254.170.2 (tests).
// Runs on the agent's loop through its HttpClient. kNotFound when neither URI variable is set.
#pragma once

#include <chrono>
#include <string>

#include "common/http/http_client.h"
#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

inline constexpr char kEcsCredentialsHost[] = "http://169.254.170.2";

struct ContainerRequest {
  std::string url;
  std::string authorization;  // "" when no token is configured; a secret: never log it
};
// The URL and Authorization value the environment asks for; kNotFound when not configured.
util::Result<ContainerRequest> ContainerRequestFromEnvironment(const Environment& env);
// Interprets the endpoint's answer.
util::Result<AwsCredentials> ParseContainerResponse(const http::Response& response,
                                                    const std::string& url);

class ContainerProvider : public CredentialProvider {
 public:
  ContainerProvider(http::HttpClient* client, Environment env, std::string ca_file,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~ContainerProvider() override;
  std::string Name() const override {
    return "container credentials (AWS_CONTAINER_CREDENTIALS_*)";
  }
  void Fetch(CredentialsCallback done) override;

 private:
  http::HttpClient* client_;
  Environment env_;
  std::string ca_file_;
  std::chrono::milliseconds timeout_;
  http::HttpClient::RequestId inflight_ = 0;
};

}  // namespace mailrelay::ses
