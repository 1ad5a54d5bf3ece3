#include "relayctl/users.h"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "common/auth/password.h"
#include "common/auth/users_file.h"
#include "common/json/json.h"
#include "common/proc/privileges.h"

namespace mailrelay::relayctl {

namespace {

bool ReadHidden(const std::string& prompt, std::string* out) {
  std::cerr << prompt << std::flush;
  termios old{};
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  bool ok = static_cast<bool>(std::getline(std::cin, *out));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::cerr << "\n";
  }
  if (!out->empty() && out->back() == '\r') out->pop_back();
  return ok;
}

int Fail(const std::string& msg, int code = 1) {
  std::cerr << "relayctl: " << msg << "\n";
  return code;
}

}  // namespace

int UserCommand(const config::Config& cfg, const std::vector<std::string>& args, bool json) {
  const std::string& path = cfg.smtpd.users_file;
  if (args.empty() || (args[0] != "add" && args[0] != "del" && args[0] != "list")) {
    return Fail("usage: relayctl user add NAME | user del NAME | user list", 2);
  }
  if (path.empty()) return Fail("[smtpd] users_file is not set in the configuration; set it first");
  auto loaded = auth::UsersFile::Load(path);
  bool existed = loaded.ok();
  if (!loaded.ok() && loaded.status().code() != util::Code::kNotFound) return Fail(loaded.status().message());
  auth::UsersFile users = loaded.ok() ? std::move(loaded).value() : auth::UsersFile();
  if (args[0] == "list") {
    if (args.size() != 1) return Fail("usage: relayctl user list", 2);
    if (json) {
      json::Value list = json::Value::MakeArray();
      for (const auto& n : users.Names()) list.Append(n);
      json::Value out = json::Value::MakeObject();
      out.Set("users", list);
      std::cout << out.Serialize(true) << "\n";
    } else {
      for (const auto& n : users.Names()) std::cout << n << "\n";
    }
    return 0;
  }
  if (args.size() != 2) return Fail("usage: relayctl user " + args[0] + " NAME", 2);
  const std::string& name = args[1];
  if (args[0] == "del") {
    util::Status st = users.RemoveUser(name);
    if (!st.ok()) return Fail(st.message());
    st = users.Save(path);
    if (!st.ok()) return Fail(st.message());
    if (proc::IsRoot() && cfg.server.privilege_separation) {
      auto gid = proc::LookupGroup(proc::kSmtpdUser);
      if (gid.ok() && chown(path.c_str(), 0, *gid) != 0) std::cerr << "relayctl: warning: cannot chgrp " << path << "\n";
    }
    std::cout << "removed user " << name << "\n";
    return 0;
  }
  util::Status valid = auth::CheckUserName(name);
  if (!valid.ok()) return Fail(valid.message(), 2);
  std::string pw, again;
  bool tty = isatty(STDIN_FILENO);
  if (!ReadHidden(tty ? "Password for " + name + ": " : "", &pw) || pw.empty()) {
    return Fail("no password given (type it at the prompt or pipe one line on stdin)", 2);
  }
  if (tty) {
    if (!ReadHidden("Again: ", &again) || again != pw) return Fail("the passwords differ; nothing changed", 2);
  }
  auto hash = auth::HashPassword(pw);
  std::fill(pw.begin(), pw.end(), '\0');
  std::fill(again.begin(), again.end(), '\0');
  if (!hash.ok()) return Fail(hash.status().message());
  auto replaced = users.SetUser(name, *hash);
  if (!replaced.ok()) return Fail(replaced.status().message());
  util::Status st = users.Save(path);
  if (!st.ok()) return Fail(st.message());
  (void)existed;
  if (proc::IsRoot() && cfg.server.privilege_separation) {
    // smtpd re-reads the file after dropping root: owned by root, readable by its group.
    auto gid = proc::LookupGroup(proc::kSmtpdUser);
    if (gid.ok() && chown(path.c_str(), 0, *gid) != 0) std::cerr << "relayctl: warning: cannot chgrp " << path << "\n";
  }
  std::cout << (*replaced ? "changed password of user " : "added user ") << name << "\n";
  return 0;
}

}  // namespace mailrelay::relayctl
