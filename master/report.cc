#include "master/report.h"

#include "common/util/clock.h"
#include "common/util/crypto.h"

namespace mailrelay::master {

std::string BuildReport(const ReportInput& in) {
  std::string out;
  out += "From: mailrelay <" + in.from + ">\r\n";
  out += "To: <" + in.to + ">\r\n";
  out += "Subject: mailrelay on " + in.hostname + ": " + in.process + " restarted (" + in.how + ")\r\n";
  out += "Date: " + util::Rfc5322Date(in.now) + "\r\n";
  out += "Message-ID: <" + util::UuidV4() + "@" + in.hostname + ">\r\n";
  out += "Auto-Submitted: auto-generated\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  out += "mailrelayd on " + in.hostname + " restarted a process that stopped unexpectedly.\r\n\r\n";
  out += "Process:                 " + in.process + "\r\n";
  out += "How it ended:            " + in.how + "\r\n";
  out += "Restarts in the last hour: " + std::to_string(in.restarts_last_hour) + " of at most " +
         std::to_string(in.restart_limit) + " ([server] restart_per_hour)\r\n";
  out += "Time:                    " + util::Rfc5322Date(in.now) + "\r\n\r\n";
  out += "Past the limit mailrelayd stops the whole relay; accepted mail stays in the spool.\r\n\r\n";
  out += "Last log lines of " + in.process + ":\r\n\r\n";
  for (const auto& l : in.last_lines) {
    // One log line per line; keep SMTP's 1000-octet limit and the dot rules out of reach.
    std::string line = l.substr(0, 900);
    out += "    " + line + "\r\n";
  }
  if (in.last_lines.empty()) out += "    (none)\r\n";
  return out;
}

}  // namespace mailrelay::master
