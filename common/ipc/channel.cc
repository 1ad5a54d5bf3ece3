#include "common/ipc/channel.h"

#include <event2/buffer.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mailrelay::ipc {

Channel::Channel(event_base* base, int fd, size_t max_payload)
    : bev_(bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)),
      max_payload_(max_payload),
      alive_(std::make_shared<bool>(true)) {
  evutil_make_socket_nonblocking(fd);
  // libevent reads 4 KiB per read(2) by default; bodies move in 256 KiB chunks, and every
  // system call is expensive on a virtual machine.
  bufferevent_set_max_single_read(bev_, 256 * 1024);
  bufferevent_set_max_single_write(bev_, 256 * 1024);
}

Channel::~Channel() {
  *alive_ = false;
  if (bev_) bufferevent_free(bev_);
}

int Channel::fd() const { return bev_ ? bufferevent_getfd(bev_) : -1; }

void Channel::Start(MessageFn on_message, CloseFn on_close) {
  on_message_ = std::move(on_message);
  on_close_ = std::move(on_close);
  bufferevent_setcb(bev_, &Channel::ReadCb, &Channel::WriteCb, &Channel::EventCb, this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

util::Status Channel::Send(const Message& m) {
  if (closed_) return util::Unavailable("channel closed");
  auto frame = m.Encode();
  if (!frame.ok()) return frame.status();
  if (bufferevent_write(bev_, frame->data(), frame->size()) != 0) {
    return util::Internal("bufferevent_write failed");
  }
  return util::Status::Ok();
}

util::Status Channel::SendWithData(const Message& head, Tag data_tag, std::string_view data,
                                   std::shared_ptr<const std::string> owner) {
  if (closed_) return util::Unavailable("channel closed");
  auto frame = head.EncodeHead(data_tag, data.size());
  if (!frame.ok()) return frame.status();
  evbuffer* out = bufferevent_get_output(bev_);
  if (evbuffer_add(out, frame->data(), frame->size()) != 0) return util::Internal("evbuffer_add failed");
  if (data.empty()) return util::Status::Ok();
  auto* keep = new std::shared_ptr<const std::string>(std::move(owner));
  if (evbuffer_add_reference(out, data.data(), data.size(),
                             [](const void*, size_t, void* arg) {
                               delete static_cast<std::shared_ptr<const std::string>*>(arg);
                             },
                             keep) != 0) {
    delete keep;
    return util::Internal("evbuffer_add_reference failed");
  }
  return util::Status::Ok();
}

size_t Channel::OutputPending() const {
  return bev_ ? evbuffer_get_length(bufferevent_get_output(bev_)) : 0;
}

void Channel::CloseAfterFlush() {
  if (closed_) return;
  closing_after_flush_ = true;
  bufferevent_disable(bev_, EV_READ);
  if (OutputPending() == 0) {
    closed_ = true;
    shutdown(fd(), SHUT_RDWR);
  }
}

void Channel::Fail(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  bufferevent_disable(bev_, EV_READ | EV_WRITE);
  if (on_close_) {
    CloseFn fn = std::move(on_close_);
    fn(reason);  // may destroy this
  }
}

void Channel::ReadCb(bufferevent* bev, void* arg) {
  auto* self = static_cast<Channel*>(arg);
  std::shared_ptr<bool> alive = self->alive_;
  evbuffer* in = bufferevent_get_input(bev);
  while (*alive && !self->closed_) {
    size_t avail = evbuffer_get_length(in);
    if (avail < kHeaderSize) return;
    unsigned char* head = evbuffer_pullup(in, kHeaderSize);
    uint32_t len = static_cast<uint32_t>(head[0]) | (static_cast<uint32_t>(head[1]) << 8) |
                   (static_cast<uint32_t>(head[2]) << 16) | (static_cast<uint32_t>(head[3]) << 24);
    size_t want = kHeaderSize + std::min<size_t>(len, self->max_payload_ + 1);
    if (len <= self->max_payload_ && avail < want) return;  // wait for the rest
    unsigned char* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(std::min(avail, want)));
    Message m;
    auto used = DecodeFrame(std::string_view(reinterpret_cast<char*>(p), std::min(avail, want)),
                            self->max_payload_, &m);
    if (!used.ok()) {
      self->Fail("protocol error: " + used.status().message());
      return;
    }
    if (*used == 0) return;
    evbuffer_drain(in, *used);
    if (self->on_message_) self->on_message_(m);
  }
}

void Channel::WriteCb(bufferevent*, void* arg) {
  auto* self = static_cast<Channel*>(arg);
  if (self->closing_after_flush_) {
    self->closed_ = true;
    shutdown(self->fd(), SHUT_RDWR);
    return;
  }
  if (self->on_drained_) self->on_drained_();
}

void Channel::EventCb(bufferevent*, short what, void* arg) {
  auto* self = static_cast<Channel*>(arg);
  if (self->closing_after_flush_) {
    self->closed_ = true;
    return;
  }
  if (what & BEV_EVENT_EOF) {
    self->Fail("peer closed the connection");
  } else if (what & BEV_EVENT_ERROR) {
    self->Fail(std::string("socket error: ") + std::strerror(EVUTIL_SOCKET_ERROR()));
  }
}

Message MakeHello(const std::string& role, const std::string& name, uint64_t generation,
                  uint64_t concurrency) {
  Message m(Type::kHello);
  m.Add(Tag::kProtocol, kProtocolName).Add(Tag::kVersion, kProtocolVersion).Add(Tag::kRole, role);
  if (!name.empty()) m.Add(Tag::kName, name);
  m.Add(Tag::kPid, static_cast<uint64_t>(getpid()));
  if (generation) m.Add(Tag::kGeneration, generation);
  if (concurrency) m.Add(Tag::kConcurrency, concurrency);
  return m;
}

util::Status CheckHello(const Message& m, const std::string& expected_role) {
  if (m.type() != Type::kHello) {
    return util::InvalidArgument(std::string("expected hello, got ") + TypeName(m.type()));
  }
  if (m.Str(Tag::kProtocol) != kProtocolName) return util::InvalidArgument("not a mailrelay IPC peer");
  if (m.U64(Tag::kVersion) != kProtocolVersion) {
    return util::InvalidArgument("IPC version " + std::to_string(m.U64(Tag::kVersion)) +
                                 " (we speak " + std::to_string(kProtocolVersion) +
                                 "); restart all mailrelay processes after an upgrade");
  }
  if (!expected_role.empty() && m.Str(Tag::kRole) != expected_role) {
    return util::InvalidArgument("expected a " + expected_role + " peer, got " + std::string(m.Str(Tag::kRole)));
  }
  return util::Status::Ok();
}

util::Result<int> ConnectUnix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return util::InvalidArgument("socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return util::ErrnoStatus("socket", errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    close(fd);
    return util::ErrnoStatus("connect " + path, err);
  }
  evutil_make_socket_nonblocking(fd);
  return fd;
}

util::Result<int> ListenUnix(const std::string& path, int mode) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return util::InvalidArgument("socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return util::ErrnoStatus("socket", errno);
  unlink(path.c_str());
  // Bind with a tight umask so the socket never exists with looser permissions.
  mode_t old = umask(0777 & ~static_cast<mode_t>(mode));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = errno;
  umask(old);
  if (rc != 0) {
    close(fd);
    return util::ErrnoStatus("bind " + path, err);
  }
  chmod(path.c_str(), static_cast<mode_t>(mode));
  if (listen(fd, 512) != 0) {
    err = errno;
    close(fd);
    return util::ErrnoStatus("listen " + path, err);
  }
  return fd;
}

}  // namespace mailrelay::ipc
