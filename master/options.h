// mailrelayd's command line (DESIGN.md "Command line"). Pure parsing.
#pragma once

#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/util/status.h"

namespace mailrelay::master {

inline constexpr const char* kDefaultConfig = "/etc/mailrelay/mailrelay.ini";

struct Options {
  std::string config_path = kDefaultConfig;
  std::vector<config::Override> overrides;
  bool foreground = false;
  bool check = false;
  bool version = false;
  bool help = false;
  bool help_config = false;
};

util::Result<Options> ParseOptions(int argc, char** argv);
const char* Usage();

}  // namespace mailrelay::master
