#include "common/net/listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/net/address.h"

namespace mailrelay::net {

util::Result<BoundListener> BindTcp(const config::HostPort& where, int backlog, int retry_seconds) {
  MR_ASSIGN_OR_RETURN(Endpoint ep, Resolve(where));
  int fd = socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return util::ErrnoStatus("socket for " + where.ToString(), errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ep.family() == AF_INET6) {
    // "[::]:25" next to "0.0.0.0:25" must not collide: each socket gets its own family.
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  int attempts = retry_seconds * 10 + 1;
  int rc = -1, err = 0;
  for (int i = 0; i < attempts; ++i) {
    rc = bind(fd, ep.get(), ep.len);
    err = errno;
    if (rc == 0 || err != EADDRINUSE) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (rc != 0) {
    close(fd);
    return util::ErrnoStatus("cannot listen on " + where.ToString(), err);
  }
  if (listen(fd, backlog) != 0) {
    err = errno;
    close(fd);
    return util::ErrnoStatus("listen on " + where.ToString(), err);
  }
  BoundListener out;
  out.fd = fd;
  auto local = LocalOf(fd);
  out.address = local.ok() ? local->ToString() : where.ToString();
  return out;
}

}  // namespace mailrelay::net
