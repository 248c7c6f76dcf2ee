#!/usr/bin/env python3
"""Writes the seed corpora, fuzz/corpus/<target>/seed-*: small, valid or nearly valid
inputs of the shapes the tests send (tests/api/...: JWEs of depot/jose.rs, the client
assertions of helpers/mod.rs, the TimeStampReqs of tsa/, the software authenticator's
registrations of keys/, the OAuth forms of forms.rs and token.rs).

Needs only Python 3 and `cryptography`. Signatures are randomized, so a rerun writes
different bytes of the same shapes: run it only to add or change seeds.

    python3 fuzz/seeds.py
"""

import base64
import datetime
import hashlib
import json
import os
import pathlib
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target: str, name: str, data) -> None:
    if isinstance(data, str):
        data = data.encode()
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data)


def compact_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# --- jwe_shape -------------------------------------------------------------------

EPK = {"kty": "EC", "crv": "P-256", "x": b64(os.urandom(32)), "y": b64(os.urandom(32))}


def compact_jwe(header: dict, raw_header: bytes | None = None) -> str:
    protected = b64(raw_header if raw_header else compact_json(header))
    return ".".join(
        [protected, b64(os.urandom(40)), b64(os.urandom(12)), b64(b"ciphertext"), b64(os.urandom(16))]
    )


def jwe_seeds() -> None:
    t = "jwe_shape"
    write(t, "compact-ecdh", compact_jwe({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": "k1", "epk": EPK}))
    write(t, "compact-kw", compact_jwe({"alg": "A256KW", "enc": "A128CBC-HS256", "kid": "sym-1"}))
    write(t, "compact-p2c", compact_jwe({"alg": "A128KW", "enc": "A256GCM", "kid": "k", "p2c": 600000}))
    write(t, "compact-zip", compact_jwe({"alg": "A256KW", "enc": "A256GCM", "kid": "k", "zip": "DEF"}))
    write(
        t,
        "compact-twice",
        compact_jwe({}, b'{"alg":"A256KW","enc":"A256GCM","kid":"k","kid":"other"}'),
    )
    shared = b64(compact_json({"enc": "A256GCM"}))
    general = {
        "protected": shared,
        "unprotected": {"cty": "application/json"},
        "recipients": [
            {"header": {"alg": "ECDH-ES+A256KW", "kid": kid, "epk": EPK}, "encrypted_key": b64(os.urandom(40))}
            for kid in ["a", "b", "c"]
        ],
        "aad": b64(b"extra"),
        "iv": b64(os.urandom(12)),
        "ciphertext": b64(b"hello"),
        "tag": b64(os.urandom(16)),
    }
    write(t, "general", compact_json(general))
    flattened = {k: v for k, v in general.items() if k != "recipients"}
    flattened.update(general["recipients"][0])
    write(t, "flattened", compact_json(flattened))
    write(t, "nested-members", b'{"a": 1, "b": [{"c": 2}, {"c": 3}], "d": {"e": null}}')
    write(t, "escaped-twice", b'{"k\\u0069d": 1, "kid": 2}')


# --- client_assertion ------------------------------------------------------------


def assertion(header: dict, claims: dict, signature_len: int = 64) -> str:
    return ".".join([b64(compact_json(header)), b64(compact_json(claims)), b64(os.urandom(signature_len))])


def assertion_seeds() -> None:
    t = "client_assertion"
    claims = {
        "iss": "client-1",
        "sub": "client-1",
        "aud": "https://depot.example/oauth2/token",
        "exp": 1796300000,
        "iat": 1796299940,
        "nbf": 1796299940,
        "jti": "5f1c0e7a-3b7e-4a49-9a51-0c2d4b1f9e10",
    }
    write(t, "es256", assertion({"alg": "ES256", "kid": "k1", "typ": "JWT"}, claims))
    write(t, "ps256", assertion({"alg": "PS256"}, dict(claims, aud="https://depot.example"), 256))
    write(t, "eddsa-aud-array", assertion({"alg": "EdDSA", "kid": "e"}, dict(claims, aud=["a", "b"])))
    write(t, "jku", assertion({"alg": "ES384", "jku": "https://evil.example/jwks"}, claims, 96))
    write(t, "none", assertion({"alg": "none"}, claims, 0))


# --- tsa_request -----------------------------------------------------------------


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(body)]) + body
    return bytes([tag]) + length + content


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return der(0x06, body)


def integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return der(0x02, body)


SHA = {"sha256": ("2.16.840.1.101.3.4.2.1", 32), "sha384": ("2.16.840.1.101.3.4.2.2", 48),
       "sha512": ("2.16.840.1.101.3.4.2.3", 64), "sha1": ("1.3.14.3.2.26", 20)}


def time_stamp_req(alg: str, null_params=True, policy=None, nonce=None, cert_req=None, extensions=False) -> bytes:
    dotted, length = SHA[alg]
    algorithm = der(0x30, oid(dotted) + (der(0x05, b"") if null_params else b""))
    imprint = der(0x30, algorithm + der(0x04, hashlib.new(alg, b"message").digest()[:length]))
    body = integer(1) + imprint
    if policy:
        body += oid(policy)
    if nonce is not None:
        body += integer(nonce)
    if cert_req is not None:
        body += der(0x01, b"\xff" if cert_req else b"\x00")
    if extensions:
        extension = der(0x30, oid("1.2.3.4.5") + der(0x04, der(0x05, b"")))
        body += der(0xA0, extension)
    return der(0x30, body)


def tsa_seeds() -> None:
    t = "tsa_request"
    write(t, "sha256-nonce-certreq", time_stamp_req("sha256", nonce=0x1234567890ABCDEF, cert_req=True))
    write(t, "sha384-no-params", time_stamp_req("sha384", null_params=False))
    write(t, "sha512-policy", time_stamp_req("sha512", policy="1.2.3.4.1", nonce=1, cert_req=False))
    write(t, "other-policy", time_stamp_req("sha256", policy="1.3.6.1.4.1.99999.1"))
    write(t, "extensions", time_stamp_req("sha256", extensions=True))
    write(t, "sha1", time_stamp_req("sha1"))


# --- webauthn_registration -------------------------------------------------------

ORIGIN = "https://depot.example"
CHALLENGE = bytes(range(32))
CLIENT_DATA = (
    f'{{"type":"webauthn.create","challenge":"{b64(CHALLENGE)}","origin":"{ORIGIN}","crossOrigin":false}}'
).encode()


def cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def cbor(value) -> bytes:
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return cbor_head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode()
        return cbor_head(3, len(data)) + data
    if isinstance(value, list):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(value)


def cose_key(key) -> dict:
    public = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = public.public_numbers()
        return {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {1: 1, 3: -8, -1: 6, -2: raw}
    numbers = public.public_numbers()
    return {1: 3, -1: numbers.n.to_bytes(256, "big"), -2: numbers.e.to_bytes(3, "big")}


def sign(alg: int, key, data: bytes) -> bytes:
    if alg == -7:
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if alg == -8:
        return key.sign(data)
    if alg == -257:
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


AAGUID = bytes.fromhex("6028b017b1d44c02b4b3afcdafc96bb2")


def attestation_cert(key) -> bytes:
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fuzz Authenticators"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Authenticator Attestation"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Fuzz Attestation"),
    ])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4"), der(0x04, AAGUID)),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def registration(alg: int, key, fmt="packed", x5c_key=None, client_data=b"", flags=0) -> bytes:
    credential_id = os.urandom(16)
    cose = cose_key(key)
    cose[3] = alg
    auth_data = (
        hashlib.sha256(b"depot.example").digest()
        + bytes([0x45])  # UP, UV, AT
        + struct.pack(">I", 0)
        + AAGUID
        + struct.pack(">H", len(credential_id))
        + credential_id
        + cbor(cose)
    )
    signed = auth_data + hashlib.sha256(client_data or CLIENT_DATA).digest()
    if fmt == "none":
        statement = {}
    elif x5c_key is not None:
        statement = {"alg": -7, "sig": sign(-7, x5c_key, signed), "x5c": [attestation_cert(x5c_key)]}
    else:
        statement = {"alg": alg, "sig": sign(alg, key, signed)}
    attestation_object = cbor({"fmt": fmt, "attStmt": statement, "authData": auth_data})
    return (
        bytes([flags])
        + struct.pack(">H", len(client_data)) + client_data
        + struct.pack(">H", len(credential_id)) + credential_id
        + attestation_object
    )


def webauthn_seeds() -> None:
    t = "webauthn_registration"
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write(t, "packed-es256", registration(-7, p256))
    write(t, "packed-eddsa", registration(-8, ed25519.Ed25519PrivateKey.generate()))
    write(t, "packed-rs256", registration(-257, rsa_key))
    write(t, "packed-ps256", registration(-37, rsa_key))
    write(t, "packed-x5c", registration(-7, p256, x5c_key=ec.generate_private_key(ec.SECP256R1())))
    write(t, "none", registration(-7, p256, fmt="none", flags=1))
    write(t, "explicit-client-data", registration(-7, p256, client_data=CLIENT_DATA))


# --- oauth_params ----------------------------------------------------------------


def params_seeds() -> None:
    t = "oauth_params"
    write(t, "authorize", "response_type=code&client_id=app-1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
          "&scope=openid%20depot%3Aread&state=xyz&nonce=n-0S6&code_challenge="
          "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
    write(t, "code", "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri="
          "https%3A%2F%2Fapp.example%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&client_id=app-1")
    write(t, "client-credentials", "grant_type=client_credentials&client_assertion_type="
          "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
          "&scope=depot%3Awrite+keys&resource=https%3A%2F%2Fdepot.example%2Fa&resource=https%3A%2F%2Fdepot.example%2Fb")
    write(t, "duplicate", "scope=a&scope=b&resource=x&resource=y")
    write(t, "empty-values", "a=&b=2&&=c&%zz=%e2%82%ac+x")


if __name__ == "__main__":
    jwe_seeds()
    assertion_seeds()
    tsa_seeds()
    webauthn_seeds()
    params_seeds()
    for directory in sorted(CORPUS.iterdir()):
        print(directory.name, len(list(directory.iterdir())), "seeds")
