#include "relayctl/format.h"

#include <ctime>

namespace mailrelay::relayctl {

namespace {
std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}
std::string Str(const json::Value& v) {
  if (v.is_string()) return v.as_string();
  if (v.is_number()) return std::to_string(v.as_int());
  if (v.is_bool()) return v.as_bool() ? "yes" : "no";
  return "";
}
}  // namespace

std::string FormatAge(int64_t s) {
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string FormatTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  tm local;
  localtime_r(&tt, &local);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

std::string FormatStatus(const json::Value& v) {
  std::string out = Pad("PROCESS", 18) + Pad("PID", 9) + Pad("STATE", 12) + "RESTARTS/HOUR\n";
  for (const auto& p : v["processes"].as_array()) {
    out += Pad(Str(p["name"]), 18) + Pad(Str(p["pid"]), 9) + Pad(Str(p["state"]), 12) + Str(p["restarts_last_hour"]) + "\n";
  }
  const auto& q = v["queue"];
  out += "\nqueue: " + Str(q["messages"]) + " message(s): " + Str(q["ready"]) + " ready, " + Str(q["delivering"]) +
         " delivering, " + Str(q["deferred"]) + " deferred, " + Str(q["held"]) + " held";
  if (q["messages"].as_int() > 0) out += "; oldest " + FormatAge(q["oldest_age"].as_int());
  out += "\n";
  out += std::string("accepting new mail: ") + (q["accepting"].as_bool() ? "yes" : "NO (queue full or disk nearly full)") +
         " (limit " + Str(q["max_messages"]) + ")\n";
  return out;
}

std::string FormatList(const json::Value& v) {
  const auto& msgs = v["messages"].as_array();
  if (msgs.empty()) return "Mail queue is empty\n";
  std::string out = Pad("QUEUE ID", 14) + Pad("AGE", 6) + Pad("SIZE", 10) + Pad("STATE", 12) + "SENDER / RECIPIENTS\n";
  for (const auto& m : msgs) {
    std::string sender = Str(m["sender"]);
    out += Pad(Str(m["id"]), 14) + Pad(FormatAge(m["age"].as_int()), 6) + Pad(Str(m["size"]), 10) +
           Pad(Str(m["state"]), 12) + (sender.empty() ? "<>" : sender) + "\n";
    for (const auto& r : m["recipients"].as_array()) {
      std::string line = std::string(42, ' ') + Str(r["address"]);
      if (Str(r["state"]) != "pending") line += "  [" + Str(r["state"]) + "]";
      out += line + "\n";
      if (!Str(r["last_error"]).empty()) out += std::string(44, ' ') + "(" + Str(r["last_error"]) + ")\n";
    }
  }
  out += "-- " + std::to_string(msgs.size()) + " message(s)\n";
  return out;
}

std::string FormatShow(const json::Value& v) {
  std::string out;
  auto line = [&](const char* k, const std::string& val) { out += Pad(k, 14) + val + "\n"; };
  line("queue id", Str(v["id"]));
  line("state", Str(v["state"]) + (v["held"].as_bool() && !Str(v["hold_reason"]).empty()
                                        ? " (" + Str(v["hold_reason"]) + ")" : ""));
  line("kind", Str(v["kind"]));
  line("arrival", FormatTime(v["arrival"].as_int()) + " (" + FormatAge(v["age"].as_int()) + " ago)");
  line("size", Str(v["size"]));
  line("sender", Str(v["sender"]).empty() ? "<>" : Str(v["sender"]));
  line("client", Str(v["client"]) + (Str(v["helo"]).empty() ? "" : " helo=" + Str(v["helo"])));
  if (!Str(v["auth_user"]).empty()) line("auth user", Str(v["auth_user"]));
  line("protocol", Str(v["protocol"]) + (Str(v["tls"]).empty() ? "" : " (" + Str(v["tls"]) + ")"));
  line("message-id", Str(v["message_id"]));
  line("subject", Str(v["subject"]));
  out += "recipients:\n";
  for (const auto& r : v["recipients"].as_array()) {
    out += "  " + Str(r["address"]) + "\n";
    out += "      state " + Str(r["state"]) + ", backend " + (Str(r["backend"]).empty() ? "-" : Str(r["backend"])) +
           ", attempts " + Str(r["attempts"]);
    if (r["next_attempt"].as_int() > 0 && Str(r["state"]) == "pending") {
      out += ", next attempt " + FormatTime(r["next_attempt"].as_int());
    }
    out += "\n";
    if (!Str(r["last_error"]).empty()) out += "      last reply: " + Str(r["last_error"]) + "\n";
    if (!Str(r["info"]).empty()) out += "      " + Str(r["info"]) + "\n";
  }
  out += "headers:\n";
  std::string h = Str(v["headers"]);
  size_t pos = 0;
  while (pos < h.size()) {
    size_t eol = h.find("\r\n", pos);
    if (eol == std::string::npos) eol = h.size();
    out += "  " + h.substr(pos, eol - pos) + "\n";
    pos = eol + 2;
  }
  return out;
}

std::string FormatLog(const json::Value& v) {
  const auto& entries = v["entries"].as_array();
  if (!v["send_log"].as_bool() && entries.empty()) return "the send log is off ([queue] send_log = no)\n";
  std::string out;
  for (const auto& e : entries) {
    out += FormatTime(e["time"].as_int()) + "  " + Str(e["id"]) + "  from=<" + Str(e["from"]) + "> to=<" + Str(e["to"]) +
           "> backend=" + Str(e["backend"]) + " status=" + Str(e["status"]);
    if (!Str(e["subject"]).empty()) out += " subject=\"" + Str(e["subject"]) + "\"";
    if (!Str(e["reply"]).empty()) out += " (" + Str(e["reply"]) + ")";
    out += "\n";
  }
  if (entries.empty()) out = "no deliveries in that period\n";
  return out;
}

}  // namespace mailrelay::relayctl
