#!/usr/bin/python3
"""Fake Microsoft Entra ID token endpoint (OAuth 2.0 client credentials, v2.0).

    /usr/bin/python3 tests/fakes/entra_fake.py --cert-dir DIR \\
        --client TENANT:CLIENT_ID:SECRET [--client ...] [--scope SCOPE ...] \\
        [--expires-in 3599] [--invalid-client-status 401] [--token-key KEY] \\
        [--port-file FILE] [--record FILE] [--fault JSON] [--exit-on-stdin-eof]

Serves POST /{tenant}/oauth2/v2.0/token and checks what Entra checks: POST only, a
form-encoded body, grant_type=client_credentials, a known tenant, a client_id registered
in that tenant, its secret (in the body, or as HTTP Basic auth per RFC 6749 2.3.1), and a
scope of the form RESOURCE/.default (with --scope, only those). Answers:

    200 {"token_type":"Bearer","expires_in":N,"ext_expires_in":N,"access_token":JWT}
    400 invalid_request AADSTS900144 (missing parameter) / AADSTS90002 (unknown tenant)
    400 unsupported_grant_type AADSTS70003
    400 unauthorized_client AADSTS700016 (client_id not in the tenant)
    400 invalid_scope AADSTS1002012 / AADSTS500011
    401 invalid_client AADSTS7000215 (wrong secret; the status is --invalid-client-status:
        field reports show 401, the reference notes say 400; clients must accept both)
    401 invalid_client AADSTS7000218 (no secret)

The access token is an HS256 JWT (fakebase.make_jwt, key --token-key) with tid, appid, aud
(the scope without /.default), roles, iat, nbf, exp and jti claims, so the ACS and Graph
fakes can check it with fakebase.verify_jwt without talking to this fake. Secrets are never
recorded (the body is recorded with client_secret=<redacted>). Each record carries tenant,
client_id, scope, grant_type and outcome ("issued" or the error code); GET /_requests adds
count_by_tenant and issued_by_tenant. POST /_config {"expires_in": N} changes the lifetime
of tokens issued from then on; POST /_config {"client": "TENANT:CLIENT:SECRET"} adds one.
Faults (hang, status 500, reset, ...) come from fakebase: see its docstring.
"""

import base64
import datetime
import hmac
import os
import re
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402

TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")


class EntraFake(fakebase.Fake):
    """Fake Entra ID client-credentials token endpoint."""

    name = "entra_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--client", action="append", default=[],
                            help="TENANT:CLIENT_ID:SECRET (repeatable; the secret may hold ':')")
        parser.add_argument("--scope", action="append", default=[],
                            help="accepted scope (repeatable); default: any RESOURCE/.default")
        parser.add_argument("--expires-in", type=int, default=3599)
        parser.add_argument("--invalid-client-status", type=int, default=401, choices=[400, 401])
        parser.add_argument("--token-key", default="mailrelay-fake-entra",
                            help="HMAC key of the issued JWTs")

    def __init__(self, args):
        super().__init__(args)
        self.clients = {}  # (tenant lowercase, client_id lowercase) -> secret
        for spec in args.client:
            self._add_client(spec)
        self.expires_in = args.expires_in

    def _add_client(self, spec):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise fakebase.BadRequest("--client wants TENANT:CLIENT_ID:SECRET, got %r" % spec)
        tenant, client_id, secret = parts
        self.clients[(tenant.lower(), client_id.lower())] = secret

    def control(self, req):
        if req.path == "/_config" and req.method == "POST":
            body = req.json()
            with self.lock:
                if "expires_in" in body:
                    self.expires_in = int(body["expires_in"])
                if "client" in body:
                    self._add_client(body["client"])
            return Reply.json({"ok": True})
        return None

    def state(self):
        counts, issued = {}, {}
        for r in self.requests:
            tenant = r.get("tenant")
            if tenant is None:
                continue
            counts[tenant] = counts.get(tenant, 0) + 1
            if r.get("outcome") == "issued":
                issued[tenant] = issued.get(tenant, 0) + 1
        return {"count_by_tenant": counts, "issued_by_tenant": issued}

    @staticmethod
    def _error(status, error, code, description, extra_headers=None):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        text = ("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" %
                (code, description, trace, correlation, now))
        body = {"error": error, "error_description": text, "error_codes": [code],
                "timestamp": now, "trace_id": trace, "correlation_id": correlation,
                "error_uri": "https://login.microsoftonline.com/error?code=%d" % code}
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        headers.update(extra_headers or {})
        return Reply.json(body, status, headers)

    def handle(self, req):
        m = TOKEN_PATH.match(req.path)
        if not m:
            return Reply.json({"error": "not_found"}, 404)
        tenant = m.group(1)
        req.note["tenant"] = tenant
        reply = self._token(req, tenant)
        if reply.status != 200:
            req.note["outcome"] = fakebase.json.loads(reply.body)["error"]
        else:
            req.note["outcome"] = "issued"
        return reply

    def _token(self, req, tenant):
        if req.method != "POST":
            return self._error(400, "invalid_request", 900561,
                               "The endpoint only accepts POST, OPTIONS requests. Received a "
                               "%s request." % req.method)
        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        form = req.form() if content_type == "application/x-www-form-urlencoded" else {}
        redacted = {k: (["<redacted>"] if k == "client_secret" else v) for k, v in form.items()}
        req.record_body = urllib.parse.urlencode(redacted, doseq=True)
        for name, values in form.items():
            if len(values) > 1:
                return self._error(400, "invalid_request", 90015,
                                   "Parameter '%s' is duplicated." % name)
        field = {k: v[0] for k, v in form.items()}
        for k in ("grant_type", "client_id", "scope"):
            if k in field:
                req.note[k] = field[k]

        basic_id, basic_secret = None, None
        auth = req.header("authorization")
        if auth:
            req.redacted_headers.add("authorization")
            scheme, _, creds = auth.partition(" ")
            if scheme.lower() != "basic":
                return self._error(401, "invalid_client", 7000218,
                                   "Unsupported client authentication scheme.")
            try:
                user, _, pw = base64.b64decode(creds, validate=True).decode().partition(":")
                basic_id, basic_secret = urllib.parse.unquote_plus(user), \
                    urllib.parse.unquote_plus(pw)
            except (ValueError, UnicodeDecodeError):
                return self._error(401, "invalid_client", 7000218, "Malformed Basic credentials.")
        if "grant_type" not in field:
            return self._error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: "
                               "'grant_type'.")
        if field["grant_type"] != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003,
                               "The app requested an unsupported grant type '%s'." %
                               field["grant_type"])
        client_id = field.get("client_id") or basic_id
        if not client_id:
            return self._error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: "
                               "'client_id'.")
        req.note["client_id"] = client_id
        with self.lock:
            tenants = {t for t, _ in self.clients}
            secret = self.clients.get((tenant.lower(), client_id.lower()))
            expires_in = self.expires_in
        if tenant.lower() not in tenants:
            return self._error(400, "invalid_request", 90002,
                               "Tenant '%s' not found. Check to make sure you have the correct "
                               "tenant ID and are signing into the correct cloud." % tenant)
        if secret is None:
            return self._error(400, "unauthorized_client", 700016,
                               "Application with identifier '%s' was not found in the directory "
                               "'%s'." % (client_id, tenant))
        sent = field.get("client_secret") if "client_secret" in field else basic_secret
        req.note["secret_sent"] = sent is not None
        if sent is None:
            return self._error(401, "invalid_client", 7000218,
                               "The request body must contain the following parameter: "
                               "'client_assertion' or 'client_secret'.")
        if not hmac.compare_digest(sent.encode(), secret.encode()):
            return self._error(self.args.invalid_client_status, "invalid_client", 7000215,
                               "Invalid client secret provided. Ensure the secret being sent in "
                               "the request is the client secret value, not the client secret "
                               "ID, for a secret added to app '%s'." % client_id)
        scope = field.get("scope")
        if not scope:
            return self._error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: "
                               "'scope'.")
        if not scope.endswith("/.default") or " " in scope:
            return self._error(400, "invalid_scope", 1002012,
                               "The provided value for scope %s is not valid. Client credential "
                               "flows must have a scope value with /.default suffixed to the "
                               "resource identifier (application ID URI)." % scope)
        if self.args.scope and scope not in self.args.scope:
            return self._error(400, "invalid_scope", 500011,
                               "The resource principal named %s was not found in the tenant "
                               "named %s." % (scope[:-len("/.default")], tenant))
        now = int(time.time())
        jti = str(uuid.uuid4())
        claims = {"aud": scope[:-len("/.default")], "iss": "https://sts.windows.net/%s/" % tenant,
                  "tid": tenant, "appid": client_id, "roles": ["Mail.Send"], "iat": now,
                  "nbf": now, "exp": now + expires_in, "jti": jti}
        req.note["token_id"] = jti
        return Reply.json({"token_type": "Bearer", "expires_in": expires_in,
                           "ext_expires_in": expires_in,
                           "access_token": fakebase.make_jwt(claims, self.args.token_key)},
                          200, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


if __name__ == "__main__":
    sys.exit(fakebase.main(EntraFake))
