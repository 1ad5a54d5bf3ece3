// deliver-graph: the [graph] delivery agent, Microsoft Graph sendMail (see graph_backend.h),
// and the passthrough AUTH server smtpd asks (auth_server.h). Secrets, the key pair and the
// AUTH socket are set up here, while the process may still be root; the shared driver
// (common/agent) drops privileges afterwards.
#include "common/agent/agent.h"
#include "common/log/log.h"
#include "common/proc/privileges.h"
#include "deliver-graph/credentials.h"
#include "deliver-graph/graph_backend.h"
#include "deliver-graph/key_store.h"
#include "deliver-graph/settings.h"

using namespace mailrelay;

int main() {
  return agent::Main(config::Backend::kGraph,
                     [](proc::Child& child) -> util::Result<std::unique_ptr<agent::Backend>> {
                       const config::Config& cfg = child.config();
                       graph::GraphSettings settings = graph::GraphSettings::FromConfig(cfg);
                       MR_ASSIGN_OR_RETURN(std::optional<graph::Credentials> app,
                                           graph::LoadStaticCredentials(cfg.graph));
                       const bool as_root = settings.privsep && proc::IsRoot();
                       MR_ASSIGN_OR_RETURN(graph::KeyPairState keys,
                                           graph::LoadOrCreateKeyPair(
                                               settings.key_dir, settings.passthrough, as_root));
                       if (keys.created) {
                         log::Warning()
                             .Kv("key_dir", settings.key_dir)
                             .Text(
                                 "created the passthrough key pair; back it up: queued passthrough "
                                 "mail cannot be sent without it");
                       }
                       auto backend = std::make_unique<graph::GraphBackend>(
                           child.base(), settings, std::move(app), std::move(keys.keys));
                       if (settings.passthrough) MR_RETURN_IF_ERROR(backend->StartAuthServer());
                       log::Info()
                           .Kv("endpoint", settings.endpoint)
                           .Kv("authority", settings.authority)
                           .Kv("sender", settings.sender.empty() ? std::string("(envelope sender)")
                                                                 : settings.sender)
                           .Text("sending through Microsoft Graph: " + backend->Describe());
                       return std::unique_ptr<agent::Backend>(std::move(backend));
                     });
}
