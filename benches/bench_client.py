#!/usr/bin/env python3
"""Key material and admin assertions for benches/token.sh, with pyca/cryptography.

  bench_client.py keygen DIR KID     -> DIR/KID.pem (PKCS#8) and DIR/KID.jwks.json
  bench_client.py assertion PEM KID CLIENT_ID AUD   -> a fresh ES256 client assertion
"""
import base64
import json
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keygen(directory: str, kid: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with open(f"{directory}/{kid}.pem", "wb") as f:
        f.write(pem)
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
        "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big")),
    }
    with open(f"{directory}/{kid}.jwks.json", "w") as f:
        json.dump({"keys": [jwk]}, f)


def assertion(pem_path: str, kid: str, client_id: str, aud: str) -> str:
    with open(pem_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + 60}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


if __name__ == "__main__":
    if sys.argv[1] == "keygen":
        keygen(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "assertion":
        print(assertion(*sys.argv[2:6]))
    else:
        sys.exit(__doc__)
