// deliver-ses's effective settings: [ses] from the configuration, completed from the AWS
// environment the SDKs read (AWS_REGION / AWS_DEFAULT_REGION when [ses] region is not set,
// AWS_ENDPOINT_URL_SESV2 / AWS_ENDPOINT_URL when [ses] endpoint is not, AWS_CA_BUNDLE when
// [ses] ca_file is not). Resolved once at start. Pure; errors are kInvalidArgument naming the
// key or variable, and stop the agent (restarting will not help).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config/config.h"
#include "deliver-ses/credentials/provider.h"
#include "deliver-ses/request_builder.h"

namespace mailrelay::ses {

struct SesSettings {
  std::string region;
  SesEndpoint endpoint;
  std::string sender;  // [ses] sender: FromEmailAddress, and From with rewrite_from
  bool rewrite_from = false;
  std::string configuration_set;
  std::vector<std::pair<std::string, std::string>> tags;
  std::chrono::milliseconds timeout{30000};
  std::string ca_file;
  int concurrency = 8;
};

util::Result<SesSettings> ResolveSettings(const config::Config& config, const Environment& env);

// SES's rule for configuration set names: 1-64 letters, digits, '_' and '-'.
bool ValidConfigurationSetName(std::string_view name);

}  // namespace mailrelay::ses
