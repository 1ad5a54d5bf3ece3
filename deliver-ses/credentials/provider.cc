#include "deliver-ses/credentials/provider.h"

#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "common/json/json.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Environment MapEnvironment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

std::optional<std::string> EnvValue(const Environment& env, const std::string& name) {
  std::optional<std::string> v = env(name);
  if (!v) return std::nullopt;
  std::string trimmed(util::Trim(*v));
  if (trimmed.empty()) return std::nullopt;
  return trimmed;
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool PrintableNoBlank(std::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

std::optional<int64_t> ParseIso8601(std::string_view text) {
  std::string_view s = util::Trim(text);
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos, ++digits;
    if (digits == 0) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;  // a time without a zone is ambiguous
  }
  if (pos != s.size()) return std::nullopt;
  struct tm tm = {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

util::Status ValidateKeys(const Credentials& keys) {
  if (keys.access_key_id.empty()) return util::InvalidArgument("the access key id is empty");
  if (keys.secret_access_key.empty())
    return util::InvalidArgument("the secret access key is empty");
  if (keys.access_key_id.size() > 128 || !PrintableNoBlank(keys.access_key_id)) {
    return util::InvalidArgument("the access key id \"" + util::Printable(keys.access_key_id, 40) +
                                 "\" is malformed");
  }
  if (!PrintableNoBlank(keys.secret_access_key)) {
    return util::InvalidArgument("the secret access key contains blanks or control characters");
  }
  if (!keys.session_token.empty() && !PrintableNoBlank(keys.session_token)) {
    return util::InvalidArgument("the session token contains blanks or control characters");
  }
  return util::Status::Ok();
}

util::Result<AwsCredentials> ParseCredentialsJson(std::string_view body,
                                                  const std::string& source) {
  util::Result<json::Value> doc = json::Parse(body, {.max_depth = 8, .max_size = 1 << 20});
  if (!doc.ok() || !doc->is_object()) {
    return util::Unavailable(source + " answered without a JSON object");
  }
  const json::Value& v = *doc;
  if (const json::Value* code = v.Find("Code"); code && code->as_string() != "Success") {
    return util::Unavailable(source + " answered Code \"" + util::Printable(code->as_string(), 60) +
                             "\": " + util::Printable(v["Message"].as_string(), 200));
  }
  AwsCredentials c;
  c.source = source;
  c.keys.access_key_id = v["AccessKeyId"].as_string();
  c.keys.secret_access_key = v["SecretAccessKey"].as_string();
  c.keys.session_token = v["Token"].as_string();
  MR_RETURN_IF_ERROR(ValidateKeys(c.keys).WithContext(source + ": "));
  const std::string& expiration = v["Expiration"].as_string();
  if (!expiration.empty()) {
    std::optional<int64_t> t = ParseIso8601(expiration);
    // The epoch (or before) is no expiry a service means, and 0 would read as "never expires".
    if (!t || *t <= 0) {
      return util::Unavailable(source + ": unreadable Expiration \"" +
                               util::Printable(expiration, 40) + "\"");
    }
    c.expires_at_us = *t * 1000000;
  } else if (!c.keys.session_token.empty()) {
    // Temporary keys without an expiry: assume the services' usual hour rather than forever.
    return util::Unavailable(source + " answered temporary credentials without an Expiration");
  }
  return c;
}

util::Result<std::string> ReadTokenFile(const std::string& path, const std::string& what) {
  util::Result<std::string> text = util::ReadFile(path, 1 << 20);
  if (!text.ok()) {
    std::string hint;
    if (text.status().code() == util::Code::kPermissionDenied) {
      hint = " (the agent runs as " + CurrentUserForMessages() + ", which must be able to read it)";
    }
    return util::Unavailable(what + ": " + text.status().message() + hint);
  }
  std::string token(util::Trim(*text));
  if (token.empty()) return util::Unavailable(what + ": " + path + " is empty");
  if (token.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return util::Unavailable(what + ": " + path + " holds more than one line");
  }
  return token;
}

util::Status ConfiguredButFailed(const util::Status& status) {
  if (status.code() == util::Code::kNotFound) return util::Unavailable(status.message());
  return status;
}

std::string CurrentUserForMessages() {
  uid_t uid = geteuid();
  std::string name;
  if (struct passwd* pw = getpwuid(uid); pw != nullptr && pw->pw_name != nullptr)
    name = pw->pw_name;
  if (name.empty()) return "uid " + std::to_string(uid);
  return name + " (uid " + std::to_string(uid) + ")";
}

}  // namespace mailrelay::ses
