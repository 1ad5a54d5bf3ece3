#include "qmgr/master_link.h"

#include "common/log/log.h"
#include "common/util/strings.h"

namespace mailrelay::qmgr {

std::string HeaderValue(const std::string& message, const std::string& name) {
  size_t end = message.find("\r\n\r\n");
  std::string_view head(message.data(), end == std::string::npos ? message.size() : end + 2);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !util::EqualsIgnoreCase(util::Trim(line.substr(0, colon)), name)) continue;
    std::string value(line.substr(colon + 1));
    while (pos < head.size() && (head[pos] == ' ' || head[pos] == '\t')) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string_view::npos) next = head.size();
      value += std::string(head.substr(pos, next - pos));
      pos = next + 2;
    }
    return std::string(util::Trim(value));
  }
  return "";
}

bool MasterLink::AllRunning() const {
  if (processes_.empty()) return false;
  for (const auto& p : processes_) {
    if (p.state != "running") return false;
  }
  return true;
}

void MasterLink::OnMessage(ipc::Message& m) {
  switch (m.type()) {
    case ipc::Type::kProcessTable: {
      processes_.clear();
      for (const auto& g : m.Groups(ipc::Tag::kProcess)) {
        ProcessInfo p;
        p.name = std::string(g.Str(ipc::Tag::kName));
        p.pid = g.U64(ipc::Tag::kPid);
        p.state = std::string(g.Str(ipc::Tag::kState));
        p.restarts = g.U64(ipc::Tag::kRestarts);
        p.started = g.U64(ipc::Tag::kStarted);
        processes_.push_back(std::move(p));
      }
      return;
    }
    case ipc::Type::kReport:
      QueueReport(m);
      return;
    case ipc::Type::kReloadResult: {
      bool ok = m.U64(ipc::Tag::kOk) != 0;
      std::string text(m.Str(ipc::Tag::kText));
      auto waiters = std::move(reload_waiters_);
      reload_waiters_.clear();
      for (auto& w : waiters) w(ok, text);
      return;
    }
    case ipc::Type::kConfig:
      // A reload that qmgr can apply without restarting (routes, queue limits, rates).
      if (on_config) on_config(std::string(m.Str(ipc::Tag::kJson)));
      return;
    case ipc::Type::kProcessExit:
      if (on_agent_exit) on_agent_exit(m.U64(ipc::Tag::kPid), static_cast<int>(m.U64(ipc::Tag::kCode)));
      return;
    default:
      log::Warning().Text(std::string("unexpected ") + ipc::TypeName(m.type()) + " from mailrelayd");
  }
}

void MasterLink::QueueReport(const ipc::Message& m) {
  uint64_t report_id = m.U64(ipc::Tag::kReportId);
  std::string body(m.Str(ipc::Tag::kData));
  Message msg;
  msg.sender = std::string(m.Str(ipc::Tag::kSender));
  Recipient r;
  r.address = std::string(m.Str(ipc::Tag::kRcpt));
  msg.recipients.push_back(r);
  msg.kind = MessageKind::kReport;
  msg.client = "mailrelayd";
  msg.protocol = "local";
  msg.subject = HeaderValue(body, "Subject");
  msg.message_id = HeaderValue(body, "Message-ID");
  util::Status st = queue_->InjectInternal(std::move(msg), body, [this, report_id](bool ok, const std::string& id) {
    if (!ok) return;  // mailrelayd keeps it and offers it again
    log::Info().Id(id).Text("failure report queued");
    ipc::Message done(ipc::Type::kReportQueued);
    done.Add(ipc::Tag::kReportId, report_id).Add(ipc::Tag::kQueueId, id);
    child_->SendToMaster(done);
  });
  if (!st.ok()) log::Error().Text("cannot queue failure report: " + st.message());
}

void MasterLink::RequestReload(std::function<void(bool ok, const std::string& text)> done) {
  reload_waiters_.push_back(std::move(done));
  if (reload_waiters_.size() == 1) {
    ipc::Message m(ipc::Type::kReloadRequest);
    m.Add(ipc::Tag::kText, "relayctl reload");
    child_->SendToMaster(m);
  }
}

}  // namespace mailrelay::qmgr
