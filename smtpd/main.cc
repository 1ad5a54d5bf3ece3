// smtpd: the SMTP front end. One libevent loop serving every session; it reads no spool and
// no backend secret. Listening sockets come from mailrelayd; messages go to qmgr, and are
// acknowledged with 250 only after qmgr has committed them. See session.h.
#include <unistd.h>

#include <algorithm>

#include "common/log/log.h"
#include "common/proc/child.h"
#include "common/tls/tls.h"
#include "smtpd/authenticator.h"
#include "smtpd/graph_auth_client.h"
#include "smtpd/queue_client.h"
#include "smtpd/server.h"

using namespace mailrelay;

namespace {
int Fatal(const std::string& msg, int code = 1) {
  log::Fatal().Text(msg);
  sleep(1);
  return code;
}
}  // namespace

int main() {
  auto started = proc::Child::Start("smtpd");
  if (!started.ok()) return Fatal(started.status().message());
  std::unique_ptr<proc::Child> child = std::move(started).value();
  const config::Config& cfg = child->config();

  // Everything that may need root happens before the drop: the TLS key, the users file.
  tls::Context tls_ctx;
  if (cfg.smtpd.tls_enabled()) {
    tls::ServerOptions o;
    o.cert_file = cfg.smtpd.tls_cert_file;
    o.key_file = cfg.smtpd.tls_key_file;
    o.passphrase_file = cfg.smtpd.tls_key_passphrase_file;
    o.min_version = cfg.smtpd.tls_min_version;
    o.ciphers = cfg.smtpd.tls_ciphers;
    auto ctx = tls::MakeServerContext(o);
    if (!ctx.ok()) return Fatal(ctx.status().message(), proc::kExitDoNotRestart);
    tls_ctx = std::move(ctx).value();
  }
  smtpd::Authenticator auth(child->base(), cfg);
  util::Status st = auth.LoadUsers();
  if (!st.ok()) return Fatal(st.message(), proc::kExitDoNotRestart);
  st = child->DropPrivileges();
  if (!st.ok()) return Fatal(st.message(), proc::kExitDoNotRestart);

  smtpd::QueueClient queue(child->base(), cfg.server.run_dir + "/qmgr.sock");
  queue.Connect();
  // Passthrough AUTH asks deliver-graph, which answers after Entra does (within [graph]
  // timeout); a little longer than that and the client hears 454 instead. Declared before
  // the server: sessions cancel their checks when the server destroys them.
  std::unique_ptr<smtpd::GraphAuthClient> graph_auth;
  if (cfg.graph.passthrough_auth) {
    auto used = cfg.UsedBackends();
    if (std::find(used.begin(), used.end(), config::Backend::kGraph) == used.end()) {
      log::Warning().Text("[graph] passthrough_auth = yes but [route] sends nothing to graph, so deliver-graph "
                          "does not run: every passthrough AUTH will get 454");
    }
    graph_auth = std::make_unique<smtpd::GraphAuthClient>(
        child->base(), cfg.server.run_dir + "/graph-auth.sock", std::chrono::seconds(cfg.graph.timeout + 5));
  }
  smtpd::Server server(child->base(), cfg, &queue, &auth, tls_ctx.get());
  server.set_graph_auth(graph_auth.get());
  auto fds = proc::InheritedFds();
  if (fds.empty()) return Fatal("mailrelayd passed no listening sockets", proc::kExitDoNotRestart);
  for (const auto& f : fds) {
    st = server.Listen(f.fd, f.kind == "tls", f.address);
    if (!st.ok()) return Fatal(st.message(), proc::kExitDoNotRestart);
  }
  child->OnShutdown([&](const std::string&) {
    server.Drain([&] { child->Stop(0); });
    // Sessions that keep talking past the deadline are cut off.
    static event* deadline = nullptr;
    deadline = evtimer_new(child->base(), [](evutil_socket_t, short, void* arg) {
      log::Warning().Text("sessions still open at the shutdown deadline; closing them");
      static_cast<proc::Child*>(arg)->Stop(0);
    }, child.get());
    timeval tv{static_cast<time_t>(cfg.server.shutdown_timeout), 0};
    evtimer_add(deadline, &tv);
  });
  child->NotifyReady();
  log::Info().Text("smtpd ready");
  return child->Run();
}
