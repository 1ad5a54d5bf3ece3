// Privilege separation (DESIGN.md): which system user each process becomes, dropping to it,
// and hardening every process (no new privileges, no core dumps). Called once at start,
// before any input is read; failures are fatal for the process.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/util/status.h"

namespace mailrelay::proc {

inline constexpr const char* kQueueUser = "mailrelay";           // qmgr; owns the spool
inline constexpr const char* kSmtpdUser = "mailrelay-smtpd";     // smtpd: no spool, no secrets
inline constexpr const char* kDeliverUser = "mailrelay-deliver";  // deliver-*: own secrets only
inline constexpr const char* kAdminGroup = "mailrelay";          // relayctl access

// The user a program runs as: "smtpd" -> mailrelay-smtpd, "qmgr" -> mailrelay,
// "deliver-*" -> mailrelay-deliver.
const char* UserFor(const std::string& program);

struct Account {
  uid_t uid;
  gid_t gid;
};
util::Result<Account> LookupUser(const std::string& name);
util::Result<gid_t> LookupGroup(const std::string& name);

bool IsRoot();

// As root: setgroups to the user's own group, setgid, setuid, and verify root cannot be
// regained. As anyone else: nothing.
util::Status DropTo(const std::string& user);

// Raises the soft RLIMIT_NOFILE to the hard limit: smtpd holds a socket per session and
// max_connections defaults to 1000, past the usual soft limit of 1024 with everything else.
void RaiseFdLimit();

// PR_SET_NO_NEW_PRIVS, RLIMIT_CORE 0 and not dumpable (so secrets in memory never land in a
// core file). Under sanitizers the dumpable flag stays on: LeakSanitizer needs ptrace.
util::Status Harden();

}  // namespace mailrelay::proc
