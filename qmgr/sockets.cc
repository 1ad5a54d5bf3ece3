#include "qmgr/sockets.h"

#include <unistd.h>

#include <cerrno>

#include "common/ipc/channel.h"
#include "common/proc/privileges.h"

namespace mailrelay::qmgr {

namespace {
util::Result<int> Make(const std::string& path, bool privsep, const char* group) {
  MR_ASSIGN_OR_RETURN(int fd, ipc::ListenUnix(path, 0660));
  if (privsep && proc::IsRoot()) {
    MR_ASSIGN_OR_RETURN(proc::Account owner, proc::LookupUser(proc::kQueueUser));
    MR_ASSIGN_OR_RETURN(gid_t gid, proc::LookupGroup(group));
    if (chown(path.c_str(), owner.uid, gid) != 0) return util::ErrnoStatus("chown " + path, errno);
  }
  return fd;
}
}  // namespace

util::Result<Sockets> CreateSockets(const std::string& run_dir, bool privsep) {
  Sockets s;
  MR_ASSIGN_OR_RETURN(s.inject, Make(run_dir + "/qmgr.sock", privsep, proc::kSmtpdUser));
  MR_ASSIGN_OR_RETURN(s.deliver, Make(run_dir + "/deliver.sock", privsep, proc::kDeliverUser));
  MR_ASSIGN_OR_RETURN(s.control, Make(run_dir + "/control.sock", privsep, proc::kAdminGroup));
  return s;
}

}  // namespace mailrelay::qmgr
