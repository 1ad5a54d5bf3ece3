// The [azure] credentials, read from their files at start-up while the agent may still be
// root: an access key (bare base64, or a connection string endpoint=...;accesskey=...) or an
// Entra ID service principal's client secret. Blocking file reads; start-up only.
// Errors name the file and what is wrong, never the secret.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/http/token.h"
#include "common/util/status.h"

namespace mailrelay::azure {

struct AccessKey {
  std::string key;       // base64, as ACS shows it
  std::string endpoint;  // from a connection string; "" for a bare key
};

// The contents of access_key_file: a connection string when it has a '=' followed by more
// text than base64 padding (endpoint=...;accesskey=...), a bare base64 key otherwise.
util::Result<AccessKey> ParseAccessKey(std::string_view file_text);

struct Credentials {
  std::string access_key;                  // HMAC-SHA256 auth when not empty
  std::optional<http::TokenConfig> entra;  // Entra ID client credentials otherwise
  std::vector<std::string> warnings;       // for the start-up log
};

util::Result<Credentials> LoadCredentials(const config::AzureConfig& azure);

}  // namespace mailrelay::azure
