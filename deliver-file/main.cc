// deliver-file: the [file] delivery agent (see file_backend.h).
#include "common/agent/agent.h"
#include "common/util/file.h"
#include "deliver-file/file_backend.h"

using namespace mailrelay;

int main() {
  return agent::Main(config::Backend::kFile, [](proc::Child& child) -> util::Result<std::unique_ptr<agent::Backend>> {
    const std::string& dir = child.config().file.dir;
    if (!util::FileExists(dir)) return util::NotFound("[file] dir " + dir + " does not exist");
    return std::unique_ptr<agent::Backend>(new file::FileBackend(dir));
  });
}
