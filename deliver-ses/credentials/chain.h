// The credential chain in the AWS SDKs' order: [ses] static keys, environment, shared
// credentials/config files, web identity, ECS/EKS container, EC2 IMDSv2. The first source
// that is configured answers; it is then kept ("pinned") for later fetches, as an SDK session
// keeps its provider, until it reports kNotFound again. Runs on the agent's loop.
// All sources kNotFound: kNotFound listing why each was skipped. A configured source that
// fails stops the chain with its error.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http/http_client.h"
#include "common/util/clock.h"
#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

class CredentialChain : public CredentialProvider {
 public:
  explicit CredentialChain(std::vector<std::unique_ptr<CredentialProvider>> providers);
  std::string Name() const override { return "the AWS credential chain"; }
  void Fetch(CredentialsCallback done) override;

  // The source in use, "" before the first success.
  std::string pinned() const;

 private:
  void Try(size_t index, std::shared_ptr<std::vector<std::string>> skipped,
           CredentialsCallback done);

  std::vector<std::unique_ptr<CredentialProvider>> providers_;
  std::optional<size_t> pinned_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

struct ChainOptions {
  std::optional<Credentials> static_keys;  // [ses] access_key_id + secret_access_key_file
  std::string region;                      // for the STS endpoint
  std::string ca_file;                     // extra CA bundle for STS and https container URIs
  std::chrono::milliseconds timeout{30000};
};
// The production chain; `client` and `clock` must outlive it.
std::unique_ptr<CredentialChain> MakeDefaultChain(http::HttpClient* client, const Environment& env,
                                                  const ChainOptions& options,
                                                  const util::Clock* clock = nullptr);

}  // namespace mailrelay::ses
