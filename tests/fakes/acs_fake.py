#!/usr/bin/python3
"""Fake Azure Communication Services Email (data plane), checking what ACS checks.

    /usr/bin/python3 tests/fakes/acs_fake.py --cert-dir DIR \\
        [--access-key B64 | --connection-string 'endpoint=...;accesskey=...'] \\
        [--token-key KEY] [--tenant TENANT] [--sender ADDR ...] [--window 300] \\
        [--clock-skew 900] [--process-delay S] [--operation-delay S] [--max-request-size N] \\
        [--port-file FILE] [--record FILE] [--fault JSON] [--exit-on-stdin-eof]

Serves, like ACS (api-versions 2023-03-31, 2025-09-01 and the previews; reference:
shared/reference/cloud-apis.md section 1):

  POST /emails:send?api-version=V       202 {"id", "status": "Running"} + Operation-Location
  GET  /emails/operations/{id}?api-version=V   200 {"id", "status"[, "error"]}

Authentication, checked on every request:
  * access key: recomputes base64(SHA-256(body)) and compares it with x-ms-content-sha256,
    checks x-ms-date (RFC 1123, within --clock-skew of now) and recomputes
    HMAC-SHA256(base64decode(key), METHOD\\npath?query\\ndate;host;content-hash) exactly as the
    Azure SDKs' HMACCredentialsPolicy and ACS do (SignedHeaders=x-ms-date;host;
    x-ms-content-sha256, or the older date;host;x-ms-content-sha256);
  * Entra ID: "Bearer JWT" issued by entra_fake.py (checked with fakebase.verify_jwt and
    --token-key; audience https://communication.azure.com, tenant --tenant if given; tokens
    issued before a POST /_config {"revoke_tokens": true} are refused).
  Failures: 401 {"error": {"code": "Denied", ...}}.

Repeatable requests (learn.microsoft.com/rest/api/communication/repeatable-requests):
Repeatability-Request-Id (a GUID) and Repeatability-First-Sent (IMF-fixdate) go together;
malformed -> 400; first-sent older than --window seconds -> 412; a repeat of a tracked id
with a different body -> 400; while the original is still being processed -> 409; else the
original 2xx/4xx answer is replayed (nothing is sent again; recorded as a duplicate), a 5xx
original is executed again. Operation-Id, when given, must be a GUID.

The body is checked against the EmailMessage schema: required senderAddress, content.subject,
recipients.to (an array, may be empty), at least one of plainText/html, 1..50 recipients in
to+cc+bcc, addresses that look like addresses, attachments with name, contentType and valid
contentInBase64, contentId only in api-versions that have it (2025-09-01, 2024-07-01-preview,
2025-01-15-preview) and unique unless headers has x-ms-acsemail-ignore-duplicate-content-id,
string-valued headers, no unknown properties; a request over --max-request-size (10 MiB)
-> 413. With --sender, senderAddress must be one of them.

Operations are Running for --operation-delay seconds, then Succeeded, or Failed (EmailDropped)
when a recipient's local part starts with "dropped".

Control endpoints (besides fakebase's /_requests, /_faults, /_health):
  GET  /_emails[?since=N]   accepted sends (the parsed JSON body, ids, auth), from index N
  GET  /_summary            counts: accepted, duplicates, in_progress, window_passed, ...
  POST /_config             {"process_delay": S, "process_delay_count": N, "operation_delay": S,
                             "window": S, "revoke_tokens": true, "access_key": B64}
process_delay holds the next N accepted sends "in progress" for S seconds before they count
as sent, so a client that times out and retries sees 409.
"""

import base64
import binascii
import datetime
import email.utils
import hashlib
import hmac
import os
import re
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402

SEND_PATH = "/emails:send"
OPERATION_PATH = re.compile(r"^/+emails/operations/([^/]+)$")
API_VERSIONS = {"2021-10-01-preview", "2023-01-15-preview", "2023-03-31", "2024-07-01-preview",
                "2025-01-01-preview", "2025-01-15-preview", "2025-09-01"}
CONTENT_ID_VERSIONS = {"2024-07-01-preview", "2025-01-15-preview", "2025-09-01"}
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d{2}:\d{2}:\d{2} GMT$")
ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
ACS_AUDIENCES = {"https://communication.azure.com/", "https://communication.azure.com"}
MAX_RECIPIENTS = 50


def error(status, code, message, headers=None, repeatability=None):
    h = {"x-ms-error-code": code}
    if repeatability:
        h["Repeatability-Result"] = repeatability
    h.update(headers or {})
    return Reply.json({"error": {"code": code, "message": message}}, status, h)


def parse_imf(value):
    if not value or not IMF_FIXDATE.match(value):
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def hmac_problem(method, path_query, header, body, access_key, authorization, now, skew):
    """None if the request carries a valid ACS access-key signature, else what is wrong.

    As ACS and the Azure SDKs' HMACCredentialsPolicy compute it: x-ms-content-sha256 =
    base64(SHA-256(body)); string to sign = METHOD "\n" path?query "\n" date ";" host ";" hash;
    signature = base64(HMAC-SHA256(base64decode(access key), string to sign)). `header(name)`
    returns a request header (Host included) or None; `now` is unix time.
    """
    scheme, _, params_text = authorization.partition(" ")
    if scheme != "HMAC-SHA256":
        return "not an HMAC-SHA256 authorization"
    params = {}
    for part in params_text.split("&"):
        k, _, v = part.partition("=")
        params[k.strip()] = v.strip()
    signed = params.get("SignedHeaders", "")
    if signed not in ("x-ms-date;host;x-ms-content-sha256", "date;host;x-ms-content-sha256"):
        return "SignedHeaders %r" % signed
    content_hash = header("x-ms-content-sha256")
    if content_hash != base64.b64encode(hashlib.sha256(body).digest()).decode():
        return "x-ms-content-sha256 does not match the body"
    date_name = signed.split(";")[0]
    date = header(date_name)
    when = parse_imf(date)
    if when is None:
        return "%s is not an RFC 1123 date" % date_name
    if abs(now - when) > skew:
        return "%s is too far from the current time" % date_name
    host = header("host")
    if not host:
        return "no Host header"
    string_to_sign = "%s\n%s\n%s;%s;%s" % (method.upper(), path_query, date, host, content_hash)
    try:
        key = base64.b64decode(access_key, validate=True)
    except (binascii.Error, ValueError):
        return "access key is not base64"
    want = base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(want, params.get("Signature", "")):
        return "signature mismatch"
    return None


class SchemaError(Exception):
    pass


def _check_keys(obj, where, required, optional):
    if not isinstance(obj, dict):
        raise SchemaError("%s must be an object" % where)
    for k in required:
        if k not in obj:
            raise SchemaError("%s.%s is required" % (where, k))
    unknown = set(obj) - set(required) - set(optional)
    if unknown:
        raise SchemaError("%s has unknown properties: %s" % (where, ", ".join(sorted(unknown))))


def _check_string(value, where, allow_empty=True):
    if not isinstance(value, str):
        raise SchemaError("%s must be a string" % where)
    if not allow_empty and not value:
        raise SchemaError("%s must not be empty" % where)


def _check_address(obj, where):
    _check_keys(obj, where, ["address"], ["displayName"])
    _check_string(obj["address"], where + ".address")
    if not ADDRESS.match(obj["address"]):
        raise SchemaError("Invalid email address '%s' in %s" % (obj["address"], where))
    if "displayName" in obj:
        _check_string(obj["displayName"], where + ".displayName")


def validate_message(msg, api_version):
    """Raises SchemaError for what the EmailMessage schema (and ACS) refuses."""
    _check_keys(msg, "request", ["senderAddress", "content", "recipients"],
                ["replyTo", "attachments", "headers", "userEngagementTrackingDisabled"])
    _check_string(msg["senderAddress"], "senderAddress", False)
    if not ADDRESS.match(msg["senderAddress"]):
        raise SchemaError("Invalid email address '%s' in senderAddress" % msg["senderAddress"])
    content = msg["content"]
    _check_keys(content, "content", ["subject"], ["plainText", "html"])
    _check_string(content["subject"], "content.subject")
    for k in ("plainText", "html"):
        if k in content:
            _check_string(content[k], "content." + k)
    if "plainText" not in content and "html" not in content:
        raise SchemaError("content needs plainText or html")
    recipients = msg["recipients"]
    _check_keys(recipients, "recipients", ["to"], ["cc", "bcc"])
    total = 0
    for field in ("to", "cc", "bcc"):
        if field not in recipients:
            continue
        if not isinstance(recipients[field], list):
            raise SchemaError("recipients.%s must be an array" % field)
        for i, r in enumerate(recipients[field]):
            _check_address(r, "recipients.%s[%d]" % (field, i))
        total += len(recipients[field])
    if total == 0:
        raise SchemaError("recipients: at least one recipient is required")
    if total > MAX_RECIPIENTS:
        raise SchemaError("recipients: %d recipients, more than the limit of %d per email" %
                          (total, MAX_RECIPIENTS))
    if "replyTo" in msg:
        if not isinstance(msg["replyTo"], list):
            raise SchemaError("replyTo must be an array")
        for i, r in enumerate(msg["replyTo"]):
            _check_address(r, "replyTo[%d]" % i)
    headers = msg.get("headers", {})
    if not isinstance(headers, dict):
        raise SchemaError("headers must be an object")
    for k, v in headers.items():
        if not isinstance(v, str):
            raise SchemaError("headers.%s must be a string" % k)
        if not k or any(ord(c) <= 32 or ord(c) > 126 or c == ":" for c in k):
            raise SchemaError("headers: invalid header name %r" % k)
    ignore_dup = str(headers.get("x-ms-acsemail-ignore-duplicate-content-id", "")).lower() == "true"
    if "userEngagementTrackingDisabled" in msg and \
            not isinstance(msg["userEngagementTrackingDisabled"], bool):
        raise SchemaError("userEngagementTrackingDisabled must be a boolean")
    if "attachments" in msg:
        if not isinstance(msg["attachments"], list):
            raise SchemaError("attachments must be an array")
        ids = set()
        optional = ["contentId"] if api_version in CONTENT_ID_VERSIONS else []
        for i, a in enumerate(msg["attachments"]):
            where = "attachments[%d]" % i
            _check_keys(a, where, ["name", "contentType", "contentInBase64"], optional)
            _check_string(a["name"], where + ".name", False)
            _check_string(a["contentType"], where + ".contentType", False)
            _check_string(a["contentInBase64"], where + ".contentInBase64")
            try:
                base64.b64decode(a["contentInBase64"], validate=True)
            except (binascii.Error, ValueError):
                raise SchemaError("%s.contentInBase64 is not valid base64" % where)
            if "contentId" in a:
                _check_string(a["contentId"], where + ".contentId", False)
                if a["contentId"].lower() in ids and not ignore_dup:
                    raise SchemaError("Duplicate content id '%s' in attachments" % a["contentId"])
                ids.add(a["contentId"].lower())


class AcsFake(fakebase.Fake):
    """Fake Azure Communication Services Email endpoint."""

    name = "acs_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--access-key", help="base64 access key accepted for HMAC auth")
        parser.add_argument("--connection-string", help="endpoint=...;accesskey=... (its key)")
        parser.add_argument("--token-key", default="mailrelay-fake-entra",
                            help="HMAC key of entra_fake.py's JWTs")
        parser.add_argument("--tenant", help="accept bearer tokens of this tenant only")
        parser.add_argument("--sender", action="append", default=[],
                            help="allowed senderAddress (repeatable; default: any)")
        parser.add_argument("--window", type=float, default=300.0,
                            help="repeatability tracking window in seconds (ACS: 5 minutes)")
        parser.add_argument("--clock-skew", type=float, default=900.0)
        parser.add_argument("--process-delay", type=float, default=0.0)
        parser.add_argument("--operation-delay", type=float, default=0.5)
        parser.add_argument("--max-request-size", type=int, default=10 * 1024 * 1024)

    def __init__(self, args):
        super().__init__(args)
        key = args.access_key
        if args.connection_string:
            parts = dict(p.split("=", 1) for p in args.connection_string.split(";") if "=" in p)
            parts = {k.strip().lower(): v.strip() for k, v in parts.items()}
            key = parts.get("accesskey")
        self.access_key = key
        self.window = args.window
        self.process_delay = args.process_delay
        self.process_delay_count = None  # None: every send
        self.operation_delay = args.operation_delay
        self.revoked_before = 0
        self.emails = []      # accepted sends
        self.tracked = {}     # repeatability id -> entry
        self.operations = {}  # operation id -> operation
        self.summary = {}

    # --- control -------------------------------------------------------------------------

    def control(self, req):
        if req.path == "/_config" and req.method == "POST":
            body = req.json()
            with self.lock:
                if "process_delay" in body:
                    self.process_delay = float(body["process_delay"])
                    self.process_delay_count = body.get("process_delay_count")
                if "operation_delay" in body:
                    self.operation_delay = float(body["operation_delay"])
                if "window" in body:
                    self.window = float(body["window"])
                if body.get("revoke_tokens"):
                    # iat has whole seconds: every token issued before the next second is refused.
                    self.revoked_before = int(time.time()) + 1
                if "access_key" in body:
                    self.access_key = body["access_key"]
            return Reply.json({"ok": True})
        if req.path == "/_emails" and req.method == "GET":
            since = int(req.arg("since", "0"))
            with self.lock:
                return Reply.json({"emails": self.emails[since:], "count": len(self.emails)})
        if req.path == "/_summary" and req.method == "GET":
            with self.lock:
                out = dict(self.summary)
                out["accepted"] = len(self.emails)
                out["requests"] = len(self.requests)
                out["statuses"] = [r["status"] for r in self.requests]
            return Reply.json(out)
        return None

    def state(self):
        return {"accepted": len(self.emails)}

    def reset(self):
        self.emails = []
        self.tracked = {}
        self.operations = {}
        self.summary = {}

    # --- authentication ------------------------------------------------------------------

    def _authenticate(self, req):
        """None if the request is authenticated, else the 401 Reply."""
        auth = req.header("authorization")
        if not auth:
            req.note["auth"] = "none"
            return error(401, "Denied", "Denied by the resource provider. (no Authorization)")
        req.redacted_headers.add("authorization")
        scheme, _, rest = auth.partition(" ")
        if scheme == "HMAC-SHA256":
            req.note["auth"] = "hmac"
            why = self._check_hmac(req, rest)
        elif scheme.lower() == "bearer":
            req.note["auth"] = "bearer"
            why = self._check_bearer(req, rest.strip())
        else:
            req.note["auth"] = scheme
            why = "unsupported authorization scheme"
        if why:
            req.note["auth_error"] = why
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} \
                if req.note["auth"] == "bearer" else {}
            return error(401, "Denied", "Denied by the resource provider. (%s)" % why, headers)
        return None

    def _check_hmac(self, req, params_text):
        if not self.access_key:
            return "access-key authentication is not enabled"
        path_query = req.raw_path + ("?" + req.query_string if req.query_string else "")
        why = hmac_problem(req.method, path_query, req.header, req.body, self.access_key,
                           "HMAC-SHA256 " + params_text, time.time(), self.args.clock_skew)
        req.note["signed_host"] = req.header("host")
        req.note["content_hash_ok"] = why != "x-ms-content-sha256 does not match the body"
        req.note["signature_ok"] = why is None
        return why

    def _check_bearer(self, req, token):
        claims = fakebase.verify_jwt(token, self.args.token_key)
        if claims is None:
            return "token forged or expired"
        req.note["token_id"] = claims.get("jti")
        if claims.get("aud") not in ACS_AUDIENCES:
            return "token audience %r is not ACS" % claims.get("aud")
        if self.args.tenant and claims.get("tid", "").lower() != self.args.tenant.lower():
            return "token of another tenant"
        with self.lock:
            revoked_before = self.revoked_before
        if claims.get("iat", 0) < revoked_before:
            return "token revoked"
        return None

    # --- requests ------------------------------------------------------------------------

    def handle(self, req):
        req.note["peer_port"] = req.client[1]  # which connection: shows keep-alive reuse
        m = OPERATION_PATH.match(req.path)
        if req.path == SEND_PATH:
            if req.method != "POST":
                return error(405, "MethodNotAllowed", "use POST")
            return self._send(req)
        if m and req.method == "GET":
            return self._operation(req, m.group(1))
        return error(404, "NotFound", "no such resource")

    def _api_version(self, req):
        version = req.arg("api-version")
        req.note["api_version"] = version
        if version not in API_VERSIONS:
            return None, error(400, "UnsupportedApiVersion",
                               "The HTTP resource does not support api-version %r" % version)
        return version, None

    def _send(self, req):
        denied = self._authenticate(req)
        if denied:
            return denied
        version, bad = self._api_version(req)
        if bad:
            return bad
        if len(req.body) > self.args.max_request_size:
            req.note["outcome"] = "too_large"
            return error(413, "RequestEntityTooLarge",
                         "The request is %d bytes, over the limit of %d" %
                         (len(req.body), self.args.max_request_size))
        op_id = req.header("operation-id")
        if op_id is not None and not GUID.match(op_id):
            return error(400, "InvalidOperationId", "Operation-Id must be a GUID")
        rid = req.header("repeatability-request-id")
        first = req.header("repeatability-first-sent")
        req.note["repeatability_id"] = rid
        req.note["first_sent"] = first
        req.note["operation_id"] = op_id
        if (rid is None) != (first is None):
            return error(400, "InvalidRepeatabilityHeaders",
                         "Repeatability-Request-Id and Repeatability-First-Sent go together",
                         repeatability="rejected")
        body_sha = hashlib.sha256(req.body).hexdigest()
        entry = None
        if rid is not None:
            first_ts = parse_imf(first)
            if not GUID.match(rid) or first_ts is None:
                return error(400, "InvalidRepeatabilityHeaders",
                             "Repeatability-Request-Id must be a GUID and Repeatability-First-Sent "
                             "an IMF-fixdate", repeatability="rejected")
            now = time.time()
            if first_ts > now + self.args.clock_skew:
                return error(400, "InvalidRepeatabilityHeaders",
                             "Repeatability-First-Sent is in the future", repeatability="rejected")
            with self.lock:
                window = self.window
                for k in [k for k, e in self.tracked.items() if now - e["first_sent"] > window]:
                    del self.tracked[k]
                if now - first_ts > window:
                    req.note["outcome"] = "window_passed"
                    self.summary["window_passed"] = self.summary.get("window_passed", 0) + 1
                    return error(412, "PreconditionFailed",
                                 "Repeatability first sent header is not within %d minute window." %
                                 max(1, round(window / 60)), repeatability="rejected")
                old = self.tracked.get(rid)
                if old is not None:
                    if old["body_sha"] != body_sha:
                        req.note["outcome"] = "mismatch"
                        return error(400, "RepeatabilityMismatch",
                                     "A request with this Repeatability-Request-Id was sent with a "
                                     "different body", repeatability="rejected")
                    if old["state"] == "in_progress":
                        req.note["outcome"] = "in_progress"
                        self.summary["in_progress"] = self.summary.get("in_progress", 0) + 1
                        return error(409, "Conflict", "The original request is still in progress.",
                                     {"Retry-After": "1"}, repeatability="accepted")
                    if old["status"] < 500:
                        req.note["outcome"] = "duplicate"
                        req.note["duplicate_of"] = old["operation_id"]
                        self.summary["duplicates"] = self.summary.get("duplicates", 0) + 1
                        return Reply(old["status"], old["body"], list(old["headers"]))
                entry = {"first_sent": first_ts, "body_sha": body_sha, "state": "in_progress",
                         "status": 0, "operation_id": None}
                self.tracked[rid] = entry
        try:
            reply = self._execute(req, version, op_id, rid)
        except Exception:
            if entry is not None:
                with self.lock:
                    self.tracked.pop(rid, None)
            raise
        if entry is not None:
            with self.lock:
                entry.update(state="done", status=reply.status, body=reply.body,
                             headers=list(reply.headers),
                             operation_id=req.note.get("accepted_operation"))
        return reply

    def _execute(self, req, version, op_id, rid):
        try:
            msg = req.json()
        except fakebase.BadRequest as e:
            req.note["outcome"] = "invalid"
            return error(400, "InvalidRequest", str(e), repeatability="accepted" if rid else None)
        try:
            validate_message(msg, version)
            senders = [s.lower() for s in self.args.sender]
            if senders and msg["senderAddress"].lower() not in senders:
                raise SchemaError("senderAddress %s is not a sender of a linked domain" %
                                  msg["senderAddress"])
        except SchemaError as e:
            req.note["outcome"] = "invalid"
            req.note["invalid"] = str(e)
            return error(400, "InvalidRequest", str(e), repeatability="accepted" if rid else None)
        with self.lock:
            delay = self.process_delay
            if delay and self.process_delay_count is not None:
                if self.process_delay_count <= 0:
                    delay = 0
                else:
                    self.process_delay_count -= 1
        if delay:
            req.note["processing_delay"] = delay
            self.stop.wait(delay)
        op_id = op_id or str(uuid.uuid4())
        recipients = [r["address"] for f in ("to", "cc", "bcc")
                      for r in msg["recipients"].get(f, [])]
        with self.lock:
            req.note["operation_id_reused"] = op_id in self.operations
            self.operations[op_id] = {"created": time.time(), "recipients": recipients}
            self.emails.append({"seq": len(self.emails), "operation_id": op_id,
                                "repeatability_id": rid, "api_version": version,
                                "auth": req.note.get("auth"), "message": msg,
                                "recipients": recipients, "size": len(req.body),
                                "time": time.time()})
        req.note["outcome"] = "accepted"
        req.note["accepted_operation"] = op_id
        host = req.header("host")
        scheme = "http" if self.args.plain else "https"
        headers = {"Operation-Location": "%s://%s/emails/operations/%s?api-version=%s" %
                   (scheme, host, op_id, version), "Retry-After": "1"}
        if rid:
            headers["Repeatability-Result"] = "accepted"
        return Reply.json({"id": op_id, "status": "Running"}, 202, headers)

    def _operation(self, req, op_id):
        denied = self._authenticate(req)
        if denied:
            return denied
        version, bad = self._api_version(req)
        if bad:
            return bad
        with self.lock:
            op = self.operations.get(op_id)
            delay = self.operation_delay
        req.note["operation_id"] = op_id
        if op is None:
            return error(404, "NotFound", "Operation %s not found" % op_id)
        if time.time() - op["created"] < delay:
            return Reply.json({"id": op_id, "status": "Running"}, 200, {"Retry-After": "1"})
        dropped = [a for a in op["recipients"] if a.split("@")[0].lower().startswith("dropped")]
        if dropped:
            return Reply.json({"id": op_id, "status": "Failed", "error": {
                "code": "EmailDropped",
                "message": "Email was dropped after several attempts to deliver."}})
        return Reply.json({"id": op_id, "status": "Succeeded"})


if __name__ == "__main__":
    sys.exit(fakebase.main(AcsFake))
