#include "deliver-ses/credentials/profile_provider.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

std::string StripInlineComment(std::string_view value) {
  for (size_t i = 1; i < value.size(); ++i) {
    if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
      value = value.substr(0, i);
      break;
    }
  }
  return std::string(util::Trim(value));
}

std::string HomeDirectory(const Environment& env) {
  if (std::optional<std::string> home = EnvValue(env, "HOME")) return *home;
  if (struct passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_dir != nullptr)
    return pw->pw_dir;
  return "/";
}

std::string ExpandHome(const std::string& path, const Environment& env) {
  if (path == "~") return HomeDirectory(env);
  if (path.rfind("~/", 0) == 0) return HomeDirectory(env) + path.substr(1);
  return path;
}

// The file's text and mode, nullopt when it does not exist; other failures are errors. A
// default path (under HOME) that cannot be read counts as absent: HOME is often root's,
// inherited from mailrelayd, which the unprivileged agent cannot enter; a path named by the
// variable must be readable.
util::Result<std::optional<ProfileFile>> ReadProfileFile(const std::string& path,
                                                         const char* variable, bool named) {
  util::Result<std::string> text = util::ReadFile(path, 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == util::Code::kNotFound) return std::optional<ProfileFile>();
    if (!named && text.status().code() == util::Code::kPermissionDenied)
      return std::optional<ProfileFile>();
    std::string hint;
    if (text.status().code() == util::Code::kPermissionDenied) {
      hint = "; the agent runs as " + CurrentUserForMessages() +
             ", which must be able to read it (or set " + variable + ")";
    }
    return util::PermissionDenied(text.status().message() + hint);
  }
  ProfileFile f;
  f.path = path;
  f.text = std::move(text).value();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) f.mode = st.st_mode;
  return std::optional<ProfileFile>(std::move(f));
}

const std::map<std::string, std::string>* FindSection(const AwsIni& ini, const std::string& name) {
  auto it = ini.find(name);
  return it == ini.end() ? nullptr : &it->second;
}

const std::string* Key(const std::map<std::string, std::string>& section, const char* key) {
  auto it = section.find(key);
  return it == section.end() || it->second.empty() ? nullptr : &it->second;
}

bool Unsupported(const std::map<std::string, std::string>& section) {
  for (const char* k : {"role_arn", "credential_process", "sso_start_url", "sso_session",
                        "web_identity_token_file", "credential_source"}) {
    if (Key(section, k)) return true;
  }
  return false;
}

util::Result<AwsCredentials> FromSection(const std::map<std::string, std::string>& section,
                                         const ProfileFile& file, const std::string& profile) {
  const std::string* id = Key(section, "aws_access_key_id");
  const std::string* secret = Key(section, "aws_secret_access_key");
  const std::string where = "profile " + profile + " in " + file.path;
  if (!secret)
    return util::InvalidArgument(where + " has aws_access_key_id but no aws_secret_access_key");
  if ((file.mode & 077) != 0) {
    return util::PermissionDenied(where +
                                  " holds a secret key but the file is readable by group or "
                                  "others; chmod 600 it (owned by " +
                                  CurrentUserForMessages() + ")");
  }
  AwsCredentials c;
  c.source = where;
  c.keys.access_key_id = *id;
  c.keys.secret_access_key = *secret;
  if (const std::string* token = Key(section, "aws_session_token")) {
    c.keys.session_token = *token;
  } else if (const std::string* legacy = Key(section, "aws_security_token")) {
    c.keys.session_token = *legacy;
  }
  MR_RETURN_IF_ERROR(ValidateKeys(c.keys).WithContext(where + ": "));
  return c;
}

}  // namespace

AwsIni ParseAwsIni(std::string_view text) {
  AwsIni ini;
  std::map<std::string, std::string>* section = nullptr;
  for (const std::string& raw : util::Split(text, '\n', /*trim=*/false)) {
    std::string_view line = raw;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) continue;  // nested settings
    line = util::Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos) {
        section = nullptr;
        continue;
      }
      // "[profile  name]" and "[ name ]" both name "profile name" / "name".
      std::vector<std::string> words = util::Split(line.substr(1, close - 1), ' ');
      section = &ini[util::Join(words, " ")];
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || section == nullptr) continue;
    std::string key = util::ToLower(util::Trim(line.substr(0, eq)));
    if (key.empty()) continue;
    (*section)[key] = StripInlineComment(line.substr(eq + 1));
  }
  return ini;
}

ProfileLocation LocateProfileFiles(const Environment& env) {
  ProfileLocation where;
  std::optional<std::string> creds = EnvValue(env, "AWS_SHARED_CREDENTIALS_FILE");
  std::optional<std::string> config = EnvValue(env, "AWS_CONFIG_FILE");
  where.credentials_named = creds.has_value();
  where.config_named = config.has_value();
  where.credentials_file = ExpandHome(creds ? *creds : "~/.aws/credentials", env);
  where.config_file = ExpandHome(config ? *config : "~/.aws/config", env);
  std::optional<std::string> profile = EnvValue(env, "AWS_PROFILE");
  if (!profile) profile = EnvValue(env, "AWS_DEFAULT_PROFILE");
  if (profile) {
    where.profile = *profile;
    where.profile_explicit = true;
  }
  return where;
}

util::Result<AwsCredentials> CredentialsFromProfile(const ProfileLocation& where,
                                                    const std::optional<ProfileFile>& credentials,
                                                    const std::optional<ProfileFile>& config) {
  if (!credentials && !config) {
    return util::NotFound("no " + where.credentials_file + " and no " + where.config_file);
  }
  bool found = false;
  bool unsupported = false;
  if (credentials) {
    AwsIni ini = ParseAwsIni(credentials->text);
    if (const auto* s = FindSection(ini, where.profile)) {
      found = true;
      if (Key(*s, "aws_access_key_id")) return FromSection(*s, *credentials, where.profile);
      unsupported |= Unsupported(*s);
    }
  }
  if (config) {
    AwsIni ini = ParseAwsIni(config->text);
    const auto* s = FindSection(ini, "profile " + where.profile);
    if (!s && where.profile == "default") s = FindSection(ini, "default");
    if (s) {
      found = true;
      if (Key(*s, "aws_access_key_id")) return FromSection(*s, *config, where.profile);
      unsupported |= Unsupported(*s);
    }
  }
  std::string files = (credentials ? credentials->path : "") +
                      (credentials && config ? " or " : "") + (config ? config->path : "");
  std::string why;
  if (!found) {
    why = "profile " + where.profile + " is not in " + files;
  } else if (unsupported) {
    why = "profile " + where.profile + " in " + files +
          " uses role_arn, credential_process, web_identity_token_file or SSO, which deliver-ses "
          "does not support; give it aws_access_key_id and aws_secret_access_key";
  } else {
    why = "profile " + where.profile + " in " + files + " has no aws_access_key_id";
  }
  // A profile someone named explicitly must work; the default one is optional.
  if (where.profile_explicit) return util::InvalidArgument(why);
  return util::NotFound(why);
}

void ProfileProvider::Fetch(CredentialsCallback done) {
  ProfileLocation where = LocateProfileFiles(env_);
  auto creds = ReadProfileFile(where.credentials_file, "AWS_SHARED_CREDENTIALS_FILE",
                               where.credentials_named);
  if (!creds.ok()) return done(creds.status());
  auto config = ReadProfileFile(where.config_file, "AWS_CONFIG_FILE", where.config_named);
  if (!config.ok()) return done(config.status());
  done(CredentialsFromProfile(where, *creds, *config));
}

}  // namespace mailrelay::ses
