//! Step 5b of opening a message: the signer's key, as the keystore shows it, is what
//! the keystore's transparency log recorded (`crate::keys::log`), and that log is the
//! one this client saw before.
//!
//! The JWKS answer carries, for the key, the inclusion proof of its latest event and
//! the signed tree head the proof is against. The client
//! 1. checks the head's signature (the authorization server's key, `GET /oauth2/jwks`);
//! 2. rebuilds the event's entry from the key as shown (so a key row changed in the
//!    database, its JWK, owner, validity or revocation, no longer matches its leaf)
//!    and checks the proof;
//! 3. checks that the log only grew since the last head it trusted: the heads of both
//!    are prefixes of the current tree (consistency proofs from each, RFC 9162
//!    §2.1.4), so a log rewritten behind it is refused;
//! 4. trusts the newest head from then on, kept in its home when it has one.
//!
//! The first head a client sees is trusted on first use.

use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2_11::Sha256;

use super::super::{ClientError, Session};
use crate::keys::log::{Event, HEAD_TYP};

/// A tree head this client checked: the tree's size and root hash (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub tree_size: u64,
    pub root_hash: String,
}

/// The last tree head this client trusted, and where it keeps it.
#[derive(Debug, Default)]
pub struct LogTrust {
    file: Option<PathBuf>,
    last: Mutex<Option<Head>>,
}

impl LogTrust {
    /// The head kept in `file` (none yet when the file does not exist); later heads are
    /// written there.
    pub fn kept_in(file: PathBuf) -> Result<Self, ClientError> {
        let last = match std::fs::read(&file) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Protocol(format!("{}: not a tree head: {e}", file.display()))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ClientError::Protocol(format!(
                    "reading {}: {e}",
                    file.display()
                )));
            }
        };
        Ok(Self {
            file: Some(file),
            last: Mutex::new(last),
        })
    }

    /// The last head trusted.
    pub fn last(&self) -> Option<Head> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Head>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn trust(&self, head: Head) -> Result<(), String> {
        let mut last = self.lock();
        if last.as_ref().is_some_and(|l| l.tree_size >= head.tree_size) {
            return Ok(());
        }
        if let Some(file) = &self.file {
            let text = serde_json::to_vec_pretty(&head).map_err(|e| e.to_string())?;
            // A head is public; written whole, then renamed over the last one.
            let next = file.with_extension("next");
            std::fs::write(&next, &text)
                .and_then(|()| std::fs::rename(&next, file))
                .map_err(|e| format!("keeping the tree head in {}: {e}", file.display()))?;
        }
        *last = Some(head);
        Ok(())
    }
}

/// Checks `key` (a JWKS entry with its `log` member) against the signed head `head`
/// (the answer's `log_head`) and the head trusted before; see the module documentation.
/// Answers what was proved.
pub async fn check(
    session: &Session,
    trust: &LogTrust,
    key: &Value,
    head: &Value,
) -> Result<String, String> {
    let signers = session
        .get_json("/oauth2/jwks")
        .await
        .map_err(|e| format!("the service's signing keys cannot be read: {e}"))?;
    let current = signed_head(head, &signers, &session.issuer)?;
    let log = &key["log"];
    let (Some(index), Some(event)) = (
        log["index"].as_u64(),
        log["event"].as_str().and_then(Event::parse),
    ) else {
        return Err("the keystore vouched for this key with no entry of its log".into());
    };
    let entry = rebuilt(key, event)?;
    let proof = InclusionProof::<Sha256>::try_from_bytes(proof_bytes(&log["proof"])?)
        .map_err(|e| format!("malformed inclusion proof: {e:?}"))?;
    root(&current)?
        .verify_inclusion(&entry, index, &proof)
        .map_err(|_| {
            format!(
                "the key as the keystore shows it is not entry {index} ({}) of its log: the directory changed since it logged the key",
                event.as_str()
            )
        })?;
    let newest = grown_from(session, &signers, trust.last(), &current).await?;
    let detail = format!(
        "key {} ({}) is entry {index} of the keystore's log of {} entries{}",
        key["kid"].as_str().unwrap_or("?"),
        event.as_str(),
        current.tree_size,
        match trust.last() {
            Some(last) => format!(
                ", which extends the log of {} entries trusted before",
                last.tree_size
            ),
            None => ", whose head is trusted from now on".into(),
        }
    );
    trust.trust(newest)?;
    Ok(detail)
}

/// The head a `{tree_size, root_hash, signed_head}` object states, once its signature
/// by one of `signers` and its claims check.
fn signed_head(head: &Value, signers: &Value, issuer: &str) -> Result<Head, String> {
    let jwt = head["signed_head"]
        .as_str()
        .ok_or("the answer has no signed tree head")?;
    let header = josekit::jwt::decode_header(jwt).map_err(|e| format!("tree head: {e}"))?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let signer = signers["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .and_then(Value::as_object)
        .ok_or_else(|| format!("the tree head is signed by an unknown key {kid:?}"))?;
    let verifier = crate::authz::jwks::verifier_for("ES256", signer)?;
    let (payload, header) = josekit::jws::deserialize_compact(jwt, &*verifier)
        .map_err(|_| "the tree head's signature does not verify".to_owned())?;
    if header.claim("typ").and_then(Value::as_str) != Some(HEAD_TYP) {
        return Err(format!("the tree head is not a {HEAD_TYP}"));
    }
    let claims: Value = serde_json::from_slice(&payload).map_err(|e| format!("tree head: {e}"))?;
    let stated = Head {
        tree_size: claims["tree_size"]
            .as_u64()
            .ok_or("tree head without tree_size")?,
        root_hash: claims["root_hash"]
            .as_str()
            .ok_or("tree head without root_hash")?
            .to_owned(),
    };
    if claims["iss"] != issuer {
        return Err(format!(
            "the tree head is issued by {}, not {issuer}",
            claims["iss"]
        ));
    }
    if head["tree_size"].as_u64() != Some(stated.tree_size)
        || head["root_hash"] != json!(stated.root_hash)
    {
        return Err("the tree head differs from what its signature covers".into());
    }
    Ok(stated)
}

/// The entry a key's event would have in the log: `crate::keys::log::entry`, from the
/// key as the JWKS shows it, in canonical form.
fn rebuilt(key: &Value, event: Event) -> Result<Vec<u8>, String> {
    const SHOWN: &[&str] = &[
        "status",
        "not_before",
        "not_after",
        "revoked_at",
        "client_id",
        "identity",
        "log",
    ];
    let shown = key.as_object().ok_or("the key is not a JSON object")?;
    let jwk: serde_json::Map<String, Value> = shown
        .iter()
        .filter(|(name, _)| !SHOWN.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let time = |name: &str| -> Result<String, String> {
        let text = key[name]
            .as_str()
            .ok_or_else(|| format!("the key shows no {name}"))?;
        let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| format!("{name}: {e}"))?;
        Ok(crate::keys::log::millis(at.with_timezone(&chrono::Utc)))
    };
    let mut entry = json!({
        "event": event.as_str(),
        "kid": key["kid"],
        "jwk": jwk,
        "identity": key["identity"],
        "client_id": key["client_id"],
        "not_before": time("not_before")?,
        "not_after": time("not_after")?,
    });
    if event == Event::Revoked {
        if key.get("revoked_at").is_none() {
            return Err("the log's latest event of this key is its revocation, and the keystore shows it unrevoked: the directory changed since".into());
        }
        entry["revoked_at"] = json!(time("revoked_at")?);
    }
    crate::keys::log::canonical(&entry).map_err(|e| e.to_string())
}

/// The newest head, once the log is shown to have only grown from both `trusted` (if
/// any) and `current`: each is a prefix of the tree the service has now.
async fn grown_from(
    session: &Session,
    signers: &Value,
    trusted: Option<Head>,
    current: &Head,
) -> Result<Head, String> {
    let Some(trusted) = trusted else {
        return Ok(current.clone());
    };
    if trusted.tree_size == current.tree_size {
        return if trusted.root_hash == current.root_hash {
            Ok(current.clone())
        } else {
            Err(format!(
                "the log of {} entries has another root than the one trusted before: it was rewritten",
                trusted.tree_size
            ))
        };
    }
    // The service's tree may grow between two questions: ask again until both proofs
    // are against the same head.
    for _ in 0..3 {
        let (first, newest) = consistency(session, signers, &trusted).await?;
        let (second, again) = consistency(session, signers, current).await?;
        if newest != again {
            continue;
        }
        let newest_root = root(&newest)?;
        for (from, proof) in [(&trusted, first), (current, second)] {
            if from.tree_size == newest.tree_size {
                if from.root_hash != newest.root_hash {
                    return Err("two heads of one size differ: the log was rewritten".into());
                }
                continue;
            }
            newest_root
                .verify_consistency(&root(from)?, &proof)
                .map_err(|_| {
                    format!(
                        "the log of {} entries is not a prefix of the log of {}: it was rewritten",
                        from.tree_size, newest.tree_size
                    )
                })?;
        }
        return Ok(newest);
    }
    Err("the log kept growing while its consistency was asked; try again".into())
}

async fn consistency(
    session: &Session,
    signers: &Value,
    from: &Head,
) -> Result<(ConsistencyProof<Sha256>, Head), String> {
    let answer = session
        .get_json(&format!("/keys/log/consistency?from={}", from.tree_size))
        .await
        .map_err(|e| format!("the consistency of the log cannot be asked: {e}"))?;
    let head = signed_head(&answer["head"], signers, &session.issuer)?;
    let proof = ConsistencyProof::<Sha256>::try_from_bytes(proof_bytes(&answer["proof"])?)
        .map_err(|e| format!("malformed consistency proof: {e:?}"))?;
    Ok((proof, head))
}

fn root(head: &Head) -> Result<RootHash<Sha256>, String> {
    let bytes = B64
        .decode(&head.root_hash)
        .map_err(|e| format!("root hash: {e}"))?;
    let digest = sha2_11::digest::Output::<Sha256>::try_from(bytes.as_slice())
        .map_err(|_| "a root hash is 32 bytes".to_owned())?;
    Ok(RootHash::new(digest, head.tree_size))
}

fn proof_bytes(proof: &Value) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for hash in proof.as_array().ok_or("a proof is a list of hashes")? {
        let hash = hash.as_str().ok_or("a proof's hash is a string")?;
        let decoded = B64.decode(hash).map_err(|e| format!("proof hash: {e}"))?;
        if decoded.len() != 32 {
            return Err("a proof's hash is 32 bytes".into());
        }
        bytes.extend(decoded);
    }
    Ok(bytes)
}
