#include "deliver-file/file_backend.h"

#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::file {

std::string ChooseName(const std::string& dir, const std::string& queue_id) {
  std::string name = queue_id + ".eml";
  for (int n = 1; util::FileExists(dir + "/" + name); ++n) name = queue_id + "." + std::to_string(n) + ".eml";
  return name;
}

void FileBackend::Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) {
  // Queue ids are [0-9A-Z]; anything else would be a bug or a hostile peer.
  for (char c : job->queue_id) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
      done(agent::JobResult::ForAll(*job, 451, "4.3.0", "invalid queue id"));
      return;
    }
  }
  std::string name = ChooseName(dir_, job->queue_id);
  util::Status st = util::WriteFileAtomic(dir_, name, job->body, 0640);
  if (!st.ok()) {
    bool full = st.code() == util::Code::kResourceExhausted;
    done(agent::JobResult::ForAll(*job, 451, full ? "4.3.1" : "4.3.0", "cannot write " + dir_ + "/" + name + ": " +
                                                                          st.message()));
    return;
  }
  agent::JobResult r = agent::JobResult::ForAll(*job, 250, "2.0.0", "written to " + dir_ + "/" + name);
  r.info = "file=" + name;
  done(r);
}

}  // namespace mailrelay::file
