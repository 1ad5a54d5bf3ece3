// Credentials from the environment, as every AWS SDK reads them: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN (legacy AWS_SECURITY_TOKEN) and
// AWS_CREDENTIAL_EXPIRATION. Runs on the agent's loop; answers at once.
// kNotFound when neither key variable is set; kInvalidArgument when only one is, or a value
// is malformed.
#pragma once

#include <string>

#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

class EnvironmentProvider : public CredentialProvider {
 public:
  explicit EnvironmentProvider(Environment env) : env_(std::move(env)) {}
  std::string Name() const override { return "environment (AWS_ACCESS_KEY_ID)"; }
  void Fetch(CredentialsCallback done) override;

 private:
  Environment env_;
};

// The same as a function, for tests.
util::Result<AwsCredentials> CredentialsFromEnvironment(const Environment& env);

}  // namespace mailrelay::ses
