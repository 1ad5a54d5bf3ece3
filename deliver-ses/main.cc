// deliver-ses: the [ses] delivery agent (Amazon SES v2 SendEmail with raw MIME; see
// ses_backend.h). Settings and the static secret are read here, while the agent may still be
// root; everything else of the credential chain is read later, as mailrelay-deliver.
#include "common/agent/agent.h"
#include "common/log/log.h"
#include "common/util/file.h"
#include "deliver-ses/credentials/chain.h"
#include "deliver-ses/ses_backend.h"
#include "deliver-ses/settings.h"

using namespace mailrelay;

int main() {
  return agent::Main(
      config::Backend::kSes,
      [](proc::Child& child) -> util::Result<std::unique_ptr<agent::Backend>> {
        const config::SesConfig& c = child.config().ses;
        ses::Environment env = ses::ProcessEnvironment();
        MR_ASSIGN_OR_RETURN(ses::SesSettings settings, ses::ResolveSettings(child.config(), env));
        ses::ChainOptions chain;
        chain.region = settings.region;
        chain.ca_file = settings.ca_file;
        chain.timeout = settings.timeout;
        if (!c.access_key_id.empty()) {
          util::Result<std::string> secret = util::ReadSecretFile(c.secret_access_key_file);
          if (!secret.ok()) return secret.status().WithContext("[ses] secret_access_key_file: ");
          chain.static_keys = ses::Credentials{c.access_key_id, *secret, ""};
        }
        log::Info()
            .Kv("endpoint", settings.endpoint.url)
            .Kv("region", settings.region)
            .Text(chain.static_keys ? "SES with static keys" : "SES with the AWS credential chain");
        return std::unique_ptr<agent::Backend>(new ses::SesBackend(
            child.base(), std::move(settings),
            [env, chain](http::HttpClient* client) -> std::unique_ptr<ses::CredentialProvider> {
              return ses::MakeDefaultChain(client, env, chain);
            }));
      });
}
