#include "deliver-ses/credentials/environment_provider.h"

#include "common/util/strings.h"

namespace mailrelay::ses {

util::Result<AwsCredentials> CredentialsFromEnvironment(const Environment& env) {
  std::optional<std::string> id = EnvValue(env, "AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = EnvValue(env, "AWS_SECRET_ACCESS_KEY");
  if (!id && !secret) return util::NotFound("AWS_ACCESS_KEY_ID is not set");
  if (!id)
    return util::InvalidArgument("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  if (!secret)
    return util::InvalidArgument("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  AwsCredentials c;
  c.source = "environment (AWS_ACCESS_KEY_ID)";
  c.keys.access_key_id = *id;
  c.keys.secret_access_key = *secret;
  std::optional<std::string> token = EnvValue(env, "AWS_SESSION_TOKEN");
  if (!token) token = EnvValue(env, "AWS_SECURITY_TOKEN");
  if (token) c.keys.session_token = *token;
  MR_RETURN_IF_ERROR(ValidateKeys(c.keys).WithContext("environment: "));
  if (std::optional<std::string> exp = EnvValue(env, "AWS_CREDENTIAL_EXPIRATION")) {
    std::optional<int64_t> t = ParseIso8601(*exp);
    if (!t) {
      return util::InvalidArgument("AWS_CREDENTIAL_EXPIRATION \"" + util::Printable(*exp, 40) +
                                   "\" is not an ISO 8601 date-time such as 2026-11-05T02:02:26Z");
    }
    c.expires_at_us = *t * 1000000;
  }
  return c;
}

void EnvironmentProvider::Fetch(CredentialsCallback done) {
  done(CredentialsFromEnvironment(env_));
}

}  // namespace mailrelay::ses
