#!/usr/bin/python3
"""Regenerates the committed seed corpora in tests/fuzz/corpus/.

Run with Debian's /usr/bin/python3 (needs python3-cryptography). The signing key is the
published RFC 7515 appendix A.3 example key (a test vector, not a secret); fuzz_jws.c
verifies with its public half, so the "valid" seeds really verify.
"""
import base64
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
RFC_X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
RFC_Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
RFC_D = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
RFC_JWS = ("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9l"
           "eGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfT"
           "jDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


KEY = ec.derive_private_key(int.from_bytes(unb64u(RFC_D), "big"), ec.SECP256R1())


def signing_input(hdr, payload):
    return b64u(hdr.encode()) + "." + b64u(payload.encode())


def sign_der(inp):
    return KEY.sign(inp.encode(), ec.ECDSA(hashes.SHA256()))


def sign_raw(inp):
    r, s = decode_dss_signature(sign_der(inp))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def token(hdr, payload, sig=None):
    inp = signing_input(hdr, payload)
    return inp + "." + b64u(sig if sig is not None else sign_raw(inp))


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for label, data in seeds:
        with open(os.path.join(d, label), "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


def jws_seeds():
    dev = '{"alg":"ES256","typ":"pushgate-device+jwt","kid":"d_device01"}'
    proof = '{"htm":"GET","htu":"/device/challenges","iat":1795000000,"jti":"aGVsbG8td29ybGQtMTIz"}'
    resp = '{"alg":"ES256","typ":"pushgate-response+jwt","kid":"d_device01"}'
    answer = '{"requestId":"q_622b95833bab53f6","nonce":"bm9uY2Utbm9uY2Utbm9uY2U","decision":"approve","iat":1795000000}'
    inp = signing_input(dev, proof)
    raw = sign_raw(inp)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return [
        ("valid_rfc7515_a3", RFC_JWS),
        ("valid_device_proof", token(dev, proof)),
        ("valid_response", token(resp, answer)),
        ("valid_high_s", inp + "." + b64u(raw[:32] + (N - s).to_bytes(32, "big"))),
        ("alg_none", signing_input('{"alg":"none"}', proof) + "."),
        ("alg_hs256", token('{"alg":"HS256","typ":"pushgate-device+jwt"}', proof)),
        ("sig_63_bytes", inp + "." + b64u(raw[:63])),
        ("sig_der", inp + "." + b64u(sign_der(inp))),
        ("sig_r_zero", inp + "." + b64u(bytes(32) + raw[32:])),
        ("sig_s_eq_n", inp + "." + b64u(raw[:32] + N.to_bytes(32, "big"))),
        ("crit_header", token('{"alg":"ES256","typ":"pushgate-device+jwt","crit":["exp"]}', proof)),
        ("dup_header_member", token('{"alg":"ES256","alg":"none","typ":"pushgate-device+jwt"}', proof)),
        ("four_parts", token(dev, proof) + ".AAAA"),
        ("padded_sig", token(dev, proof) + "="),
        ("payload_array", token(dev, "[1,2,3]")),
    ]


def jwk_seeds():
    def jwk(**kw):
        base = {"kty": "EC", "crv": "P-256", "x": RFC_X, "y": RFC_Y}
        base.update(kw)
        return json.dumps({k: v for k, v in base.items() if v is not None})

    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    y_flip = bytearray(unb64u(RFC_Y))
    y_flip[-1] ^= 1
    return [
        ("valid_rfc7515_a3", jwk()),
        ("valid_jwks_member", jwk(kid="oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U", use="sig", alg="ES256")),
        ("valid_random", jwk(x=b64u(other.x.to_bytes(32, "big")), y=b64u(other.y.to_bytes(32, "big")))),
        ("private_d", jwk(d=RFC_D)),
        ("off_curve", jwk(y=b64u(bytes(y_flip)))),
        ("x_31_bytes", jwk(x=b64u(unb64u(RFC_X)[1:]))),
        ("x_padded", jwk(x=RFC_X + "=")),
        ("crv_p384", jwk(crv="P-384")),
        ("kty_rsa", jwk(kty="RSA")),
        ("alg_hs256", jwk(alg="HS256")),
        ("zero_point", jwk(x=b64u(bytes(32)), y=b64u(bytes(32)))),
        ("not_object", json.dumps([jwk()])),
        ("dup_member", '{"kty":"EC","kty":"RSA","crv":"P-256","x":"%s","y":"%s"}' % (RFC_X, RFC_Y)),
    ]


def b64url_seeds():
    return [
        ("empty", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy"),
        ("url_chars", "-_-_"), ("padded", "Zg=="), ("noncanonical", "Zh"), ("len_mod4_1", "Zm9vY"),
        ("std_alphabet", "Zm9+"), ("coordinate", RFC_X), ("signature", RFC_JWS.split(".")[2]),
        ("header", RFC_JWS.split(".")[0]),
    ]


if __name__ == "__main__":
    write("jws", jws_seeds())
    write("jwk", jwk_seeds())
    write("b64url", b64url_seeds())
