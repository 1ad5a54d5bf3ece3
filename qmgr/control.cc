#include "qmgr/control.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config/values.h"
#include "common/log/log.h"
#include "common/proc/privileges.h"
#include "common/util/clock.h"
#include "common/util/strings.h"
#include "qmgr/dsn.h"
#include "qmgr/queue_id.h"

namespace mailrelay::qmgr {

namespace {

ControlReply Usage(const std::string& text) {
  ControlReply r;
  r.exit_code = 2;
  r.error = text;
  return r;
}

ControlReply Failed(const std::string& text) {
  ControlReply r;
  r.exit_code = 1;
  r.error = text;
  return r;
}

const char* RcptStateName(RcptState s) {
  switch (s) {
    case RcptState::kPending: return "pending";
    case RcptState::kDelivered: return "delivered";
    case RcptState::kBounced: return "bounced";
  }
  return "?";
}

const char* KindName(MessageKind k) {
  switch (k) {
    case MessageKind::kNormal: return "message";
    case MessageKind::kBounce: return "bounce";
    case MessageKind::kPostmasterNotice: return "postmaster-notice";
    case MessageKind::kReport: return "report";
  }
  return "?";
}

}  // namespace

Control::Control(event_base* base, Queue* queue, Spool* spool, Dispatcher* dispatcher, Injector* injector,
                 MasterLink* master, CommitTracker* commits, const config::Config& cfg)
    : base_(base),
      queue_(queue),
      spool_(spool),
      dispatcher_(dispatcher),
      injector_(injector),
      master_(master),
      commits_(commits),
      cfg_(cfg) {}

Control::~Control() {
  if (listener_) evconnlistener_free(listener_);
}

util::Status Control::Listen(int fd) {
  listener_ = evconnlistener_new(base_, &Control::OnAccept, this, LEV_OPT_CLOSE_ON_FREE, -1, fd);
  if (!listener_) return util::Internal("evconnlistener_new for control.sock failed");
  return util::Status::Ok();
}

bool Control::PeerAllowed(int fd, std::string* who) const {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  *who = "uid " + std::to_string(cred.uid);
  if (cred.uid == 0 || cred.uid == geteuid()) return true;
  auto admin = proc::LookupGroup(proc::kAdminGroup);
  if (!admin.ok()) return false;
  if (cred.gid == *admin) return true;
  passwd pw{};
  passwd* out = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &out) != 0 || !out) return false;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (getgrouplist(out->pw_name, out->pw_gid, groups.data(), &n) < 0) return false;
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<size_t>(i)] == *admin) return true;
  }
  return false;
}

void Control::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto* self = static_cast<Control*>(arg);
  std::string who;
  if (!self->PeerAllowed(fd, &who)) {
    log::Warning().Kv("peer", who).Text("control connection refused: not root and not in group mailrelay");
    close(fd);
    return;
  }
  auto conn = std::make_unique<Conn>();
  conn->id = self->next_++;
  conn->ch = std::make_unique<ipc::Channel>(self->base_, fd, 1 << 20);
  Conn* raw = conn.get();
  uint64_t id = conn->id;
  self->conns_[id] = std::move(conn);
  raw->ch->Start(
      [self, raw, id](ipc::Message& m) {
        if (!raw->hello) {
          if (!ipc::CheckHello(m, "relayctl").ok()) {
            raw->ch->CloseAfterFlush();
            return;
          }
          raw->hello = true;
          return;
        }
        if (m.type() != ipc::Type::kControlRequest || raw->answered) {
          raw->ch->CloseAfterFlush();
          return;
        }
        raw->answered = true;
        std::vector<std::string> args;
        for (auto a : m.All(ipc::Tag::kArg)) args.emplace_back(a);
        self->Handle(std::string(m.Str(ipc::Tag::kVerb)), args, [self, id](ControlReply reply) {
          auto it = self->conns_.find(id);
          if (it == self->conns_.end()) return;
          ipc::Message out(ipc::Type::kControlReply);
          out.Add(ipc::Tag::kExitCode, static_cast<uint64_t>(reply.exit_code));
          out.Add(ipc::Tag::kJson, reply.body.Serialize());
          if (!reply.error.empty()) out.Add(ipc::Tag::kText, reply.error);
          (void)it->second->ch->Send(out);
          it->second->ch->CloseAfterFlush();
        });
      },
      [self, id](const std::string&) { self->conns_.erase(id); });
  (void)raw->ch->Send(ipc::MakeHello("qmgr", "qmgr"));
}

json::Value Control::StatusJson() const {
  json::Value out = json::Value::MakeObject();
  json::Value procs = json::Value::MakeArray();
  for (const auto& p : master_->processes()) {
    json::Value j = json::Value::MakeObject();
    j.Set("name", p.name);
    j.Set("pid", static_cast<int64_t>(p.pid));
    j.Set("state", p.state);
    j.Set("restarts_last_hour", static_cast<int64_t>(p.restarts));
    j.Set("started", static_cast<int64_t>(p.started));
    procs.Append(j);
  }
  out.Set("processes", procs);
  QueueStats s = queue_->Stats();
  json::Value q = json::Value::MakeObject();
  q.Set("messages", static_cast<int64_t>(s.messages));
  q.Set("ready", static_cast<int64_t>(s.ready));
  q.Set("delivering", static_cast<int64_t>(s.delivering));
  q.Set("deferred", static_cast<int64_t>(s.deferred));
  q.Set("held", static_cast<int64_t>(s.held));
  q.Set("max_messages", cfg_.queue.max_messages);
  q.Set("oldest_age", s.oldest_arrival ? util::Clock::System().NowSeconds() - s.oldest_arrival : 0);
  q.Set("accepting", injector_->accepting());
  out.Set("queue", q);
  json::Value agents = json::Value::MakeArray();
  for (const auto& a : dispatcher_->Agents()) {
    json::Value j = json::Value::MakeObject();
    j.Set("backend", a.backend);
    j.Set("pid", static_cast<int64_t>(a.pid));
    j.Set("jobs", static_cast<int64_t>(a.jobs));
    j.Set("draining", a.draining);
    agents.Append(j);
  }
  out.Set("agents", agents);
  json::Value commits = json::Value::MakeObject();
  commits.Set("transactions", static_cast<int64_t>(commits_->commits()));
  commits.Set("fsyncs", static_cast<int64_t>(commits_->syncs()));
  commits.Set("acknowledgements", static_cast<int64_t>(commits_->batched()));
  out.Set("commits", commits);  // acknowledgements per fsync = the group-commit factor
  out.Set("accepted", static_cast<int64_t>(injector_->accepted()));
  out.Set("spool", spool_->path());
  out.Set("schema_version", spool_->schema_version());
  return out;
}

json::Value Control::MessageJson(const Message& m, bool full) const {
  int64_t now = util::Clock::System().NowSeconds();
  json::Value j = json::Value::MakeObject();
  j.Set("id", m.queue_id);
  j.Set("arrival", m.arrival);
  j.Set("age", now - m.arrival);
  j.Set("size", static_cast<int64_t>(m.size));
  j.Set("sender", m.sender);
  j.Set("state", queue_->StateOf(m));
  j.Set("kind", KindName(m.kind));
  std::string last_error;
  json::Value rcpts = json::Value::MakeArray();
  for (const auto& r : m.recipients) {
    json::Value rj = json::Value::MakeObject();
    rj.Set("address", r.address);
    rj.Set("state", queue_->InFlight(m, r.idx) ? "delivering" : RcptStateName(r.state));
    rj.Set("backend", r.backend);
    rj.Set("attempts", r.attempts);
    std::string err = r.last_code ? std::to_string(r.last_code) + (r.last_enhanced.empty() ? "" : " " + r.last_enhanced) +
                                        (r.last_text.empty() ? "" : " " + r.last_text)
                                  : "";
    rj.Set("last_error", r.state == RcptState::kDelivered ? "" : err);
    if (r.state == RcptState::kPending && !err.empty()) last_error = err;
    if (full) {
      rj.Set("next_attempt", r.next_attempt);
      rj.Set("first_attempt", r.first_attempt);
      rj.Set("last_attempt", r.last_attempt);
      rj.Set("on_fallback", r.on_fallback);
      rj.Set("info", r.info);
      rj.Set("delay_warned", r.delay_warned);
    }
    rcpts.Append(rj);
  }
  j.Set("recipients", rcpts);
  j.Set("last_error", last_error);
  if (full) {
    j.Set("client", m.client);
    j.Set("helo", m.helo);
    j.Set("auth_user", m.auth_user);
    j.Set("protocol", m.protocol);
    j.Set("tls", m.tls);
    j.Set("body_type", m.body_type);
    j.Set("smtputf8", m.smtputf8);
    j.Set("message_id", m.message_id);
    j.Set("subject", m.subject);
    j.Set("held", m.held);
    j.Set("hold_reason", m.hold_reason);
    j.Set("agent_crashes", m.agent_crashes);
    auto body = spool_->LoadBody(m.rowid);
    j.Set("headers", body.ok() ? HeaderSection(*body) : std::string());
  }
  return j;
}

void Control::Handle(const std::string& verb, const std::vector<std::string>& args,
                     std::function<void(ControlReply)> done) {
  auto ids_valid = [&](const std::vector<std::string>& ids) -> std::string {
    for (const auto& id : ids) {
      if (!IsValidQueueId(id)) return "'" + util::Printable(id, 40) + "' is not a queue id (see relayctl list)";
    }
    auto unknown = queue_->UnknownIds(ids);
    if (!unknown.empty()) return "no message with queue id " + unknown[0] + " (see relayctl list)";
    return "";
  };
  // Changes answer once they are durable, so "relayctl delete X" means it is gone.
  auto after_commit = [this, done](ControlReply reply) {
    commits_->OnCommitted([done, reply](bool durable) mutable {
      if (!durable) reply = Failed("the spool could not record the change; see the log");
      done(reply);
    });
  };
  ControlReply r;
  if (verb == "status") {
    r.body = StatusJson();
    done(r);
  } else if (verb == "list") {
    json::Value list = json::Value::MakeArray();
    for (const Message* m : queue_->All()) list.Append(MessageJson(*m, false));
    r.body.Set("messages", list);
    done(r);
  } else if (verb == "show") {
    if (args.size() != 1) return done(Usage("usage: relayctl show ID"));
    if (auto e = ids_valid(args); !e.empty()) return done(Failed(e));
    r.body = MessageJson(*queue_->Find(args[0]), true);
    done(r);
  } else if (verb == "flush") {
    if (auto e = ids_valid(args); !e.empty()) return done(Failed(e));
    r.body.Set("flushed", queue_->Flush(args));
    after_commit(r);
  } else if (verb == "requeue") {
    bool all = args.size() == 1 && args[0] == "--all";
    if (args.empty()) return done(Usage("usage: relayctl requeue ID... | --all"));
    if (!all) {
      if (auto e = ids_valid(args); !e.empty()) return done(Failed(e));
    }
    r.body.Set("requeued", queue_->Requeue(all ? std::vector<std::string>{} : args, all));
    after_commit(r);
  } else if (verb == "hold" || verb == "release") {
    if (args.empty()) return done(Usage("usage: relayctl " + verb + " ID..."));
    if (auto e = ids_valid(args); !e.empty()) return done(Failed(e));
    r.body.Set(verb == "hold" ? "held" : "released", queue_->Hold(args, verb == "hold"));
    after_commit(r);
  } else if (verb == "delete") {
    bool all = args.size() == 1 && args[0] == "--all-deferred";
    if (args.empty()) return done(Usage("usage: relayctl delete ID... | --all-deferred"));
    if (!all) {
      if (auto e = ids_valid(args); !e.empty()) return done(Failed(e));
    }
    r.body.Set("deleted", queue_->Delete(all ? std::vector<std::string>{} : args, all));
    after_commit(r);
  } else if (verb == "log") {
    int64_t since = 86400;
    if (args.size() == 2 && args[0] == "--since") {
      auto d = config::ParseDuration(args[1]);
      if (!d.ok()) return done(Usage("relayctl log --since DURATION: " + d.status().message()));
      since = *d;
    } else if (!args.empty()) {
      return done(Usage("usage: relayctl log [--since DURATION]"));
    }
    auto entries = spool_->ReadSendLog(util::Clock::System().NowSeconds() - since, 100000);
    if (!entries.ok()) return done(Failed("cannot read the send log: " + entries.status().message()));
    json::Value list = json::Value::MakeArray();
    for (const auto& e : *entries) {
      json::Value j = json::Value::MakeObject();
      j.Set("time", e.time);
      j.Set("id", e.queue_id);
      j.Set("from", e.sender);
      j.Set("to", e.recipient);
      j.Set("subject", e.subject);
      j.Set("backend", e.backend);
      j.Set("status", e.status);
      j.Set("reply", e.reply);
      list.Append(j);
    }
    r.body.Set("entries", list);
    r.body.Set("send_log", cfg_.queue.send_log);
    done(r);
  } else if (verb == "reload") {
    master_->RequestReload([done](bool ok, const std::string& text) {
      ControlReply reply;
      reply.body.Set("reloaded", ok);
      reply.body.Set("text", text);
      if (!ok) {
        reply.exit_code = 1;
        reply.error = "the new configuration was refused; the old one keeps running: " + text;
      }
      done(reply);
    });
  } else {
    done(Usage("unknown command '" + util::Printable(verb, 40) + "'; see relayctl --help"));
  }
}

}  // namespace mailrelay::qmgr
