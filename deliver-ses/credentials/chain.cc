#include "deliver-ses/credentials/chain.h"

#include "common/log/log.h"
#include "deliver-ses/credentials/container_provider.h"
#include "deliver-ses/credentials/environment_provider.h"
#include "deliver-ses/credentials/imds_provider.h"
#include "deliver-ses/credentials/profile_provider.h"
#include "deliver-ses/credentials/static_provider.h"
#include "deliver-ses/credentials/web_identity_provider.h"

namespace mailrelay::ses {

CredentialChain::CredentialChain(std::vector<std::unique_ptr<CredentialProvider>> providers)
    : providers_(std::move(providers)) {}

std::string CredentialChain::pinned() const {
  return pinned_ ? providers_[*pinned_]->Name() : std::string();
}

void CredentialChain::Fetch(CredentialsCallback done) {
  auto skipped = std::make_shared<std::vector<std::string>>();
  if (pinned_) {
    size_t index = *pinned_;
    std::weak_ptr<bool> alive = alive_;
    providers_[index]->Fetch([this, alive, index, skipped,
                              done = std::move(done)](util::Result<AwsCredentials> r) mutable {
      if (alive.expired()) return;
      if (!r.ok() && r.status().code() == util::Code::kNotFound) {
        // The source that worked is gone (role detached, variable unset): resolve again.
        log::Warning()
            .Kv("source", providers_[index]->Name())
            .Text("AWS credentials source no longer answers (" + r.status().message() +
                  "); trying the chain again");
        pinned_.reset();
        Try(0, skipped, std::move(done));
        return;
      }
      done(std::move(r));
    });
    return;
  }
  Try(0, std::move(skipped), std::move(done));
}

void CredentialChain::Try(size_t index, std::shared_ptr<std::vector<std::string>> skipped,
                          CredentialsCallback done) {
  if (index >= providers_.size()) {
    std::string why;
    for (const std::string& s : *skipped) why += (why.empty() ? "" : "; ") + s;
    done(util::NotFound("no AWS credentials found (" + why + ")"));
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  providers_[index]->Fetch([this, alive, index, skipped,
                            done = std::move(done)](util::Result<AwsCredentials> r) mutable {
    if (alive.expired()) return;
    if (!r.ok() && r.status().code() == util::Code::kNotFound) {
      skipped->push_back(providers_[index]->Name() + ": " + r.status().message());
      Try(index + 1, skipped, std::move(done));
      return;
    }
    if (r.ok() && pinned_ != index) {
      pinned_ = index;
      log::Info()
          .Kv("source", r->source)
          .Text("using AWS credentials from " + providers_[index]->Name());
    }
    done(std::move(r));
  });
}

std::unique_ptr<CredentialChain> MakeDefaultChain(http::HttpClient* client, const Environment& env,
                                                  const ChainOptions& options,
                                                  const util::Clock* clock) {
  std::vector<std::unique_ptr<CredentialProvider>> p;
  if (options.static_keys) p.push_back(std::make_unique<StaticProvider>(*options.static_keys));
  p.push_back(std::make_unique<EnvironmentProvider>(env));
  p.push_back(std::make_unique<ProfileProvider>(env));
  p.push_back(std::make_unique<WebIdentityProvider>(client, env, StsEndpoint(env, options.region),
                                                    options.ca_file, options.timeout, clock));
  p.push_back(std::make_unique<ContainerProvider>(client, env, options.ca_file));
  p.push_back(std::make_unique<ImdsProvider>(client, env, clock));
  return std::make_unique<CredentialChain>(std::move(p));
}

}  // namespace mailrelay::ses
