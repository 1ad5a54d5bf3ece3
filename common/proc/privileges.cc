#include "common/proc/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace mailrelay::proc {

const char* UserFor(const std::string& program) {
  if (program == "smtpd") return kSmtpdUser;
  if (program.rfind("deliver-", 0) == 0) return kDeliverUser;
  return kQueueUser;
}

util::Result<Account> LookupUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* out = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &out);
  if (rc != 0 || !out) {
    return util::NotFound("system user " + name +
                          " does not exist; install the package or run packaging/create-users.sh "
                          "(or set [server] privilege_separation = no for development)");
  }
  return Account{out->pw_uid, out->pw_gid};
}

util::Result<gid_t> LookupGroup(const std::string& name) {
  std::vector<char> buf(16384);
  group gr{};
  group* out = nullptr;
  int rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &out);
  if (rc != 0 || !out) return util::NotFound("group " + name + " does not exist");
  return out->gr_gid;
}

bool IsRoot() { return geteuid() == 0; }

util::Status DropTo(const std::string& user) {
  if (!IsRoot()) return util::Status::Ok();
  MR_ASSIGN_OR_RETURN(Account acct, LookupUser(user));
  if (acct.uid == 0) return util::FailedPrecondition("refusing to 'drop' to " + user + ": it is uid 0");
  gid_t groups[1] = {acct.gid};
  if (setgroups(1, groups) != 0) return util::ErrnoStatus("setgroups", errno);
  if (setresgid(acct.gid, acct.gid, acct.gid) != 0) return util::ErrnoStatus("setgid", errno);
  if (setresuid(acct.uid, acct.uid, acct.uid) != 0) return util::ErrnoStatus("setuid", errno);
  if (setuid(0) == 0 || geteuid() == 0) {
    return util::Internal("privileges could be regained after dropping to " + user);
  }
  return util::Status::Ok();
}

void RaiseFdLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

util::Status Harden() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return util::ErrnoStatus("PR_SET_NO_NEW_PRIVS", errno);
  rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return util::ErrnoStatus("RLIMIT_CORE", errno);
#if !defined(__SANITIZE_ADDRESS__)
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return util::ErrnoStatus("PR_SET_DUMPABLE", errno);
#endif
  return util::Status::Ok();
}

}  // namespace mailrelay::proc
