// Finding run_dir in a configuration file that does not validate: relayctl must reach the
// running relay (which keeps its last good configuration) while an operator fixes the file.
#pragma once

#include <string>

namespace mailrelay::relayctl {

// [server] run_dir from the file (environment override honoured), the default when the file
// does not set it, "" when the file cannot be read at all.
std::string RunDirFromFile(const std::string& path);

}  // namespace mailrelay::relayctl
