// deliver-azure: the [azure] delivery agent, Azure Communication Services Email (see
// azure_backend.h). Secrets are read here, while the process may still be root; the shared
// driver (common/agent) drops privileges afterwards.
#include "common/agent/agent.h"
#include "common/log/log.h"
#include "deliver-azure/azure_backend.h"
#include "deliver-azure/credentials.h"

using namespace mailrelay;

int main() {
  return agent::Main(config::Backend::kAzure, [](proc::Child& child) -> util::Result<std::unique_ptr<agent::Backend>> {
    const config::AzureConfig& az = child.config().azure;
    MR_ASSIGN_OR_RETURN(azure::Credentials credentials, azure::LoadCredentials(az));
    for (const std::string& w : credentials.warnings) log::Warning().Text(w);
    auto backend = std::make_unique<azure::AzureBackend>(child.base(), azure::AzureSettings::FromConfig(az),
                                                         std::move(credentials));
    log::Info().Kv("endpoint", az.endpoint).Kv("api_version", az.api_version).Kv("sender", az.sender)
        .Kv("auth", backend->DescribeAuth()).Kv("poll_status", az.poll_status)
        .Text("sending through Azure Communication Services Email");
    return std::unique_ptr<agent::Backend>(std::move(backend));
  });
}
