// libFuzzer target: a configuration file from a careless or hostile hand. Loading must
// return a configuration or errors, and a configuration must survive the JSON round trip
// the master uses to hand it to the children.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  mailrelay::config::LoadOptions opts;
  opts.use_environment = false;
  opts.cwd = "/";
  auto c = mailrelay::config::LoadFromString(text, "fuzz.ini", opts);
  if (!c.ok()) {
    if (c.status().message().empty()) std::abort();
    return 0;
  }
  auto back = mailrelay::config::LoadFromJson(c->ToJson());
  if (!back.ok() || back->ToJson() != c->ToJson()) std::abort();
  return 0;
}
