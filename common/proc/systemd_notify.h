// The systemd readiness protocol (sd_notify(3)) without libsystemd: one datagram per state
// change to the socket named by $NOTIFY_SOCKET. Used by mailrelayd under Type=notify so
// `systemctl start` returns only once smtpd is accepting mail, and a reload or stop shows
// in `systemctl status`. Without $NOTIFY_SOCKET every call does nothing.
#pragma once

#include <string>
#include <string_view>

namespace mailrelay::proc {

class SystemdNotifier {
 public:
  // Takes $NOTIFY_SOCKET and removes it from the environment, so the children mailrelayd
  // starts do not talk to systemd in its name.
  static SystemdNotifier FromEnvironment();

  bool enabled() const { return !path_.empty(); }
  // Sends e.g. "READY=1\nSTATUS=accepting mail". Failures are ignored (systemd may be gone
  // during shutdown); returns whether the datagram went out.
  bool Notify(std::string_view state) const;

 private:
  std::string path_;  // "@name" = abstract socket
};

}  // namespace mailrelay::proc
