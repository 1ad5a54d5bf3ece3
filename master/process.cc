#include "master/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "common/proc/child.h"
#include "common/util/file.h"

namespace mailrelay::master {

std::string HelperPath(const std::string& name) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string self(buf, static_cast<size_t>(n));
    std::string dir = self.substr(0, self.rfind('/'));
    if (util::FileExists(dir + "/" + name)) return dir + "/" + name;
  }
  return "/usr/lib/mailrelay/" + name;
}

util::Result<pid_t> Spawn(const std::string& name, const std::vector<PassedFd>& fds, uint64_t generation,
                          int* channel_fd, int* log_fd) {
  std::string path = HelperPath(name);
  if (access(path.c_str(), X_OK) != 0) return util::NotFound("helper program " + path + " is missing");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return util::ErrnoStatus("socketpair", errno);
  int lp[2];
  if (pipe2(lp, O_CLOEXEC) != 0) {
    close(sv[0]);
    close(sv[1]);
    return util::ErrnoStatus("pipe", errno);
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::string fd_env = "MAILRELAY_FDS=";
  for (size_t i = 0; i < fds.size(); ++i) {
    if (i) fd_env += ",";
    fd_env += std::to_string(proc::kFirstExtraFd + static_cast<int>(i)) + ":" + fds[i].kind + ":" + fds[i].address;
  }
  std::string gen_env = "MAILRELAY_GENERATION=" + std::to_string(generation);
  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    if (strncmp(*e, "MAILRELAY_FDS=", 14) == 0 || strncmp(*e, "MAILRELAY_GENERATION=", 21) == 0) continue;
    env_store.emplace_back(*e);
  }
  env_store.push_back(fd_env);
  env_store.push_back(gen_env);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string argv0 = name;
  char* argv[] = {argv0.data(), nullptr};
  std::vector<int> src;
  for (const auto& f : fds) src.push_back(f.fd);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    close(lp[0]);
    close(lp[1]);
    if (devnull >= 0) close(devnull);
    return util::ErrnoStatus("fork", err);
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    // Move every source fd above the target range first, so dup2 cannot clobber one.
    int high = 100;
    int chan = fcntl(sv[1], F_DUPFD, high);
    int logw = fcntl(lp[1], F_DUPFD, high);
    std::vector<int> moved;
    for (int f : src) moved.push_back(fcntl(f, F_DUPFD, high));
    if (devnull >= 0) dup2(devnull, 0);
    dup2(logw, 1);
    dup2(logw, 2);
    dup2(chan, proc::kMasterFd);
    for (size_t i = 0; i < moved.size(); ++i) dup2(moved[i], proc::kFirstExtraFd + static_cast<int>(i));
    int keep = proc::kFirstExtraFd + static_cast<int>(moved.size());
    for (int f = 0; f < keep; ++f) {
      int flags = fcntl(f, F_GETFD);
      if (flags >= 0) fcntl(f, F_SETFD, flags & ~FD_CLOEXEC);
    }
    for (int f = keep; f < 4096; ++f) close(f);
    execve(path.c_str(), argv, envp.data());
    const char msg[] = "mailrelayd: exec of helper failed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  close(sv[1]);
  close(lp[1]);
  if (devnull >= 0) close(devnull);
  *channel_fd = sv[0];
  *log_fd = lp[0];
  fcntl(lp[0], F_SETFL, fcntl(lp[0], F_GETFL) | O_NONBLOCK);
  return pid;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return std::string("killed by ") + (abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig)) +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  }
  return "ended with status " + std::to_string(status);
}

}  // namespace mailrelay::master
