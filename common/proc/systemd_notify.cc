#include "common/proc/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace mailrelay::proc {

SystemdNotifier SystemdNotifier::FromEnvironment() {
  SystemdNotifier n;
  if (const char* p = std::getenv("NOTIFY_SOCKET")) {
    n.path_ = p;
    unsetenv("NOTIFY_SOCKET");
  }
  sockaddr_un probe{};
  // A path that does not fit sockaddr_un, or one that is neither absolute nor abstract, is
  // not a systemd socket: ignore it rather than send somewhere unexpected.
  if (n.path_.size() >= sizeof probe.sun_path || (n.path_[0] != '/' && n.path_[0] != '@')) n.path_.clear();
  return n;
}

bool SystemdNotifier::Notify(std::string_view state) const {
  if (path_.empty()) return false;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  if (path_[0] == '@') addr.sun_path[0] = '\0';
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
  return n == static_cast<ssize_t>(state.size());
}

}  // namespace mailrelay::proc
