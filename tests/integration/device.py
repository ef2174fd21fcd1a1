"""An authenticator device for the integration tests, written from api.md alone.

It does its own ES256 (python3-cryptography), so the server's JWS handling is checked
against an independent implementation. Run by Debian's /usr/bin/python3.
"""
import base64
import hashlib
import json
import os
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sign(key, header, payload):
    """Compact JWS ES256 with r||s (64 bytes)."""
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(json.dumps(payload, separators=(",", ":")).encode())
    der = key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{h}.{p}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def public_jwk(key):
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
            "y": b64u(n.y.to_bytes(32, "big"))}


def key_from_jwk(jwk):
    x = int.from_bytes(b64u_decode(jwk["x"]), "big")
    y = int.from_bytes(b64u_decode(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def verify(compact, jwk):
    """Returns (header, payload) when the ES256 signature verifies under jwk, else None."""
    h, p, s = compact.split(".")
    sig = b64u_decode(s)
    if len(sig) != 64:
        return None
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key_from_jwk(jwk).verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return None
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p))


def chal_of(challenge_jws):
    """api.md 6.3's chal: base64url SHA-256 of the exact ASCII bytes of the challenge JWS."""
    return b64u(hashlib.sha256(challenge_jws.encode("ascii")).digest())


def link_token(link):
    return link.rsplit("/r/", 1)[1]


class Device:
    """A device key, and after enroll() a deviceId and the server's pinned JWKS."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device_id = None
        self.jwks = None
        self.challenges = {}  # requestId -> the challenge JWS last verified (for chal)

    def jwk(self):
        return public_jwk(self.key)

    def registration_proof(self, registration_id, iat=None, key=None):
        return sign(key or self.key, {"alg": "ES256", "typ": "pushgate-registration+jwt"},
                    {"registrationId": registration_id,
                     "iat": int(time.time()) if iat is None else iat})

    def bind_body(self, registration_id, name="Test Phone", **kw):
        return {"publicKey": self.jwk(), "deviceName": name,
                "proof": self.registration_proof(registration_id, **kw)}

    def enroll(self, server, token, name="Test Phone"):
        """GET the link as JSON, then POST the binding. Returns the 201 body."""
        r = server.request("GET", f"/r/{token}", headers={"Accept": "application/json"})
        assert r.status == 200, r
        self.jwks = r.body["server"]["jwks"]
        r = server.request("POST", f"/r/{token}", body=self.bind_body(r.body["registrationId"],
                                                                      name))
        assert r.status == 201, r
        self.device_id = r.body["deviceId"]
        return r.body

    def proof(self, method, path, iat=None, jti=None, kid=None, key=None, typ=None, alg=None):
        """The Authorization header value for a /device... request (api.md 6.1)."""
        header = {"alg": alg or "ES256", "typ": typ or "pushgate-device+jwt",
                  "kid": kid or self.device_id}
        payload = {"htm": method, "htu": path, "iat": int(time.time()) if iat is None else iat,
                   "jti": jti or b64u(os.urandom(16))}
        return "Device " + sign(key or self.key, header, payload)

    def verify_challenge(self, compact):
        """(header, payload) of a server challenge verified against the pinned JWKS."""
        kid = json.loads(b64u_decode(compact.split(".")[0])).get("kid")
        for jwk in self.jwks["keys"]:
            if jwk.get("kid") == kid:
                hp = verify(compact, jwk)
                if hp:
                    self.challenges[hp[1].get("requestId")] = compact
                return hp
        return None

    def response(self, request_id, nonce, decision="approve", reason=None, code=None, iat=None,
                 key=None, extra=None, chal=True):
        """chal: True for the hash of the challenge last verified for request_id (of an
        empty one when this device saw none: well-formed, matching nothing), None to
        leave it out, else the value to send."""
        payload = {"requestId": request_id, "nonce": nonce, "decision": decision,
                   "iat": int(time.time()) if iat is None else iat}
        if chal is True:
            chal = chal_of(self.challenges.get(request_id, ""))
        if chal is not None:
            payload["chal"] = chal
        if reason:
            payload["reason"] = reason
        if code is not None:
            payload["code"] = code
        payload.update(extra or {})
        return sign(key or self.key, {"alg": "ES256", "typ": "pushgate-response+jwt",
                                      "kid": self.device_id}, payload)
