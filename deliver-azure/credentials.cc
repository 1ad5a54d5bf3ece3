#include "deliver-azure/credentials.h"

#include <algorithm>

#include "common/util/base64.h"
#include "common/util/file.h"
#include "common/util/strings.h"
#include "deliver-azure/acs_hmac.h"

namespace mailrelay::azure {

namespace {

std::string WithoutTrailingSlash(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

bool LooksLikeConnectionString(std::string_view text) {
  // Base64 ends in at most two '='; a connection string has "key=value" parts.
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) return false;
  return text.substr(eq).find_first_not_of('=') != std::string_view::npos;
}

}  // namespace

util::Result<AccessKey> ParseAccessKey(std::string_view file_text) {
  std::string_view text = util::Trim(file_text);
  if (text.empty()) return util::InvalidArgument("it is empty");
  AccessKey out;
  if (LooksLikeConnectionString(text)) {
    MR_ASSIGN_OR_RETURN(ConnectionString cs, ParseConnectionString(text));
    out.key = std::move(cs.access_key);
    out.endpoint = std::move(cs.endpoint);
    return out;
  }
  auto decoded = util::Base64Decode(text);
  if (!decoded || decoded->empty() || text.find_first_of(" \t\r\n") != std::string_view::npos) {
    return util::InvalidArgument(
        "it holds neither a base64 access key nor a connection string endpoint=...;accesskey=...");
  }
  out.key = std::string(text);
  return out;
}

util::Result<Credentials> LoadCredentials(const config::AzureConfig& azure) {
  Credentials c;
  if (!azure.access_key_file.empty()) {
    MR_ASSIGN_OR_RETURN(std::string text, util::ReadSecretFile(azure.access_key_file));
    auto key = ParseAccessKey(text);
    if (!key.ok()) {
      return util::InvalidArgument("[azure] access_key_file " + azure.access_key_file + ": " +
                                   key.status().message());
    }
    c.access_key = std::move(key->key);
    if (!key->endpoint.empty() &&
        !util::EqualsIgnoreCase(WithoutTrailingSlash(key->endpoint), WithoutTrailingSlash(azure.endpoint))) {
      c.warnings.push_back("the connection string in " + azure.access_key_file + " names endpoint " +
                           util::Printable(key->endpoint, 200) + "; using [azure] endpoint " +
                           azure.endpoint);
    }
    return c;
  }
  if (azure.client_secret_file.empty()) {
    return util::InvalidArgument("[azure] needs access_key_file or tenant_id/client_id/client_secret_file");
  }
  http::TokenConfig t;
  t.authority = azure.authority;
  t.tenant = azure.tenant_id;
  t.client_id = azure.client_id;
  MR_ASSIGN_OR_RETURN(t.client_secret, util::ReadSecretFile(azure.client_secret_file));
  if (t.client_secret.empty()) {
    return util::InvalidArgument("[azure] client_secret_file " + azure.client_secret_file + " is empty");
  }
  t.scope = http::kAcsScope;
  t.ca_file = azure.ca_file;
  t.timeout = std::chrono::seconds(azure.timeout);
  t.connect_timeout = std::chrono::seconds(std::min<int64_t>(azure.timeout, 10));
  if (auto url = http::TokenEndpoint(t); !url.ok()) return url.status().WithContext("[azure] ");
  c.entra = std::move(t);
  return c;
}

}  // namespace mailrelay::azure
