// deliver-ses's backend: one SES v2 SendEmail attempt per job, on the agent's libevent loop.
// Prepares the raw message (message_prep.h), splits the envelope into requests of at most 50
// recipients (request_builder.h), signs them with credentials from the cache (credentials/),
// sends them concurrently on libcurl's multi interface, and answers one result per recipient
// (result_mapping.h) with the SES MessageId as the job's info. Retries, bounces and
// [ses] rate_limit are qmgr's. Never fails as a whole: every problem becomes a result.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/agent/agent.h"
#include "common/http/http_client.h"
#include "common/util/clock.h"
#include "deliver-ses/credentials/cache.h"
#include "deliver-ses/credentials/provider.h"
#include "deliver-ses/settings.h"

struct event_base;

namespace mailrelay::ses {

class SesBackend : public agent::Backend {
 public:
  // Builds the credential source on the backend's own HttpClient.
  using ProviderFactory =
      std::function<std::unique_ptr<CredentialProvider>(http::HttpClient* client)>;

  SesBackend(event_base* base, SesSettings settings, const ProviderFactory& make_provider,
             const util::Clock* clock = nullptr, CachePolicy policy = {});
  ~SesBackend() override;

  void Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) override;
  // Credentials (at worst an STS or metadata round trip) plus the SendEmail request.
  int64_t DeadlineSeconds() const override;

 private:
  struct JobState;
  void OnCredentials(std::shared_ptr<JobState> state, util::Result<AwsCredentials> credentials);
  void OnResponse(std::shared_ptr<JobState> state, size_t batch, const std::string& access_key_id,
                  const std::string& source, const http::Response& response);
  void AddBatchResults(JobState& state, size_t batch, int code, const std::string& enhanced,
                 const std::string& text);
  void Finish(std::shared_ptr<JobState> state);

  SesSettings settings_;
  const util::Clock* clock_;
  std::unique_ptr<http::HttpClient> client_;
  std::unique_ptr<CredentialCache> credentials_;
};

}  // namespace mailrelay::ses
