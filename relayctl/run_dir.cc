#include "relayctl/run_dir.h"

#include <cstdlib>

#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::relayctl {

std::string RunDirFromFile(const std::string& path) {
  if (const char* env = std::getenv("MAILRELAY_SERVER_RUN_DIR")) return env;
  auto text = util::ReadFile(path, 1 << 20);
  if (!text.ok()) return "";
  std::string section;
  std::string run_dir = "/run/mailrelay";
  for (const auto& raw : util::Split(*text, '\n', false)) {
    std::string_view line = util::Trim(raw);
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      section = util::ToLower(util::Trim(line.substr(1, line.find(']') - 1)));
      continue;
    }
    size_t eq = line.find('=');
    if (section != "server" || eq == std::string_view::npos) continue;
    if (util::ToLower(util::Trim(line.substr(0, eq))) != "run_dir") continue;
    std::string value(util::Trim(line.substr(eq + 1)));
    size_t comment = value.find(" ;");
    if (comment != std::string::npos) value = std::string(util::Trim(value.substr(0, comment)));
    if (!value.empty()) run_dir = value;
  }
  return run_dir;
}

}  // namespace mailrelay::relayctl
