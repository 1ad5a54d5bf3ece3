// AWS credentials for deliver-ses, and the interface each source of the SDKs' chain implements
// (static keys, environment, shared files, web identity, ECS container, EC2 IMDSv2).
// Providers run on the agent's loop; Fetch() answers exactly once, possibly before it returns.
// kNotFound means "not configured here" (the chain tries the next source); any other error
// means the source is configured but failed, and the chain stops there, as the SDKs do.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/util/status.h"
#include "deliver-ses/sigv4.h"

namespace mailrelay::ses {

struct AwsCredentials {
  Credentials keys;
  // When the keys stop working, on the wall clock (util::Clock::NowMicros()); 0 = long-term
  // keys that do not expire.
  int64_t expires_at_us = 0;
  std::string source;  // for logs, e.g. "EC2 instance metadata (role web)"; never a secret
};

using CredentialsCallback = std::function<void(util::Result<AwsCredentials>)>;

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // What this source is, for logs and the "no credentials" message.
  virtual std::string Name() const = 0;
  // At most one Fetch() is in flight per provider (CredentialCache guarantees it). Destroying
  // a provider drops a fetch in flight without calling back.
  virtual void Fetch(CredentialsCallback done) = 0;
};

// The environment seen by the providers: the process environment in production, a map in tests.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment ProcessEnvironment();
Environment MapEnvironment(std::map<std::string, std::string> values);
// The variable if it is set and not empty (the SDKs treat "" as unset).
std::optional<std::string> EnvValue(const Environment& env, const std::string& name);

// RFC 3339 / ISO 8601 date-times as the credential services write them: "2020-11-05T02:02:26Z",
// optionally with fractional seconds and a numeric offset ("+00:00"). Unix seconds.
std::optional<int64_t> ParseIso8601(std::string_view text);

// Shape checks for keys from any source: id and secret present, printable ASCII without blanks.
// The message never quotes the secret or the token.
util::Status ValidateKeys(const Credentials& keys);

// The JSON document the ECS/EKS container endpoint and EC2 IMDS answer with:
// {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (IMDS adds "Code": "Success").
util::Result<AwsCredentials> ParseCredentialsJson(std::string_view body, const std::string& source);

// A token file (web identity, container authorization): read whole, surrounding blanks and
// line ends trimmed. Missing, unreadable or empty files are errors that name the file and
// the user the agent runs as; never kNotFound (the source is configured when it names a file).
util::Result<std::string> ReadTokenFile(const std::string& path, const std::string& what);

// A kNotFound from a source that is configured (a file it names is missing) must not make the
// chain move on: it becomes kUnavailable with the same message.
util::Status ConfiguredButFailed(const util::Status& status);

// "alice" (uid 999), for messages that say who must be able to read a file.
std::string CurrentUserForMessages();

}  // namespace mailrelay::ses
