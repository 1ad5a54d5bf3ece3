#!/usr/bin/python3
"""A throwaway test PKI made with the openssl command line, for TLS tests on loopback.

    /usr/bin/python3 tests/fakes/testca.py DIR [--force]

creates in DIR (private keys mode 0600):

    ca.pem / ca.key                 the test CA (pass ca.pem as ca_file / --cafile)
    server.pem / server.key         valid leaf for 127.0.0.1, ::1 and localhost
    wrongname.pem / wrongname.key   valid leaf signed by the CA, but only for wrong.invalid
    expired.pem / expired.key       leaf for the right names whose validity ended in 2020
    other-ca.pem                    an unrelated CA (a bundle that does not sign server.pem)
    untrusted.pem / untrusted.key   leaf for the right names signed by other-ca

Existing files are kept (the set is made once per directory) unless --force is given.
Also importable: ensure(dir) -> dict of name -> path. Needs only `openssl` on PATH.
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile

LOOPBACK_SAN = "IP:127.0.0.1,IP:::1,DNS:localhost"

_CA_CONFIG = """\
[ca]
default_ca = tca
[tca]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
[pol]
commonName = supplied
[leaf]
subjectAltName = {san}
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
"""


def _run(args, cwd):
    proc = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args[:2]), proc.stdout))


def _ec_key_args():
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _make_ca(work, name, subject):
    _run(["req", "-x509"] + _ec_key_args() +
         ["-keyout", name + ".key", "-out", name + ".pem", "-days", "3650", "-subj", subject,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], work)


def _openssl_time(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def _make_leaf(work, ca, name, cn, san, start, end):
    db = os.path.join(work, "db-" + name)
    os.mkdir(db)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write(os.urandom(16).hex() + "\n")
    cnf = os.path.join(work, name + ".cnf")
    with open(cnf, "w") as f:
        f.write(_CA_CONFIG.format(db=db, san=san))
    _run(["req", "-new"] + _ec_key_args() +
         ["-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], work)
    _run(["ca", "-batch", "-config", cnf, "-cert", ca + ".pem", "-keyfile", ca + ".key",
          "-in", name + ".csr", "-out", name + ".pem", "-notext", "-extensions", "leaf",
          "-startdate", _openssl_time(start), "-enddate", _openssl_time(end)], work)


FILES = ["ca.pem", "ca.key", "server.pem", "server.key", "wrongname.pem", "wrongname.key",
         "expired.pem", "expired.key", "other-ca.pem", "untrusted.pem", "untrusted.key"]


def _key_name(filename):
    """"server.pem" -> "server", "server.key" -> "server_key", "other-ca.pem" -> "other_ca"."""
    base, ext = filename.rsplit(".", 1)
    return base.replace("-", "_") + ("_key" if ext == "key" else "")


def ensure(directory, force=False):
    """Creates the test PKI in `directory` unless it is already complete there."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    paths = {_key_name(f): os.path.join(directory, f) for f in FILES}
    if not force and all(os.path.exists(p) for p in paths.values()):
        return paths
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    # Built in a scratch directory, then moved in file by file: ca.pem is moved last, so a
    # reader that sees ca.pem sees a complete set.
    with tempfile.TemporaryDirectory(dir=directory, prefix=".testca-") as work:
        _make_ca(work, "ca", "/CN=mailrelay test CA")
        _make_ca(work, "other-ca", "/CN=mailrelay unrelated test CA")
        valid_from, valid_to = now - datetime.timedelta(days=1), now + datetime.timedelta(days=825)
        _make_leaf(work, "ca", "server", "localhost", LOOPBACK_SAN, valid_from, valid_to)
        _make_leaf(work, "ca", "wrongname", "wrong.invalid", "DNS:wrong.invalid", valid_from,
                   valid_to)
        _make_leaf(work, "ca", "expired", "localhost", LOOPBACK_SAN,
                   datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
                   datetime.datetime(2020, 2, 1, tzinfo=datetime.timezone.utc))
        _make_leaf(work, "other-ca", "untrusted", "localhost", LOOPBACK_SAN, valid_from, valid_to)
        for f in sorted(FILES, key=lambda f: f == "ca.pem"):
            src = os.path.join(work, f)
            if f.endswith(".key"):
                os.chmod(src, 0o600)
            os.replace(src, os.path.join(directory, f))
    return paths


def main():
    parser = argparse.ArgumentParser(description="Create a throwaway CA and loopback certificates.")
    parser.add_argument("dir")
    parser.add_argument("--force", action="store_true", help="regenerate even if present")
    args = parser.parse_args()
    try:
        paths = ensure(args.dir, args.force)
    except (OSError, RuntimeError) as e:
        print("testca: %s" % e, file=sys.stderr)
        return 1
    for name in sorted(paths):
        print("%s=%s" % (name, paths[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
