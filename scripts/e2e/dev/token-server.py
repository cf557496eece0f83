#!/usr/bin/env python3
"""DEVELOPMENT AID ONLY - NOT PART OF REGISTRYO.

A throwaway, grant-everything token server used solely to check that the end-to-end
infrastructure (scripts/e2e/start, make-images, smoke) works with the real registry and clients
before Registryo's own server exists. It has no policy, no users and no security: never use it
for anything else, and never copy it into the product.

Usage: token-server.py STATE_DIR [--service S] [--issuer I]
Writes STATE_DIR/token-cert.pem (the registry's rootcertbundle), STATE_DIR/token-key.pem and,
once listening on 127.0.0.1 (free port), STATE_DIR/token.port. Any credentials are accepted
except the password "wrong" (401). Needs python3-cryptography (or `pip install cryptography`).
"""

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_kid(public_key) -> str:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def make_key(state: str):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e2e dev token signer")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(os.path.join(state, "token-key.pem"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(os.path.join(state, "token-cert.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def sign_jwt(key, cert, claims: dict) -> str:
    header = {
        "typ": "JWT",
        "alg": "ES256",
        "kid": libtrust_kid(key.public_key()),
        "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()],
    }
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def parse_scopes(scopes):
    access = []
    for scope in scopes:
        for item in scope.split(" "):
            if not item:
                continue
            first = item.index(":")
            last = item.rindex(":")
            typ, name, actions = item[:first], item[first + 1 : last], item[last + 1 :]
            typ = typ.split("(")[0]
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
    return access


class Handler(BaseHTTPRequestHandler):
    server_version = "e2e-dev-token/0"

    def log_message(self, fmt, *args):
        sys.stderr.write("token: " + (fmt % args) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def issue(self, user, scopes, offline):
        now = int(time.time())
        claims = {
            "iss": self.server.issuer,
            "sub": user,
            "aud": self.server.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": parse_scopes(scopes),
        }
        token = sign_jwt(self.server.key, self.server.cert, claims)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(),
        }
        if offline:
            body["refresh_token"] = "dev-refresh-" + user
        sys.stderr.write(f"token: granted {user!r} {claims['access']}\n")
        return body

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no"}]})
        query = urllib.parse.parse_qs(url.query)
        user = ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if password == "wrong":
                return self.reply(
                    401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
                )
        offline = query.get("offline_token", [""])[0] == "true"
        self.reply(200, self.issue(user, query.get("scope", []), offline))

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no"}]})
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        grant = form.get("grant_type", [""])[0]
        if grant == "password":
            user = form.get("username", [""])[0]
            if form.get("password", [""])[0] == "wrong":
                return self.reply(401, {"error": "invalid_grant"})
        elif grant == "refresh_token":
            user = form.get("refresh_token", [""])[0].removeprefix("dev-refresh-")
        else:
            return self.reply(400, {"error": "unsupported_grant_type"})
        body = self.issue(
            user, form.get("scope", []), form.get("access_type", [""])[0] == "offline"
        )
        body["scope"] = " ".join(form.get("scope", []))
        self.reply(200, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("state")
    ap.add_argument("--service", default="registryo-test")
    ap.add_argument("--issuer", default="registryo")
    args = ap.parse_args()
    os.makedirs(args.state, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.key, server.cert = make_key(args.state)
    server.service, server.issuer = args.service, args.issuer
    port_file = os.path.join(args.state, "token.port")
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
