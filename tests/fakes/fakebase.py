#!/usr/bin/python3
"""Shared base for the HTTPS fakes of cloud services (Entra ID, ACS, Graph, SES).

A fake is a subclass of Fake whose handle(req) returns a Reply (or a fault action dict such
as {"hang": True} or {"reset": True}, see below). The base gives it:

  * an HTTPS server (HTTP/1.1, keep-alive, one thread per connection) on an ephemeral
    loopback port, with the certificate made by testca.py (--cert picks a wrong-name,
    expired or untrusted one for TLS failure tests; --plain serves plain HTTP);
  * the port as the first line on stdout, and in --port-file (written atomically);
  * a record of every request (method, path, query, headers, body, reply status, plus what
    the fake adds in req.note), served at GET /_requests and written to --record FILE
    (atomically, before the reply is sent, so a client that has its answer sees it);
  * fault injection: --fault JSON or POST /_faults, e.g.
        {"path": "/t1/", "count": 1, "status": 500, "body": {"error": "x"}}
        {"delay": 2.5}  {"hang": true}  {"reset": true}  {"close": true}  {"garbage": true}
    "path" is a prefix, "method" optional, "count" the number of requests it applies to
    (default: all). "delay" sleeps and then answers normally unless another action is set;
    "headers" adds response headers to a "status" reply.

Control endpoints (never recorded, never faulted):
    GET /_requests     {"requests": [...], "count": N, "connections": N, "tls_failures": N,
                        "max_inflight": N, ...Fake.state()}
    DELETE /_requests  forget requests and counters
    GET|POST|DELETE /_faults
    GET /_health

Running `/usr/bin/python3 fakebase.py` starts an echo server used by the HTTP client tests:
any path answers JSON {"method", "path", "query", "headers", "body", "body_size"}; query
parameters change that: status=N, delay_ms=N, bytes=N (N bytes of "x" instead of JSON),
chunked=1, header=Name:Value (repeatable), hang=1.

Stdlib only; run with /usr/bin/python3. --exit-on-stdin-eof makes the fake exit when its
parent closes (or dies holding) the stdin pipe, so a crashed test leaves no server behind.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import select
import signal
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testca  # noqa: E402

MAX_REQUEST_BODY = 64 << 20
MAX_HANG_SECONDS = 300


def announce_port(port, port_file=None):
    """Tells the test where the fake listens: the port on stdout, and atomically in port_file."""
    if port_file:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(port_file)), prefix=".port-")
        with os.fdopen(fd, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, port_file)
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()


def exit_when_stdin_closes():
    """The fake dies with the test that started it (the test holds its stdin)."""
    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


class BadRequest(Exception):
    """Raised by Request helpers; the base answers 400 with the message."""


class Request:
    """One HTTP request as the fake sees it."""

    def __init__(self, method, target, headers, body, client):
        self.method = method
        parts = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(parts.path)
        self.raw_path = parts.path
        self.query_string = parts.query
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers  # list of (lowercase name, value)
        self.body = body
        self.client = client
        self.note = {}  # extra fields for the record (tenant, outcome, ...)
        self.record_body = None  # set to replace the recorded body (e.g. redact a secret)
        self.redacted_headers = set()

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise BadRequest("body is not valid JSON: %s" % e)

    def form(self):
        """application/x-www-form-urlencoded body as {name: [values]}; strict."""
        try:
            text = self.body.decode("ascii")
            return urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=bool(text),
                                         max_num_fields=100)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadRequest("body is not valid form encoding: %s" % e)


class Reply:
    def __init__(self, status=200, body=b"", headers=None, content_type=None, chunked=False):
        self.status = status
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.headers = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if content_type:
            self.headers.append(("Content-Type", content_type))
        self.chunked = chunked

    @staticmethod
    def json(obj, status=200, headers=None):
        return Reply(status, json.dumps(obj).encode("utf-8"), headers,
                     "application/json; charset=utf-8")


def make_jwt(claims, key):
    """HS256 JWT, so other fakes can check tokens this one issued without talking to it."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
    head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def verify_jwt(token, key, now=None):
    """Claims of a token made by make_jwt with `key`, or None if forged or expired."""
    def unb64(text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    try:
        head, body, sig = token.split(".")
        want = hmac.new(key.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, unb64(sig)):
            return None
        claims = json.loads(unb64(body))
    except (ValueError, TypeError):
        return None
    if claims.get("exp", 0) < (now if now is not None else time.time()):
        return None
    return claims


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mailrelay-fake/1"

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("%s: %s\n" % (self.server.fake.name, fmt % args))

    def _dispatch(self):
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BODY:
                    raise BadRequest("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY:
            raise BadRequest("request body too large")
        return self.rfile.read(length) if length else b""

    def send_reply(self, reply):
        self.send_response(reply.status)
        for k, v in reply.headers:
            self.send_header(k, v)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.chunked:
            for i in range(0, len(reply.body), 4096):
                piece = reply.body[i:i + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(reply.body)

    def abort(self, rst):
        """Closes the connection without an answer; with rst, as a TCP reset."""
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.rfile.close()  # drops the makefile reference so close() really closes
            self.connection.close()
        except OSError:
            pass

    def hang(self, stop):
        """Holds the connection unanswered until the client goes away or the fake stops."""
        self.close_connection = True
        deadline = time.time() + MAX_HANG_SECONDS
        while not stop.is_set() and time.time() < deadline:
            try:
                readable, _, _ = select.select([self.connection], [], [], 0.1)
                if readable and not self.connection.recv(4096):
                    return
            except (OSError, ssl.SSLError, ValueError):
                return


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, family, fake):
        self.address_family = family
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind() would look the address up in DNS (getfqdn): not hermetic.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        fake = self.fake
        fake._count("connections")
        request.settimeout(30)
        conn = request
        if fake.ssl_context is not None:
            try:
                conn = fake.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                fake._count("tls_failures")
                return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if self.fake.verbose:
            super().handle_error(request, client_address)


class Fake:
    """Base class: subclasses set `name`, override handle() and maybe add_arguments()."""

    name = "fake"

    @classmethod
    def add_arguments(cls, parser):
        pass

    def __init__(self, args):
        self.args = args
        self.verbose = args.verbose
        self.lock = threading.Lock()
        self.record_lock = threading.Lock()
        self.stop = threading.Event()
        self.requests = []
        self.counters = {"connections": 0, "tls_failures": 0, "max_inflight": 0}
        self.inflight = 0
        self.faults = [self._check_fault(json.loads(f)) for f in args.fault]
        self.ssl_context = None
        if not args.plain:
            cert_dir = args.cert_dir or tempfile.mkdtemp(prefix="mailrelay-fake-ca-")
            paths = testca.ensure(cert_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.load_cert_chain(paths[args.cert], paths[args.cert + "_key"])
            self.ssl_context = ctx

    # --- for subclasses -------------------------------------------------------------------

    def handle(self, req):
        return Reply.json({"error": "not found"}, 404)

    def control(self, req):
        """Extra control endpoints under /_ for a subclass; None if not one of its own."""
        return None

    def state(self):
        """Extra fields for GET /_requests (called with self.lock held)."""
        return {}

    def reset(self):
        """Called (with self.lock held) on DELETE /_requests."""

    # --- machinery ------------------------------------------------------------------------

    def _count(self, key, delta=1):
        with self.lock:
            self.counters[key] += delta

    @staticmethod
    def _check_fault(fault):
        if not isinstance(fault, dict):
            raise BadRequest("a fault is a JSON object")
        known = {"path", "method", "count", "delay", "status", "body", "headers", "hang", "reset",
                 "close", "garbage"}
        unknown = set(fault) - known
        if unknown:
            raise BadRequest("unknown fault keys: %s" % ", ".join(sorted(unknown)))
        return dict(fault)

    def _take_fault(self, req):
        with self.lock:
            for fault in self.faults:
                if not req.path.startswith(fault.get("path", "/")):
                    continue
                if fault.get("method") and fault["method"].upper() != req.method:
                    continue
                if fault.get("count") is not None:
                    if fault["count"] <= 0:
                        continue
                    fault["count"] -= 1
                return dict(fault)
        return None

    def _snapshot(self):
        with self.lock:
            out = {"requests": list(self.requests), "count": len(self.requests)}
            out.update(self.counters)
            out.update(self.state())
            return out

    def _write_record(self):
        if not self.args.record:
            return
        # One writer at a time: otherwise a thread holding an older snapshot can replace
        # the file after a newer one and a finished request vanishes from the record.
        with self.record_lock:
            data = json.dumps(self._snapshot(), indent=1)
            directory = os.path.dirname(os.path.abspath(self.args.record))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".record-")
            with os.fdopen(fd, "w") as f:
                f.write(data)
            os.replace(tmp, self.args.record)

    def _record(self, req, status, fault):
        headers = {}
        for k, v in req.headers:
            if k in req.redacted_headers:
                v = "<redacted>"
            headers[k] = v if k not in headers else headers[k] + ", " + v
        if req.record_body is not None:
            body = req.record_body
        else:
            body = req.body.decode("utf-8", "replace")
        entry = {"time": time.time(), "method": req.method, "path": req.path,
                 "query": req.query_string, "headers": headers, "body": body,
                 "body_size": len(req.body), "status": status}
        if fault:
            entry["fault"] = fault
        entry.update(req.note)
        with self.lock:
            entry["seq"] = len(self.requests) + 1
            self.requests.append(entry)
        self._write_record()

    def _control(self, req):
        if req.path == "/_health":
            return Reply.json({"ok": True, "name": self.name})
        if req.path == "/_requests":
            if req.method == "GET":
                return Reply.json(self._snapshot())
            if req.method == "DELETE":
                with self.lock:
                    self.requests = []
                    self.counters = {k: 0 for k in self.counters}
                    self.reset()
                self._write_record()
                return Reply.json({"ok": True})
        if req.path == "/_faults":
            if req.method == "GET":
                with self.lock:
                    return Reply.json({"faults": self.faults})
            if req.method == "DELETE":
                with self.lock:
                    self.faults = []
                return Reply.json({"ok": True})
            if req.method == "POST":
                body = req.json()
                new = [self._check_fault(f) for f in (body if isinstance(body, list) else [body])]
                with self.lock:
                    self.faults.extend(new)
                return Reply.json({"ok": True, "added": len(new)})
        reply = self.control(req)
        return reply if reply is not None else Reply.json({"error": "no such control"}, 404)

    def _serve(self, handler):
        try:
            body = handler.read_body()
        except (BadRequest, ValueError) as e:
            handler.close_connection = True
            handler.send_reply(Reply.json({"error": str(e)}, 400))
            return
        headers = [(k.lower(), v) for k, v in handler.headers.items()]
        req = Request(handler.command, handler.path, headers, body, handler.client_address)
        if req.path.startswith("/_"):
            try:
                handler.send_reply(self._control(req))
            except BadRequest as e:
                handler.send_reply(Reply.json({"error": str(e)}, 400))
            return
        with self.lock:
            self.inflight += 1
            self.counters["max_inflight"] = max(self.counters["max_inflight"], self.inflight)
        try:
            self._serve_faulted(handler, req)
        finally:
            with self.lock:
                self.inflight -= 1

    def _serve_faulted(self, handler, req):
        fault = self._take_fault(req)
        if fault and fault.get("delay"):
            self.stop.wait(float(fault["delay"]))
        if fault and not self._is_action(fault):
            fault_for_record, fault = fault, None
        else:
            fault_for_record = fault
        if fault is None:
            try:
                reply = self.handle(req)
            except BadRequest as e:
                reply = Reply.json({"error": str(e)}, 400)
            if isinstance(reply, dict):  # the handler asked for a fault action
                fault = reply
        if fault is not None:
            reply = self._act(handler, req, fault, fault_for_record)
            if reply is None:
                return
        self._record(req, reply.status, fault_for_record)
        handler.send_reply(reply)

    @staticmethod
    def _is_action(fault):
        return any(fault.get(k) for k in ("status", "hang", "reset", "close", "garbage"))

    def _act(self, handler, req, fault, fault_for_record):
        """Carries out a fault action; returns the Reply to send, or None if it was handled."""
        if fault.get("status"):
            body = fault.get("body", "")
            if isinstance(body, (dict, list)):
                return Reply.json(body, int(fault["status"]), fault.get("headers"))
            return Reply(int(fault["status"]), body, fault.get("headers"), "text/plain")
        self._record(req, 0, fault_for_record or fault)
        if fault.get("hang"):
            handler.hang(self.stop)
        elif fault.get("garbage"):
            handler.close_connection = True
            handler.wfile.write(b"\x16\x03garbage, not HTTP\r\n\x00\xff\xfe\r\n\r\n")
            handler.wfile.flush()
            handler.abort(rst=False)
        else:
            handler.abort(rst=bool(fault.get("reset")))
        return None

    def serve(self):
        host = self.args.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = _Server((host, self.args.port), family, self)
        port = server.server_address[1]
        self._write_record()
        announce_port(port, self.args.port_file)
        if self.args.exit_on_stdin_eof:
            exit_when_stdin_closes()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self.stop.set()


def main(fake_class, argv=None):
    parser = argparse.ArgumentParser(description=fake_class.__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="0 (default): ephemeral")
    parser.add_argument("--port-file", help="write the port here too")
    parser.add_argument("--cert-dir", help="test PKI directory (testca.py); default: a new one")
    parser.add_argument("--cert", default="server",
                        choices=["server", "wrongname", "expired", "untrusted"],
                        help="which certificate to present")
    parser.add_argument("--plain", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--record", help="JSON file rewritten after every request")
    parser.add_argument("--fault", action="append", default=[], help="JSON fault (repeatable)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    fake_class.add_arguments(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        fake = fake_class(args)
    except (OSError, RuntimeError, ValueError, BadRequest) as e:
        print("%s: %s" % (fake_class.name, e), file=sys.stderr)
        return 2
    fake.serve()
    return 0


class EchoFake(Fake):
    """Echo server for HTTP client tests (see the module docstring for the query knobs)."""

    name = "echo"

    def handle(self, req):
        delay_ms = int(req.arg("delay_ms", "0"))
        if delay_ms:
            self.stop.wait(delay_ms / 1000.0)
        if req.arg("hang"):
            return {"hang": True}
        headers = []
        for h in req.query.get("header", []):
            name, _, value = h.partition(":")
            headers.append((name.strip(), value.strip()))
        status = int(req.arg("status", "200"))
        chunked = req.arg("chunked") == "1"
        if req.arg("bytes") is not None:
            return Reply(status, b"x" * int(req.arg("bytes")), headers, "application/octet-stream",
                         chunked)
        echo = {"method": req.method, "path": req.path, "query": req.query_string,
                "headers": dict(req.headers), "body": req.body.decode("utf-8", "replace"),
                "body_size": len(req.body)}
        reply = Reply.json(echo, status, headers)
        reply.chunked = chunked
        return reply


if __name__ == "__main__":
    sys.exit(main(EchoFake))
