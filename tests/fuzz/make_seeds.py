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


def base32_seeds():
    return [
        ("empty", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"),
        ("foobar_padded", "MZXW6YTBOI======"), ("lowercase", "mzxw6ytboi"),
        ("totp_seed", base64.b32encode(bytes(range(20))).decode()), ("bad_padding", "MY=="),
        ("impossible_len", "MZX"), ("nonzero_tail", "MZ"), ("bytes", bytes(range(256))),
    ]


def otpauth_seeds():
    seed = bytes(range(1, 21))
    return [
        ("plain", b"Example\0alice@example.com\0" + seed),
        ("colon_space", b"ACME Co: Ltd\0bob:smith\0" + seed),
        ("query_chars", b"a&issuer=x?\0u%40v=1#frag\0"),
        ("utf8", "Bank \u00e9\u2026\0j\u00fcrgen\0".encode()),
        ("empty", b""),
    ]


def devproof_seeds():
    hdr = '{"alg":"ES256","typ":"pushgate-device+jwt","kid":"d_device01"}'

    def proof(htm="GET", htu="/device/challenges", iat=1795000000, jti="aGVsbG8td29ybGQtMTIz"):
        return json.dumps({"htm": htm, "htu": htu, "iat": iat, "jti": jti}, separators=(",", ":"))

    return [
        ("valid_get", "Device " + token(hdr, proof())),
        ("valid_post", "Device " + token(hdr, proof("POST", "/device/challenges/q_622b95833bab53f6"))),
        ("iat_skewed", "Device " + token(hdr, proof(iat=1795000061))),
        ("jti_short", "Device " + token(hdr, proof(jti="short"))),
        ("htu_other", "Device " + token(hdr, proof(htu="/device"))),
        ("kid_invalid", "Device " + token('{"alg":"ES256","typ":"pushgate-device+jwt","kid":"a b"}', proof())),
        ("no_kid", "Device " + token('{"alg":"ES256","typ":"pushgate-device+jwt"}', proof())),
        ("typ_response", "Device " + token('{"alg":"ES256","typ":"pushgate-response+jwt","kid":"d_device01"}', proof())),
        ("bearer", "Bearer " + token(hdr, proof())),
        ("no_scheme", token(hdr, proof())),
        ("lowercase_scheme", "device " + token(hdr, proof())),
        # payloads alone (fuzz_devproof also checks its input's claims without a signature)
        ("claims_valid", proof("POST", "/device/challenges/q_622b95833bab53f6")),
        ("claims_iat_min", proof("POST", "/device/challenges/q_622b95833bab53f6", iat=-9223372036854775808)),
        ("claims_iat_max", proof("POST", "/device/challenges/q_622b95833bab53f6", iat=9223372036854775807)),
    ]


def bodies_seeds():
    """Bodies as the integration tests send them, one or two per route, and near misses."""
    jwk = {"kty": "EC", "crv": "P-256", "x": RFC_X, "y": RFC_Y}
    seeds = {
        "auth_min": {"username": "alice"},
        "auth_full": {"username": "alice", "type": "authorization", "message": "Pay 10 EUR",
                      "context": {"ip": "192.0.2.1", "city": "Z\u00fcrich"},
                      "transaction": {"amount": {"value": "10.00", "currency": "EUR"}, "to": ["x"]},
                      "timeout": 30, "verification": "code", "displayCode": "042"},
        "auth_none_nulls": {"username": "alice", "verification": "none", "displayCode": None,
                            "message": None},
        "auth_deep": {"username": "alice", "transaction": {"a": {"b": {"c": {"d": {}}}}}},
        "auth_control": {"username": "al\u0085ice", "message": "a\u0007"},
        "device_answer": {"response": RFC_JWS},
        "registration": {"username": "alice", "email": "alice@example.com"},
        "registration_full": {"username": "alice", "email": "alice@example.com",
                              "displayName": "Alice A.", "expiresIn": 300},
        "registration_unknown": {"username": "alice", "email": "alice@example.com", "isAdmin": True},
        "registration_handoff": {"username": "alice", "delivery": "none"},
        "registration_handoff_email": {"username": "alice", "email": "a@b.c", "delivery": "none"},
        "link_bind": {"publicKey": jwk, "deviceName": "Pixel 8", "proof": RFC_JWS},
        "mfa_setup_totp": {"channel": "totp"},
        "mfa_setup_email": {"channel": "email", "email": "alice@example.com"},
        "mfa_setup_sms": {"channel": "sms", "phone": "+15551234567"},
        "mfa_code": {"code": "123456"},
        "mfa_backup": {"code": "abcd-efgh-jk"},
        "mfa_empty": {},
        "mfa_requirements": {"login": True, "withdrawal": False, "deviceRemoval": None},
    }
    # at the limits, so that a one-character mutation crosses them
    seeds["auth_limits"] = {"username": "u" * 126 + "\u00e9", "message": "\u00e9" * 256,
                            "context": {"k" * 64: "v" * 256}, "timeout": 300}
    seeds["registration_limits"] = {"username": "u" * 128, "email": "a@" + "b" * 252,
                                    "displayName": "\u2026" * 128, "expiresIn": 604800}
    seeds["link_bind_limits"] = {"publicKey": jwk, "deviceName": "n" * 64, "proof": "x"}
    seeds["auth_transaction_4k"] = {"username": "alice", "transaction": {"k": "v" * 4088}}
    seeds["mfa_code_long"] = {"code": "1" * 64}
    # one near miss per check, so that a check that goes wrong lets its seed through
    sms = {"channel": "sms", "phone": "+15551234567"}
    seeds.update({
        "auth_type_other": {"username": "alice", "type": "payment"},
        "auth_timeout_301": {"username": "alice", "timeout": 301},
        "auth_timeout_4": {"username": "alice", "timeout": 4},
        "auth_context_number": {"username": "alice", "context": {"n": 1}},
        "auth_context_array": {"username": "alice", "context": ["x"]},
        "auth_transaction_array": {"username": "alice", "transaction": [1]},
        "auth_verification_other": {"username": "alice", "verification": "sms"},
        "auth_code_two_digits": {"username": "alice", "verification": "code", "displayCode": "42"},
        "auth_code_with_none": {"username": "alice", "verification": "none", "displayCode": "042"},
        "auth_code_missing": {"username": "alice", "verification": "code"},
        "registration_no_at": {"username": "alice", "email": "alice.example.com"},
        "registration_two_at": {"username": "alice", "email": "a@b@c"},
        "registration_space": {"username": "alice", "email": "a b@c"},
        "registration_expires_299": {"username": "alice", "email": "a@b.c", "expiresIn": 299},
        "registration_display_empty": {"username": "alice", "email": "a@b.c", "displayName": ""},
        "registration_delivery_other": {"username": "alice", "email": "a@b.c", "delivery": "sms"},
        "registration_email_missing": {"username": "alice", "delivery": "email"},
        "link_bind_name_empty": {"publicKey": jwk, "deviceName": "", "proof": "x"},
        "link_bind_proof_number": {"publicKey": jwk, "deviceName": "n", "proof": 1},
        "mfa_setup_totp_email": {"channel": "totp", "email": "a@b.c"},
        "mfa_setup_email_phone": {"channel": "email", "phone": "+15551234567"},
        "mfa_setup_email_bad": {"channel": "email", "email": "a@"},
        "mfa_setup_sms_email": dict(sms, email="a@b.c"),
        "mfa_setup_sms_no_phone": {"channel": "sms"},
        "mfa_setup_sms_short": {"channel": "sms", "phone": "+1555123"},
        "mfa_setup_sms_plus0": {"channel": "sms", "phone": "+05551234567"},
        "mfa_setup_voice": {"channel": "voice"},
        "mfa_code_number": {"code": 123456},
        "mfa_code_empty": {"code": ""},
        "mfa_requirements_number": {"deviceRemoval": 1},
        "mfa_requirements_string": {"login": "true"},
        "mfa_requirements_withdrawal": {"withdrawal": {}},
    })
    out = [(k, json.dumps(v, ensure_ascii=False)) for k, v in seeds.items()]
    out.append(("duplicate_key", '{"username":"alice","username":"bob"}'))
    out.append(("not_object", '["alice"]'))
    return out


SEEDS = {"jws": jws_seeds, "jwk": jwk_seeds, "b64url": b64url_seeds, "base32": base32_seeds,
         "otpauth": otpauth_seeds, "devproof": devproof_seeds, "bodies": bodies_seeds}

if __name__ == "__main__":
    import sys
    # make_seeds.py [name ...]: only those corpora (the signatures differ on every run)
    for name in sys.argv[1:] or SEEDS:
        write(name, SEEDS[name]())
