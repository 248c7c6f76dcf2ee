//! In-process RFC 3161 signing rate of the co-hosted TSA (no HTTP, no database): one
//! thread checks a fixed TimeStampReq and signs a TimeStampResp for it, N times; the
//! same thread then signs N SHA-256 digests with OpenSSL's raw ECDSA P-256, the
//! ceiling that `openssl speed ecdsap256` also measures.
//!
//!     cargo bench --bench tsa_sign            # N=20000
//!     N=50000 taskset -c 0 cargo bench --bench tsa_sign
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use depot::tsa::Authority;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::x509::X509;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut micros: Vec<f64>, elapsed: f64) {
    let n = micros.len() as f64;
    micros.sort_by(f64::total_cmp);
    println!(
        "{label:<34} {:>9.0}/s   p50 {:>6.1} µs   p99 {:>6.1} µs",
        n / elapsed,
        percentile(&micros, 0.5),
        percentile(&micros, 0.99)
    );
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let secret = depot::tsa::generated::chain("http://bench.local", chrono::Utc::now()).unwrap();
    let chain = X509::stack_from_pem(secret.public.as_bytes()).unwrap();
    let key = PKey::private_key_from_pkcs8(&secret.private_der).unwrap();
    let tsa = Authority::new(chain, key.clone(), "1.2.3.4.1", 1).unwrap();

    // A request as `openssl ts -query -sha256 -cert` makes it: imprint, nonce, certReq.
    let request = {
        use der::Encode;
        let digest = openssl::hash::hash(MessageDigest::sha256(), b"bench").unwrap();
        x509_tsp::TimeStampReq {
            version: x509_tsp::TspVersion::V1,
            message_imprint: x509_tsp::MessageImprint {
                hash_algorithm: spki::AlgorithmIdentifierOwned {
                    oid: depot::tsa::asn1::ID_SHA_256,
                    parameters: None,
                },
                hashed_message: der::asn1::OctetString::new(digest.to_vec()).unwrap(),
            },
            req_policy: None,
            nonce: Some(
                der::asn1::Int::new(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]).unwrap(),
            ),
            cert_req: true,
            extensions: None,
        }
        .to_der()
        .unwrap()
    };

    println!("{n} operations on one thread");
    for _ in 0..n / 10 {
        let checked = tsa.check(&request).unwrap();
        tsa.sign(&checked, 1, chrono::Utc::now()).unwrap();
    }
    let mut micros = Vec::with_capacity(n);
    let start = Instant::now();
    for serial in 0..n as u64 {
        let t = Instant::now();
        let checked = tsa.check(&request).unwrap();
        let reply = tsa.sign(&checked, serial + 1, chrono::Utc::now()).unwrap();
        std::hint::black_box(reply);
        micros.push(t.elapsed().as_secs_f64() * 1e6);
    }
    report(
        "TSA check + sign (TimeStampResp)",
        micros,
        start.elapsed().as_secs_f64(),
    );

    let digest = [7u8; 200];
    let mut micros = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key).unwrap();
        std::hint::black_box(signer.sign_oneshot_to_vec(&digest).unwrap());
        micros.push(t.elapsed().as_secs_f64() * 1e6);
    }
    report(
        "OpenSSL ECDSA P-256 sign (raw)",
        micros,
        start.elapsed().as_secs_f64(),
    );
}
