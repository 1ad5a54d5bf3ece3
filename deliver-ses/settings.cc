#include "deliver-ses/settings.h"

#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

bool ValidRegion(std::string_view r) {
  if (r.empty() || r.size() > 30) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool IsSet(const config::Config& c, const char* key) {
  auto s = c.raw.find("ses");
  if (s == c.raw.end()) return false;
  auto k = s->second.find(key);
  return k != s->second.end() && !k->second.value.empty();
}

}  // namespace

bool ValidConfigurationSetName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

util::Result<SesSettings> ResolveSettings(const config::Config& config, const Environment& env) {
  const config::SesConfig& c = config.ses;
  SesSettings s;
  s.region = c.region;
  if (!IsSet(config, "region")) {
    for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (auto v = EnvValue(env, var)) {
        if (!ValidRegion(*v))
          return util::InvalidArgument(std::string(var) + " \"" + util::Printable(*v, 40) +
                                       "\" is not an AWS region like eu-west-1");
        s.region = *v;
        break;
      }
    }
  }
  std::string endpoint = c.endpoint;
  std::string endpoint_origin = "[ses] endpoint";
  if (endpoint.empty()) {
    for (const char* var : {"AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL"}) {
      if (auto v = EnvValue(env, var)) {
        endpoint = *v;
        endpoint_origin = var;
        break;
      }
    }
  }
  if (endpoint.empty()) endpoint = "https://email." + s.region + ".amazonaws.com";
  util::Result<SesEndpoint> e = SendEmailEndpoint(endpoint);
  if (!e.ok()) return util::InvalidArgument(endpoint_origin + ": " + e.status().message());
  s.endpoint = *e;
  s.sender = c.sender;
  s.rewrite_from = c.rewrite_from;
  if (s.rewrite_from && s.sender.empty()) {
    return util::InvalidArgument("[ses] rewrite_from = yes needs [ses] sender");
  }
  if (!s.sender.empty()) {
    util::Result<std::string> a = SesAddress(s.sender);
    if (!a.ok()) return util::InvalidArgument("[ses] sender: " + a.status().message());
    s.sender = *a;
  }
  s.configuration_set = c.configuration_set;
  if (!s.configuration_set.empty() && !ValidConfigurationSetName(s.configuration_set)) {
    return util::InvalidArgument(
        "[ses] configuration_set: SES names are 1 to 64 letters, digits, _ and -");
  }
  s.tags = c.tags;
  s.timeout = std::chrono::seconds(std::max<int64_t>(c.timeout, 1));
  s.ca_file = c.ca_file;
  if (s.ca_file.empty()) s.ca_file = EnvValue(env, "AWS_CA_BUNDLE").value_or("");
  s.concurrency = std::max(c.concurrency, 1);
  return s;
}

}  // namespace mailrelay::ses
