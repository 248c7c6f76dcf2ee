//! A credential's public key as the authenticator data carries it: a COSE_Key
//! (RFC 9052 §7), already decoded from CBOR by webauthn-rs-core, read here into an
//! OpenSSL key for one of the algorithms the keystore offers. RFC 9053 §7.1 (EC2:
//! crv P-256, x, y), §7.2 (OKP: crv Ed25519, x) and RFC 8230 §4 (RSA: n, e).
//! "Applications MUST check that the curve and the key type are consistent" (RFC 9053
//! §7.1): every key is loaded and checked by OpenSSL before it is accepted.

use std::collections::BTreeMap;

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use serde_cbor_2::Value as Cbor;

use super::alg::{Alg, MIN_RSA_BITS};

/// COSE key types (RFC 9052 §7, IANA "COSE Key Types").
const KTY_OKP: i128 = 1;
const KTY_EC2: i128 = 2;
const KTY_RSA: i128 = 3;
/// COSE elliptic curves (RFC 9053 §7.1).
const CRV_P256: i128 = 1;
const CRV_ED25519: i128 = 6;

/// A credential public key and the algorithm it was made for.
#[derive(Debug, Clone)]
pub struct CredentialKey {
    pub alg: Alg,
    pub key: PKey<Public>,
}

impl CredentialKey {
    /// Reads a COSE_Key. Its `alg` must be one of `offered`; anything else, a key
    /// type that does not fit its `alg`, or a key OpenSSL does not accept, is refused
    /// with the reason.
    pub fn from_cose(value: &Cbor, offered: &[Alg]) -> Result<Self, String> {
        let Cbor::Map(map) = value else {
            return Err("the credential public key is not a COSE_Key map".into());
        };
        let label = |n: i128| map.get(&Cbor::Integer(n));
        let alg_id = integer(label(3), "alg (3)")?;
        let alg = Alg::from_cose(alg_id)
            .filter(|a| offered.contains(a))
            .ok_or_else(|| {
                format!(
                    "the credential's algorithm (COSE {alg_id}) is not one of those offered ({})",
                    offered
                        .iter()
                        .map(|a| a.jose())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let kty = integer(label(1), "kty (1)")?;
        let key = match (alg, kty) {
            (Alg::Es256, KTY_EC2) => ec2_p256(map)?,
            (Alg::EdDsa, KTY_OKP) => okp_ed25519(map)?,
            (Alg::Rs256 | Alg::Ps256, KTY_RSA) => rsa(map)?,
            (alg, kty) => {
                return Err(format!(
                    "the credential key (COSE kty {kty}) is not {} as {} needs",
                    alg.key_kind(),
                    alg.jose()
                ));
            }
        };
        if !alg.fits(&key) {
            return Err(format!(
                "the credential key is not {} as {} needs",
                alg.key_kind(),
                alg.jose()
            ));
        }
        Ok(Self { alg, key })
    }
}

fn integer(value: Option<&Cbor>, what: &str) -> Result<i128, String> {
    match value {
        Some(Cbor::Integer(n)) => Ok(*n),
        _ => Err(format!("the COSE_Key has no integer {what}")),
    }
}

fn bytes<'a>(map: &'a BTreeMap<Cbor, Cbor>, label: i128, what: &str) -> Result<&'a [u8], String> {
    match map.get(&Cbor::Integer(label)) {
        Some(Cbor::Bytes(b)) => Ok(b),
        _ => Err(format!("the COSE_Key has no byte string {what} ({label})")),
    }
}

fn crypto(what: &str) -> impl Fn(openssl::error::ErrorStack) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn ec2_p256(map: &BTreeMap<Cbor, Cbor>) -> Result<PKey<Public>, String> {
    if integer(map.get(&Cbor::Integer(-1)), "crv (-1)")? != CRV_P256 {
        return Err("an ES256 credential key must be on P-256 (COSE crv 1)".into());
    }
    let (x, y) = (bytes(map, -2, "x")?, bytes(map, -3, "y")?);
    if x.len() != 32 || y.len() != 32 {
        return Err("a P-256 key has 32-byte coordinates".into());
    }
    let bad = crypto("the credential's EC key is not a P-256 point");
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(&bad)?;
    let x = BigNum::from_slice(x).map_err(&bad)?;
    let y = BigNum::from_slice(y).map_err(&bad)?;
    let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y).map_err(&bad)?;
    // On the curve, not the point at infinity, of the group's order.
    ec.check_key().map_err(&bad)?;
    PKey::from_ec_key(ec).map_err(&bad)
}

fn okp_ed25519(map: &BTreeMap<Cbor, Cbor>) -> Result<PKey<Public>, String> {
    if integer(map.get(&Cbor::Integer(-1)), "crv (-1)")? != CRV_ED25519 {
        return Err("an EdDSA credential key must be Ed25519 (COSE crv 6)".into());
    }
    let x = bytes(map, -2, "x")?;
    if x.len() != 32 {
        return Err("an Ed25519 key is 32 bytes".into());
    }
    PKey::public_key_from_raw_bytes(x, Id::ED25519)
        .map_err(crypto("the credential's Ed25519 key does not load"))
}

fn rsa(map: &BTreeMap<Cbor, Cbor>) -> Result<PKey<Public>, String> {
    let bad = crypto("the credential's RSA key does not load");
    let n = BigNum::from_slice(bytes(map, -1, "n")?).map_err(&bad)?;
    let e = BigNum::from_slice(bytes(map, -2, "e")?).map_err(&bad)?;
    if n.num_bits() < MIN_RSA_BITS as i32 {
        return Err(format!(
            "an RSA key must have at least {MIN_RSA_BITS} bits, this one has {}",
            n.num_bits()
        ));
    }
    if e.num_bits() < 2 || !e.is_bit_set(0) || e.num_bits() > 32 {
        return Err("the RSA public exponent must be odd, at least 3 and at most 32 bits".into());
    }
    PKey::from_rsa(Rsa::from_public_components(n, e).map_err(&bad)?).map_err(&bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::bn::BigNumContext;

    fn cose(entries: Vec<(i128, Cbor)>) -> Cbor {
        Cbor::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Cbor::Integer(k), v))
                .collect(),
        )
    }

    fn p256_point() -> (Vec<u8>, Vec<u8>) {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = EcKey::generate(&group).unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        key.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        (x.to_vec_padded(32).unwrap(), y.to_vec_padded(32).unwrap())
    }

    #[test]
    fn each_offered_key_type_loads() {
        let (x, y) = p256_point();
        let ec = cose(vec![
            (1, Cbor::Integer(2)),
            (3, Cbor::Integer(-7)),
            (-1, Cbor::Integer(1)),
            (-2, Cbor::Bytes(x.clone())),
            (-3, Cbor::Bytes(y.clone())),
        ]);
        assert_eq!(
            CredentialKey::from_cose(&ec, &Alg::ALL).unwrap().alg,
            Alg::Es256
        );

        let ed = PKey::generate_ed25519().unwrap();
        let okp = cose(vec![
            (1, Cbor::Integer(1)),
            (3, Cbor::Integer(-8)),
            (-1, Cbor::Integer(6)),
            (-2, Cbor::Bytes(ed.raw_public_key().unwrap())),
        ]);
        let key = CredentialKey::from_cose(&okp, &Alg::ALL).unwrap();
        assert_eq!(key.alg, Alg::EdDsa);
        assert_eq!(key.key.id(), Id::ED25519);
        assert!(
            CredentialKey::from_cose(&okp, &[Alg::Es256])
                .unwrap_err()
                .contains("offered")
        );

        let rsa = Rsa::generate(2048).unwrap();
        for alg in [-257, -37] {
            let r = cose(vec![
                (1, Cbor::Integer(3)),
                (3, Cbor::Integer(alg)),
                (-1, Cbor::Bytes(rsa.n().to_vec())),
                (-2, Cbor::Bytes(rsa.e().to_vec())),
            ]);
            let key = CredentialKey::from_cose(&r, &Alg::ALL).unwrap();
            assert_eq!(i128::from(key.alg.cose()), alg);
        }
    }

    #[test]
    fn inconsistent_or_weak_keys_are_refused() {
        let (x, mut y) = p256_point();
        y[31] ^= 1;
        let off_curve = cose(vec![
            (1, Cbor::Integer(2)),
            (3, Cbor::Integer(-7)),
            (-1, Cbor::Integer(1)),
            (-2, Cbor::Bytes(x)),
            (-3, Cbor::Bytes(y)),
        ]);
        assert!(CredentialKey::from_cose(&off_curve, &Alg::ALL).is_err());

        let ed = PKey::generate_ed25519().unwrap();
        let as_ec = cose(vec![
            (1, Cbor::Integer(2)),
            (3, Cbor::Integer(-8)),
            (-1, Cbor::Integer(6)),
            (-2, Cbor::Bytes(ed.raw_public_key().unwrap())),
        ]);
        assert!(
            CredentialKey::from_cose(&as_ec, &Alg::ALL)
                .unwrap_err()
                .contains("Ed25519")
        );
        let ed448_curve = cose(vec![
            (1, Cbor::Integer(1)),
            (3, Cbor::Integer(-8)),
            (-1, Cbor::Integer(7)),
            (-2, Cbor::Bytes(ed.raw_public_key().unwrap())),
        ]);
        assert!(CredentialKey::from_cose(&ed448_curve, &Alg::ALL).is_err());

        let small = Rsa::generate(1024).unwrap();
        let weak = cose(vec![
            (1, Cbor::Integer(3)),
            (3, Cbor::Integer(-37)),
            (-1, Cbor::Bytes(small.n().to_vec())),
            (-2, Cbor::Bytes(small.e().to_vec())),
        ]);
        assert!(
            CredentialKey::from_cose(&weak, &Alg::ALL)
                .unwrap_err()
                .contains("2048")
        );

        let es384 = cose(vec![(1, Cbor::Integer(2)), (3, Cbor::Integer(-35))]);
        assert!(
            CredentialKey::from_cose(&es384, &Alg::ALL)
                .unwrap_err()
                .contains("offered")
        );
        assert!(CredentialKey::from_cose(&Cbor::Integer(1), &Alg::ALL).is_err());
    }
}
