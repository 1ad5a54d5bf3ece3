// relayctl user add|del|list: maintains [smtpd] users_file. Passwords come from stdin (one
// line) or, on a terminal, are asked twice without echo; never from the command line.
#pragma once

#include <string>

#include "common/config/config.h"

namespace mailrelay::relayctl {

int UserCommand(const config::Config& cfg, const std::vector<std::string>& args, bool json);

}  // namespace mailrelay::relayctl
