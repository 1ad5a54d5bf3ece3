// deliver-smtp: the [smtp] delivery agent, Postfix's relayhost (see smtp_backend.h).
#include "common/agent/agent.h"
#include "deliver-smtp/smtp_backend.h"

using namespace mailrelay;

int main() { return agent::Main(config::Backend::kSmtp, deliver_smtp::MakeBackend); }
