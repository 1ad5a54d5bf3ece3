// Credentials from the shared AWS files: ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) and
// ~/.aws/config (AWS_CONFIG_FILE), profile AWS_PROFILE (or AWS_DEFAULT_PROFILE, else
// "default"). The files are read at each fetch, so after privileges are dropped: the agent's
// user (mailrelay-deliver) must be able to read them, and a file the keys come from must not
// be readable by group or others (DESIGN: secret files). Static keys only: role_arn,
// credential_process and SSO profiles are not supported. Runs on the agent's loop; answers
// at once. kNotFound when no file or no such profile exists (unless AWS_PROFILE names it).
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

// Section name -> key (lowercase) -> value, as the AWS CLI writes the files: "[name]" sections,
// "key = value" lines, '#' and ';' comments (at line start, or after a blank inside a value),
// indented lines (nested settings such as "s3 =" blocks) ignored. A repeated key: the last wins.
using AwsIni = std::map<std::string, std::map<std::string, std::string>>;
AwsIni ParseAwsIni(std::string_view text);

struct ProfileLocation {
  std::string credentials_file;
  std::string config_file;
  std::string profile = "default";
  bool profile_explicit = false;   // AWS_PROFILE / AWS_DEFAULT_PROFILE named it
  bool credentials_named = false;  // AWS_SHARED_CREDENTIALS_FILE named the file
  bool config_named = false;       // AWS_CONFIG_FILE named the file
};
// Paths and profile from the environment; "~/" and the defaults use HOME (else the home of the
// user the agent runs as).
ProfileLocation LocateProfileFiles(const Environment& env);

struct ProfileFile {
  std::string path;
  std::string text;
  mode_t mode = 0600;
};
// Looks the profile up: the credentials file's [name] first, then the config file's
// [profile name] ([default] for the default profile). Absent files are nullopt.
util::Result<AwsCredentials> CredentialsFromProfile(const ProfileLocation& where,
                                                    const std::optional<ProfileFile>& credentials,
                                                    const std::optional<ProfileFile>& config);

class ProfileProvider : public CredentialProvider {
 public:
  explicit ProfileProvider(Environment env) : env_(std::move(env)) {}
  std::string Name() const override { return "shared credentials/config files"; }
  void Fetch(CredentialsCallback done) override;

 private:
  Environment env_;
};

}  // namespace mailrelay::ses
