// The declarative table of every key in mailrelay.ini: section, name, default, one line of
// documentation and how to store it into Config. Adding a key is one entry here (plus the
// struct field in config.h). Internal to the config library.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/config/config.h"

namespace mailrelay::config::internal {

enum class Kind { kString, kPath, kSecretPath, kList, kOther };

struct KeySpec {
  const char* section;
  const char* key;
  const char* default_value;  // raw text, parsed like a user value; "" = unset
  const char* help;
  Kind kind;
  // Stores the value; the error message says what was expected.
  std::function<util::Status(Config&, const std::string&)> set;
};

const std::vector<KeySpec>& AllKeys();
const KeySpec* FindKey(const std::string& section, const std::string& key);
bool IsKnownSection(const std::string& section);
const std::vector<std::string>& SectionNames();

}  // namespace mailrelay::config::internal
