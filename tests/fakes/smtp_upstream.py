#!/usr/bin/python3
"""A configurable upstream SMTP server (smarthost) for deliver-smtp tests, on aiosmtpd.

    /usr/bin/python3 tests/fakes/smtp_upstream.py [--port-file F] [--record F] [--state F]
        [--tls none|starttls|implicit] [--cert server|wrongname|expired|untrusted] [--cert-dir D]
        [--auth PLAIN,LOGIN,XOAUTH2] [--user NAME:PASSWORD ...] [--auth-over-plain] [--require-auth]
        [--xoauth2-key KEY] [--xoauth2-audience URL] [--xoauth2-reject-first N]
        [--rcpt-reply 'ADDR=CODE TEXT' ...] [--mail-reply 'CODE TEXT'] [--data-reply 'CODE TEXT']
        [--dot-reply 'CODE TEXT'] [--defer-first N] [--greeting 'CODE TEXT']
        [--delay PHASE=SECONDS ...] [--stall-body SECONDS] [--drop PHASE]
        [--size N | --no-size] [--no-8bitmime] [--smtputf8] [--pipelining]
        [--broken-starttls] [--server-idle-timeout SECONDS] [--exit-on-stdin-eof]

What it does, so tests can check what a real smarthost would see:

- TLS: STARTTLS (--tls starttls) or TLS from the first byte (--tls implicit) with a
  certificate of the test CA (tests/fakes/testca.py: --cert picks a valid, wrong-name,
  expired or untrusted one).
- AUTH: the mechanisms in --auth, checked against --user; offered only over TLS unless
  --auth-over-plain. XOAUTH2 checks the bearer token the way Exchange Online would: an HS256
  JWT issued by tests/fakes/entra_fake.py (--xoauth2-key is its --token-key), not expired, for
  the audience https://outlook.office365.com, for the user named in the SASL message (when
  --user lists users). --xoauth2-reject-first N refuses the first N valid tokens (a revoked
  token), answering "535 5.7.3 Authentication unsuccessful" like Exchange Online.
- --broken-starttls answers STARTTLS with 220 and closes the connection (a handshake that
  fails), for opportunistic TLS.
- Replies: per recipient (--rcpt-reply), to every MAIL, to DATA, to the final dot, or 451 4.3.0
  for the first N messages (--defer-first); a different greeting (--greeting).
- Slowness: --delay greeting|ehlo|starttls|auth|mail|rcpt|rset|data|dot=SECONDS before the
  reply; --stall-body S stops reading for S seconds after 354 (with a tiny receive buffer) to
  stall the client's data blocks; --drop PHASE closes the connection instead of replying.
- Extensions: SIZE (--size N announces and enforces N; --no-size hides it), 8BITMIME
  (--no-8bitmime hides it), SMTPUTF8 (--smtputf8 offers it), PIPELINING (--pipelining
  announces it; commands are handled in order either way).

Records: --record is a JSON-lines file with one object per end of data: session, seq (in
the session), mail_from, mail_options, rcpt_tos, data_b64 (the message after dot-unstuffing),
size, reply, tls, auth_user, pipelined (RCPTs had arrived with MAIL) and the session's
commands so far. --state is a JSON file rewritten on every change: sessions, active,
max_active, messages, accepted, commands (count per verb), auth (one entry per attempt: mechanism,
user, ok). Passwords and tokens are never recorded.

Importable: Upstream(args, directory) runs it as a subprocess for a test (see below).
"""

import argparse
import asyncio
import base64
import collections
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakebase import announce_port, exit_when_stdin_closes  # noqa: E402

PHASES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "rset", "data", "dot")
OUTLOOK_AUDIENCE = "https://outlook.office365.com"


def _parse_reply(text):
    code, _, rest = text.strip().partition(" ")
    if not (len(code) == 3 and code.isdigit()):
        raise ValueError("a reply is 'CODE TEXT', got %r" % text)
    return "%s %s" % (code, rest) if rest else code


class Fake:
    """The state shared by every session: configuration, counters, records."""

    def __init__(self, args):
        self.args = args
        self.delays = {}
        for spec in args.delay:
            phase, _, seconds = spec.partition("=")
            if phase not in PHASES:
                raise ValueError("--delay PHASE=SECONDS with PHASE one of %s" % ", ".join(PHASES))
            self.delays[phase] = float(seconds)
        self.rcpt_replies = {}
        for spec in args.rcpt_reply:
            addr, _, reply = spec.partition("=")
            self.rcpt_replies[addr.strip().lower()] = _parse_reply(reply)
        self.users = {}
        for spec in args.user:
            name, _, password = spec.partition(":")
            self.users[name] = password
        self.mechanisms = [m.strip().upper() for m in (args.auth or "").split(",") if m.strip()]
        self.deferred = 0
        self.xoauth2_rejected = 0
        self.message_ids = 0
        self.state = {"sessions": 0, "active": 0, "max_active": 0, "messages": 0, "accepted": 0,
                      "commands": {}, "auth": []}
        self.write_state()

    def delay(self, phase):
        return self.delays.get(phase, 0)

    def write_state(self):
        if not self.args.state:
            return
        directory = os.path.dirname(os.path.abspath(self.args.state))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.args.state)

    def record(self, entry):
        if self.args.record:
            with open(self.args.record, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def count(self, verb):
        self.state["commands"][verb] = self.state["commands"].get(verb, 0) + 1


def _make_session_class(fake):
    from aiosmtpd.smtp import SMTP, AuthResult, MISSING

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            await asyncio.sleep(fake.delay("ehlo"))
            session.host_name = hostname
            lines = [r[4:] for r in responses]
            out = []
            for line in lines:
                kw = line.split(" ")[0].upper()
                if kw == "SIZE":
                    if fake.args.no_size:
                        continue
                if kw == "8BITMIME" and fake.args.no_8bitmime:
                    continue
                if kw == "AUTH":
                    offered = [m for m in fake.mechanisms]
                    if not offered:
                        continue
                    line = "AUTH " + " ".join(offered)
                if kw == "HELP":
                    continue
                out.append(line)
            if fake.args.pipelining:
                out.append("PIPELINING")
            out.append("ENHANCEDSTATUSCODES")
            return ["250-" + x for x in out[:-1]] + ["250 " + out[-1]]

        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            await asyncio.sleep(fake.delay("mail"))
            if fake.args.drop == "mail":
                return await server.drop()
            # Pipelined RCPTs are already waiting in the reader's buffer when MAIL is handled.
            server.pipelined = len(server._reader._buffer) > 0
            if fake.args.mail_reply:
                return _parse_reply(fake.args.mail_reply)
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 2.1.0 Ok"

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            await asyncio.sleep(fake.delay("rcpt"))
            if fake.args.drop == "rcpt":
                return await server.drop()
            reply = fake.rcpt_replies.get(address.lower())
            if reply:
                return reply
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return "250 2.1.5 Ok"

        async def handle_RSET(self, server, session, envelope):
            await asyncio.sleep(fake.delay("rset"))
            return "250 2.0.0 Ok"

        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(fake.delay("dot"))
            if fake.args.drop == "dot":
                return await server.drop()
            fake.state["messages"] += 1
            if fake.deferred < fake.args.defer_first:
                fake.deferred += 1
                reply = "451 4.3.0 Try again later (deferral %d of %d)" % (fake.deferred, fake.args.defer_first)
            elif fake.args.dot_reply:
                reply = _parse_reply(fake.args.dot_reply)
            else:
                fake.message_ids += 1
                reply = "250 2.0.0 Ok: queued as UP%05d" % fake.message_ids
            if reply.startswith("2"):
                fake.state["accepted"] += 1
            server.seq += 1
            data = envelope.original_content or b""
            fake.record({"session": server.session_no, "seq": server.seq, "mail_from": envelope.mail_from,
                         "mail_options": envelope.mail_options, "rcpt_tos": envelope.rcpt_tos,
                         "data_b64": base64.b64encode(data).decode(), "size": len(data), "reply": reply,
                         "tls": server.tls_on(), "auth_user": server.auth_user,
                         "pipelined": server.pipelined, "commands": list(server.verbs)})
            fake.write_state()
            return reply

        async def handle_QUIT(self, server, session, envelope):
            return "221 2.0.0 Bye"

        async def auth_XOAUTH2(self, server, args):
            if len(args) > 1:
                blob = args[1]
            else:
                answer = await server.challenge_auth("", encode_to_b64=False)
                if answer is MISSING:
                    return AuthResult(success=False, handled=True)
                blob = base64.b64encode(answer).decode()
            return server.check_xoauth2(blob)

    class Session(SMTP):
        def __init__(self, **kw):
            self.greeted = False
            self.session_no = 0
            self.seq = 0
            self.verbs = []
            self.pipelined = False
            self.auth_user = None
            self.implicit_tls = kw.pop("implicit_tls", False)
            super().__init__(Handler(), **kw)
            # AUTH lines may carry a whole bearer token (RFC 4954 4: up to 12288 octets);
            # aiosmtpd caps every command at 512 octets (and every line at 1001, below).
            self.command_size_limits = collections.defaultdict(lambda: 512)
            self.command_size_limits["AUTH"] = 12288
            for name, method in list(self._smtp_methods.items()):
                self._smtp_methods[name] = self._counted(name, method)

        def _counted(self, name, method):
            async def run(arg):
                self.verbs.append(name)
                fake.count(name)
                if name == "STARTTLS":
                    await asyncio.sleep(fake.delay("starttls"))
                    if fake.args.broken_starttls:
                        await self.push("220 2.0.0 Ready to start TLS")
                        await self.drop()
                        return
                elif name == "AUTH":
                    await asyncio.sleep(fake.delay("auth"))
                elif name == "DATA":
                    await asyncio.sleep(fake.delay("data"))
                    if fake.args.drop == "data":
                        await self.drop()
                        return
                    if fake.args.data_reply and self.envelope.rcpt_tos:
                        await self.push(_parse_reply(fake.args.data_reply))
                        return
                    if fake.args.stall_body and self.envelope.rcpt_tos:
                        self.transport.pause_reading()
                        self.loop.call_later(fake.args.stall_body, self._resume)
                await method(arg)
            return run

        def _resume(self):
            try:
                if self.transport is not None:
                    self.transport.resume_reading()
            except (RuntimeError, AttributeError):
                pass

        def tls_on(self):
            return self.implicit_tls or self._tls_protocol is not None

        async def drop(self):
            """Closes the connection without a reply; the coroutine is cancelled with it."""
            self.transport.abort()
            await asyncio.sleep(3600)

        def connection_made(self, transport):
            first = self.transport is None
            super().connection_made(transport)
            if first:
                self._reader._limit = 16384
                fake.state["sessions"] += 1
                fake.state["active"] += 1
                fake.state["max_active"] = max(fake.state["max_active"], fake.state["active"])
                self.session_no = fake.state["sessions"]
                if fake.args.stall_body:
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                fake.write_state()

        def connection_lost(self, error):
            if self.session_no:
                fake.state["active"] -= 1
                fake.write_state()
            super().connection_lost(error)

        async def push(self, status):
            if not self.greeted:
                self.greeted = True
                await asyncio.sleep(fake.delay("greeting"))
                if fake.args.greeting:
                    status = _parse_reply(fake.args.greeting)
            await super().push(status)

        def check_xoauth2(self, blob):
            import fakebase
            try:
                text = base64.b64decode(blob, validate=True).decode()
                fields = dict(p.split("=", 1) for p in text.split("\x01") if p)
                user = fields.get("user", "")
                scheme, _, token = fields.get("auth", "").partition(" ")
            except (ValueError, UnicodeDecodeError):
                return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode XOAUTH2")
            claims = fakebase.verify_jwt(token, fake.args.xoauth2_key) if scheme == "Bearer" else None
            ok = (claims is not None and claims.get("aud") == fake.args.xoauth2_audience and
                  (not fake.users or user in fake.users))
            if ok and fake.xoauth2_rejected < fake.args.xoauth2_reject_first:
                fake.xoauth2_rejected += 1
                ok = False
            fake.state["auth"].append({"mechanism": "XOAUTH2", "user": user, "ok": ok,
                                       "token_id": claims.get("jti") if claims else None})
            fake.write_state()
            if not ok:
                return AuthResult(success=False, handled=False,
                                  message="535 5.7.3 Authentication unsuccessful")
            self.auth_user = user
            return AuthResult(success=True, auth_data=user)

    def authenticator(server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = user in fake.users and fake.users[user] == password
        fake.state["auth"].append({"mechanism": mechanism, "user": user, "ok": ok})
        fake.write_state()
        if ok:
            server.auth_user = user
        return AuthResult(success=ok, handled=False,
                          message=None if ok else "535 5.7.8 Error: authentication failed")

    return Session, authenticator


def _tls_context(args):
    import testca
    cert_dir = args.cert_dir or tempfile.mkdtemp(prefix="mailrelay-upstream-ca-")
    paths = testca.ensure(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(paths[args.cert], paths[args.cert + "_key"])
    return ctx


def main(argv=None):
    p = argparse.ArgumentParser(description="Configurable upstream SMTP server for deliver-smtp tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--record")
    p.add_argument("--state")
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    p.add_argument("--cert", choices=["server", "wrongname", "expired", "untrusted"], default="server")
    p.add_argument("--cert-dir")
    p.add_argument("--auth", default="")
    p.add_argument("--user", action="append", default=[])
    p.add_argument("--auth-over-plain", action="store_true")
    p.add_argument("--require-auth", action="store_true")
    p.add_argument("--xoauth2-key", default="mailrelay-fake-entra")
    p.add_argument("--xoauth2-audience", default=OUTLOOK_AUDIENCE)
    p.add_argument("--xoauth2-reject-first", type=int, default=0)
    p.add_argument("--rcpt-reply", action="append", default=[])
    p.add_argument("--mail-reply")
    p.add_argument("--data-reply")
    p.add_argument("--dot-reply")
    p.add_argument("--defer-first", type=int, default=0)
    p.add_argument("--greeting")
    p.add_argument("--delay", action="append", default=[])
    p.add_argument("--stall-body", type=float, default=0)
    p.add_argument("--drop", choices=["mail", "rcpt", "data", "dot"])
    p.add_argument("--size", type=int)
    p.add_argument("--no-size", action="store_true")
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--smtputf8", action="store_true")
    p.add_argument("--pipelining", action="store_true")
    p.add_argument("--broken-starttls", action="store_true",
                   help="answer STARTTLS with 220, then close instead of a handshake")
    p.add_argument("--server-idle-timeout", type=float, default=600,
                   help="close a session idle this long (seconds), without a reply, as aiosmtpd does")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    try:
        fake = Fake(args)
    except ValueError as e:
        print("smtp_upstream: %s" % e, file=sys.stderr)
        return 2
    Session, authenticator = _make_session_class(fake)
    ctx = _tls_context(args) if args.tls != "none" else None
    all_mechs = {"PLAIN", "LOGIN", "XOAUTH2"}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        kw = dict(hostname="upstream.test", ident="ESMTP fake upstream", loop=loop,
                  data_size_limit=(args.size if args.size else (None if args.no_size else 33554432)),
                  enable_SMTPUTF8=args.smtputf8, authenticator=authenticator,
                  auth_required=args.require_auth,
                  auth_require_tls=not args.auth_over_plain and args.tls != "implicit",
                  auth_exclude_mechanism=sorted(all_mechs - set(fake.mechanisms)),
                  timeout=args.server_idle_timeout,
                  implicit_tls=args.tls == "implicit")
        if args.tls == "starttls":
            kw["tls_context"] = ctx
        return Session(**kw)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    server = loop.run_until_complete(
        loop.create_server(factory, host=args.host, port=args.port, family=family,
                           ssl=ctx if args.tls == "implicit" else None, reuse_address=True))
    port = server.sockets[0].getsockname()[1]
    announce_port(port, args.port_file)
    if args.exit_on_stdin_eof:
        exit_when_stdin_closes()
    try:
        loop.run_forever()
    finally:
        server.close()
    return 0


class Upstream:
    """Runs this fake as a subprocess for a test: Upstream(["--tls", "starttls"], dir)."""

    def __init__(self, args=(), directory=None, name="upstream"):
        self.dir = directory or tempfile.mkdtemp(prefix="mailrelay-%s-" % name)
        self.record_path = os.path.join(self.dir, name + ".jsonl")
        self.state_path = os.path.join(self.dir, name + ".state.json")
        port_file = os.path.join(self.dir, name + ".port")
        self.log_path = os.path.join(self.dir, name + ".log")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.abspath(__file__), "--port-file", port_file, "--record", self.record_path,
             "--state", self.state_path, "--exit-on-stdin-eof", *args],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.logf)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("smtp_upstream did not start: %s" % open(self.log_path).read())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    def messages(self):
        """Every end of data so far: dicts as recorded, plus "data" (bytes)."""
        out = []
        try:
            with open(self.record_path) as f:
                for line in f:
                    if line.strip():
                        m = json.loads(line)
                        m["data"] = base64.b64decode(m["data_b64"])
                        out.append(m)
        except FileNotFoundError:
            pass
        return out

    def accepted(self):
        return [m for m in self.messages() if m["reply"].startswith("2")]

    def state(self):
        with open(self.state_path) as f:
            return json.load(f)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
