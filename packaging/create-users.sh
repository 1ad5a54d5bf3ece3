#!/bin/sh
# Creates mailrelay's system users and groups if they are missing (idempotent). Used by the
# Debian package's postinst, by `make run`/`make test` when run as root, and by hand.
#   mailrelay          qmgr; owns the spool. Its group `mailrelay` may use relayctl.
#   mailrelay-smtpd    smtpd; no spool, no secrets.
#   mailrelay-deliver  the delivery agents; reads the backend secrets.
set -eu
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
for u in mailrelay mailrelay-smtpd mailrelay-deliver; do
  if ! getent group "$u" >/dev/null; then
    groupadd --system "$u"
  fi
  if ! getent passwd "$u" >/dev/null; then
    useradd --system --gid "$u" --no-create-home --home-dir /nonexistent --shell "$nologin" \
      --comment "mailrelay ($u)" "$u"
  fi
done
