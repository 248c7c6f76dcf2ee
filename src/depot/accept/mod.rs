//! Accepting a sealed message (`POST /depot/messages`), as a use case that knows
//! nothing of HTTP: the route has checked the sender's token and read the body within
//! its limit; then, in the order of the depot's contract (API.md "Depot"; DESIGN.md,
//! seed figure 7):
//!
//! 1. `Idempotency-Key`: a retry gets the first answer;
//! 2. the body and the sealed message's shape, without decrypting;
//! 3. every encryption `kid` belongs to a recipient, the sender, a live symmetric key,
//!    or a substitute of a recipient absent at reception (who then gets a copy);
//! 4. no recipient's box is full;
//! 5. the depot's own client-credentials token, and an RFC 3161 timestamp over the
//!    exact bytes of `sealed` ([`Stamper`]); the co-hosted authority's runs beside
//!    steps 3 and 4 (its result is dropped when they refuse);
//! 6. one transaction: message, sender claims, deliveries, outbox, idempotency record;
//! 7. the answer the route gives with its 201, with the recipients that were absent.
//!
//! Nothing is stored unless every step passed.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

mod keys;

use keys::{Substitution, check_keys};

use super::Caller;
use super::absences::Absences;
use super::boxes::box_key;
use super::deliveries::deliveries;
use super::rate::SenderRate;
use super::request::{self, BodyError, PostedMessage, Retention};
use super::store::{IdempotencyRow, InsertError, MessageRow, NewMessage, Store};
use crate::clock::Clock;
use crate::config::Settings;
use crate::fault::Fault;
use crate::keys::directory::KeyDirectory;
use crate::ops::metrics::{Metrics, RefusalLabels};
use crate::symkeys::store::LiveSymkeys;
use crate::tsa::{ReceptionProof, Stamper, TsaError};

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What accepting a message needs, and nothing more.
pub struct Accepting<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyDirectory,
    pub symkeys: &'a LiveSymkeys,
    pub stamper: &'a Stamper,
    pub clock: &'a Clock,
    pub limits: Limits,
    pub rate: &'a SenderRate,
    /// Told of each stored message, so that its notifications go out now rather than
    /// at the relay's next poll.
    pub relay: Option<&'a queues::relay::RelayControl>,
    /// Where the time-stamp authority's latency and failures are counted.
    pub metrics: &'a Metrics,
    /// Who is absent, and who substitutes.
    pub absences: &'a Absences,
}

/// The configured bounds of a message.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub retention: Retention,
    pub box_quota_bytes: u64,
    pub box_quota_messages: u64,
    pub idempotency: Duration,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            retention: Retention {
                default: Duration::days(i64::from(settings.depot.message_retention_days)),
                max: Duration::days(i64::from(settings.depot.message_max_retention_days)),
            },
            box_quota_bytes: settings.depot.box_quota_bytes,
            box_quota_messages: settings.depot.box_quota_messages,
            idempotency: Duration::hours(i64::from(settings.depot.idempotency_hours)),
        }
    }
}

/// A message as posted.
pub struct Submission<'a> {
    /// The body, which becomes the stored `sealed` text (see [`request::parse`]).
    pub body: Vec<u8>,
    /// Whether the body was declared `application/json`.
    pub declared_json: bool,
    /// The `Idempotency-Key`, as sent.
    pub idempotency_key: Option<&'a [u8]>,
}

/// Why a message is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters")]
    IdempotencyKey,
    #[error("this Idempotency-Key was used with another body; use a new key for a new message")]
    IdempotencyReused,
    #[error("the body must be application/json")]
    NotJson,
    #[error("{0}")]
    Malformed(String),
    #[error("{field}: {detail}")]
    Field { field: String, detail: String },
    #[error(
        "kid {0:?} is neither an active enc key of a recipient, of the sender or of a substitute of an absent recipient, nor a live symmetric key"
    )]
    UnknownKid(String),
    #[error(
        "recipients[{index}]: the recipient's box is full ({held} of {quota} {unit} used); it accepts new messages once it is emptied"
    )]
    BoxFull {
        index: usize,
        held: u64,
        quota: u64,
        /// `bytes` or `messages`.
        unit: &'static str,
    },
    #[error("this sender posts too fast; retry in {0} s")]
    RateLimited(u64),
    #[error(transparent)]
    NoTimestamp(#[from] TsaError),
    /// A failure of ours, or the database unreachable (then nothing was stored, and
    /// the same request may be sent again: `Fault` remembers which).
    #[error("{code}: {detail}")]
    Internal { code: &'static str, detail: Fault },
}

fn internal(code: &'static str) -> impl Fn(sea_orm::DbErr) -> AcceptError {
    move |e| AcceptError::Internal {
        code,
        detail: Fault::of(&e),
    }
}

/// Accepts `submission` from `sender`: the 201 answer (`id`, `receivedAt`,
/// `timestamp`, `sender`), the first one again for a retry.
pub async fn accept(
    deps: &Accepting<'_>,
    sender: &Caller,
    submission: Submission<'_>,
) -> Result<Value, AcceptError> {
    let idempotency = idempotency(submission.idempotency_key, sender, &submission.body)?;
    let now = deps.clock.now();
    if let Some(idempotency) = &idempotency
        && let Some(answer) = replay(deps, idempotency, now).await?
    {
        return Ok(answer);
    }
    deps.rate
        .admit(&sender.owner.owner, now)
        .map_err(AcceptError::RateLimited)?;
    if !submission.declared_json {
        return Err(AcceptError::NotJson);
    }
    let posted = parse(deps, submission.body, now)?;
    // Steps 3 and 4 only read: they run side by side, and a message failing both is
    // refused for the first, as if they had run in turn.
    let checks = async {
        let (keys, quotas) = tokio::join!(
            check_keys(deps, sender, &posted, now),
            check_quotas(deps, &posted)
        );
        keys.and_then(|substitution| quotas.map(|()| substitution))
    };
    let sealed = posted.sealed.text.as_bytes();
    let proof = if deps.stamper.is_in_process() {
        // The co-hosted authority stamps beside the checks, so that its serial number's
        // round trip adds no wait of its own. A refused message has then cost a serial
        // number and a signature, never a request to an outside authority, and its
        // refusal is the checks' one whatever the stamp's outcome.
        let (checked, proof) = tokio::join!(checks, stamp(deps, sealed));
        (checked?, proof?)
    } else {
        let checked = checks.await?;
        (checked, stamp(deps, sealed).await?)
    };
    let (substitution, proof) = proof;
    match (
        store(
            deps,
            sender,
            posted,
            substitution,
            proof,
            idempotency.as_ref(),
        )
        .await,
        idempotency,
    ) {
        (Err(InsertError::IdempotencyRace), Some(idempotency)) => replay(deps, &idempotency, now)
            .await?
            .ok_or_else(|| AcceptError::Internal {
                code: "E-DEPOT-IDEMPOTENCY",
                detail: Fault::of(&"the racing record vanished"),
            }),
        (Err(InsertError::IdempotencyRace), None) => Err(AcceptError::Internal {
            code: "E-DEPOT-IDEMPOTENCY",
            detail: Fault::of(&"an idempotency race without a key"),
        }),
        (Err(InsertError::Db(e)), _) => Err(internal("E-DEPOT-STORE")(e)),
        (Ok(answer), _) => Ok(answer),
    }
}

/// A key the sender chose, scoped to the sending (client, user), with the body's hash.
pub struct Idempotency {
    scope: String,
    key: String,
    request_hash: String,
}

/// Step 1a: the `Idempotency-Key`, if any.
fn idempotency(
    header: Option<&[u8]>,
    sender: &Caller,
    body: &[u8],
) -> Result<Option<Idempotency>, AcceptError> {
    let Some(header) = header else {
        return Ok(None);
    };
    let key = std::str::from_utf8(header)
        .ok()
        .filter(|k| (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len()))
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(AcceptError::IdempotencyKey)?;
    Ok(Some(Idempotency {
        scope: format!("{} {}", sender.claims.client_id, sender.owner.owner),
        key: key.to_owned(),
        request_hash: B64.encode(openssl::sha::sha256(body)),
    }))
}

/// Step 1b: the first answer to this key, when there was one.
async fn replay(
    deps: &Accepting<'_>,
    idempotency: &Idempotency,
    now: DateTime<Utc>,
) -> Result<Option<Value>, AcceptError> {
    let Some(record) = deps
        .store
        .idempotent_answer(&idempotency.scope, &idempotency.key, now)
        .await
        .map_err(internal("E-DEPOT-IDEMPOTENCY"))?
    else {
        return Ok(None);
    };
    if record.request_hash != idempotency.request_hash {
        return Err(AcceptError::IdempotencyReused);
    }
    Ok(Some(record.response))
}

/// Step 2: the body and the sealed message's shape; the body becomes `sealed`.
fn parse(
    deps: &Accepting<'_>,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<PostedMessage, AcceptError> {
    request::parse(body, now, deps.limits.retention).map_err(|e| match e {
        BodyError::Malformed(detail) => AcceptError::Malformed(detail),
        BodyError::Field(f) => AcceptError::Field {
            field: f.field,
            detail: f.detail,
        },
    })
}

/// Step 4: a full box refuses new messages: by bytes, and by count (so that a flood of
/// tiny messages cannot make a box unmanageable).
async fn check_quotas(deps: &Accepting<'_>, posted: &PostedMessage) -> Result<(), AcceptError> {
    let keys: Vec<String> = posted.recipients.iter().map(box_key).collect();
    let used = deps
        .store
        .box_usage(keys.clone())
        .await
        .map_err(internal("E-DEPOT-QUOTA"))?;
    let size = posted.sealed.text.len() as u64;
    for (index, key) in keys.iter().enumerate() {
        let usage = used.get(key).copied().unwrap_or_default();
        let (bytes, messages) = (
            usage.bytes.max(0).cast_unsigned(),
            usage.messages.max(0).cast_unsigned(),
        );
        let full = if bytes + size > deps.limits.box_quota_bytes {
            Some((bytes, deps.limits.box_quota_bytes, "bytes"))
        } else if messages + 1 > deps.limits.box_quota_messages {
            Some((messages, deps.limits.box_quota_messages, "messages"))
        } else {
            None
        };
        if let Some((held, quota, unit)) = full {
            return Err(AcceptError::BoxFull {
                index,
                held,
                quota,
                unit,
            });
        }
    }
    Ok(())
}

/// Step 6: everything in one transaction; the 201 body.
async fn store(
    deps: &Accepting<'_>,
    sender: &Caller,
    posted: PostedMessage,
    substitution: Substitution,
    proof: ReceptionProof,
    idempotency: Option<&Idempotency>,
) -> Result<Value, InsertError> {
    let id = uuid::Uuid::now_v7().to_string();
    let received_at = deps.clock.now();
    let claims = sender.sender_claims();
    let mut answer = json!({
        "id": id,
        "receivedAt": received_at,
        "timestamp": STANDARD.encode(&proof.response),
        "sender": claims,
    });
    // Only when someone was absent: the contract's four members otherwise.
    if !substitution.absent.is_empty() {
        answer["absentRecipients"] = substitution.answer();
    }
    let deliveries = deliveries(
        &posted.recipients,
        &substitution.reached,
        &id,
        &posted.application,
        received_at,
    );
    let idempotency = idempotency.map(|i| IdempotencyRow {
        scope: i.scope.clone(),
        key: i.key.clone(),
        request_hash: i.request_hash.clone(),
        message_id: id.clone(),
        response: answer.clone(),
        created_at: received_at,
        expires_at: received_at + deps.limits.idempotency,
    });
    let row = MessageRow {
        id: id.clone(),
        application: posted.application,
        sender_owner: sender.sent_box().to_owned(),
        sender: claims,
        size: posted.sealed.text.len() as i64,
        sealed: posted.sealed.text,
        sealed_is_json: posted.sealed.is_json,
        recipients: json!(posted.recipients),
        metadata: Value::Object(posted.metadata),
        timestamp: proof.response,
        received_at,
        expires_at: posted.expires_at,
    };
    let new = NewMessage {
        row,
        sent_box: sender.sent_box().to_owned(),
        deliveries,
        idempotency,
    };
    deps.store.insert(new).await?;
    if let Some(relay) = deps.relay {
        relay.wake();
    }
    tracing::info!(message_id = id, "message accepted");
    Ok(answer)
}

/// The proof of reception, timed and, when it cannot be had, counted by reason.
async fn stamp(deps: &Accepting<'_>, data: &[u8]) -> Result<ReceptionProof, TsaError> {
    let started = std::time::Instant::now();
    let proof = deps.stamper.stamp(data).await;
    deps.metrics
        .tsa_duration
        .observe(started.elapsed().as_secs_f64());
    if let Err(e) = &proof {
        let reason = match e {
            TsaError::Unavailable(_) => "unavailable",
            TsaError::Rejected(_) => "rejected",
            TsaError::Invalid(_) => "invalid",
            TsaError::Auth(_) => "auth",
        };
        deps.metrics
            .tsa_failures
            .get_or_create(&RefusalLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
    proof
}
