#include "relayctl/client.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "common/ipc/channel.h"
#include "common/ipc/frame.h"

namespace mailrelay::relayctl {

namespace {

util::Status WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      return util::ErrnoStatus("write control.sock", errno);
    }
    off += static_cast<size_t>(w);
  }
  return util::Status::Ok();
}

util::Result<ipc::Message> ReadFrame(int fd, std::string* buf, int timeout_ms) {
  while (true) {
    ipc::Message m;
    auto used = ipc::DecodeFrame(*buf, 256u << 20, &m);
    if (!used.ok()) return used.status();
    if (*used > 0) {
      buf->erase(0, *used);
      return m;
    }
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc == 0) return util::Unavailable("qmgr did not answer in time");
    if (rc < 0 && errno != EINTR) return util::ErrnoStatus("poll", errno);
    char tmp[65536];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r == 0) return util::Unavailable("qmgr closed the connection");
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return util::ErrnoStatus("read control.sock", errno);
    }
    buf->append(tmp, static_cast<size_t>(r));
  }
}

}  // namespace

util::Result<ControlResult> Call(const std::string& run_dir, const std::string& verb,
                                 const std::vector<std::string>& args, int timeout_seconds) {
  std::string path = run_dir + "/control.sock";
  auto fd = ipc::ConnectUnix(path);
  if (!fd.ok()) {
    std::string why = fd.status().message();
    if (fd.status().code() == util::Code::kPermissionDenied) {
      return util::PermissionDenied(why + " (run as root or as a member of group mailrelay)");
    }
    return util::Unavailable(why + " (is mailrelayd running? see systemctl status mailrelay)");
  }
  std::string buf;
  auto hello = ReadFrame(*fd, &buf, timeout_seconds * 1000);
  util::Status st = hello.ok() ? ipc::CheckHello(*hello, "qmgr") : hello.status();
  if (st.ok()) {
    auto h = ipc::MakeHello("relayctl", "relayctl").Encode();
    st = WriteAll(*fd, *h);
  }
  if (st.ok()) {
    ipc::Message req(ipc::Type::kControlRequest);
    req.Add(ipc::Tag::kVerb, verb);
    for (const auto& a : args) req.Add(ipc::Tag::kArg, a);
    auto enc = req.Encode();
    st = enc.ok() ? WriteAll(*fd, *enc) : enc.status();
  }
  if (!st.ok()) {
    close(*fd);
    return st;
  }
  auto reply = ReadFrame(*fd, &buf, timeout_seconds * 1000);
  close(*fd);
  if (!reply.ok()) return reply.status();
  if (reply->type() != ipc::Type::kControlReply) return util::Internal("unexpected reply from qmgr");
  ControlResult r;
  r.exit_code = static_cast<int>(reply->U64(ipc::Tag::kExitCode));
  r.error = std::string(reply->Str(ipc::Tag::kText));
  auto body = json::Parse(reply->Str(ipc::Tag::kJson));
  r.body = body.ok() ? *body : json::Value::MakeObject();
  return r;
}

}  // namespace mailrelay::relayctl
