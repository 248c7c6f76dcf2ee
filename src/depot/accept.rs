//! `POST /depot/messages`: the accept pipeline, one step per function, in the order
//! the depot's contract gives (API.md "Depot"; DESIGN.md, seed figure 7):
//!
//! 1. the sender's token (`depot:send`, audience depot);
//! 2. the body limit;
//! 3. `Idempotency-Key`: a retry gets the first answer;
//! 4. the body and the sealed message's shape, without decrypting;
//! 5. every encryption `kid` belongs to a recipient, the sender or a live symmetric key;
//! 6. no recipient's box is full;
//! 7. the depot's own client-credentials token;
//! 8. an RFC 3161 timestamp over the exact bytes of `sealed`;
//! 9. one transaction: message, sender claims, boxes, outbox, idempotency record;
//! 10. 201.
//!
//! Nothing is stored unless every step passed.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::Caller;
use super::boxes::box_key;
use super::request::{self, BodyError, PostedMessage, Retention};
use super::store::{self, Delivery, IdempotencyRow, InsertError, MessageRow, NewMessage};
use crate::authz::scope::{Resource, Scope};
use crate::body;
use crate::keys::KeyUse;
use crate::keys::store::{self as keystore, IdentityFilter, Search};
use crate::people::Identifier;
use crate::problem::Problem;
use crate::state::AppState;
use crate::tsa::client::ReceptionProof;

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub async fn accept(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let sender = authorize(state, req).await?;
    let body = read_body(state, payload).await?;
    let idempotency = idempotency(req, &sender, &body)?;
    let now = state.clock.now();
    if let Some(idempotency) = &idempotency
        && let Some(answer) = replay(state, idempotency, now).await?
    {
        return Ok(answer);
    }
    let posted = parse(state, req, &body, now)?;
    // Steps 5 and 6 only read: they run side by side, and a message failing both is
    // refused for the first, as if they had run in turn.
    let (keys, quotas) = tokio::join!(
        check_keys(state, &sender, &posted, now),
        check_quotas(state, &posted)
    );
    keys.and(quotas)?;
    own_token(state).await?;
    let proof = timestamp(state, &posted).await?;
    let stored = store(state, &sender, posted, proof, idempotency.as_ref()).await;
    match (stored, idempotency) {
        (Err(StoreOutcome::Race), Some(idempotency)) => replay(state, &idempotency, now)
            .await?
            .ok_or_else(|| Problem::internal("E-DEPOT-IDEMPOTENCY", &"the racing record vanished")),
        (Err(StoreOutcome::Race), None) => Err(Problem::internal(
            "E-DEPOT-IDEMPOTENCY",
            &"an idempotency race without a key",
        )),
        (Err(StoreOutcome::Failed(problem)), _) => Err(problem),
        (Ok(answer), _) => Ok(created(&answer)),
    }
}

/// Step 1: a token with `depot:send` for the depot.
async fn authorize(state: &AppState, req: &HttpRequest) -> Result<Caller, Problem> {
    let claims = state
        .verifier
        .require(req, Resource::Depot, Scope::DepotSend)
        .await?;
    Caller::of_token(claims).map_err(|e| Problem::new(StatusCode::FORBIDDEN, "no-identity", e))
}

/// Step 2: the body, refused as soon as it passes the configured limit.
async fn read_body(state: &AppState, payload: web::Payload) -> Result<web::Bytes, Problem> {
    body::read(payload, state.config.settings.message_max_bytes).await
}

/// A key the sender chose, scoped to the sending (client, user), with the body's hash.
pub struct Idempotency {
    scope: String,
    key: String,
    request_hash: String,
}

/// Step 3a: the `Idempotency-Key` header, if any.
fn idempotency(
    req: &HttpRequest,
    sender: &Caller,
    body: &[u8],
) -> Result<Option<Idempotency>, Problem> {
    let Some(header) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = header
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len()))
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::invalid_field(
                "Idempotency-Key",
                format!("1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
            )
        })?;
    Ok(Some(Idempotency {
        scope: format!("{} {}", sender.claims.client_id, sender.owner.owner),
        key: key.to_owned(),
        request_hash: B64.encode(openssl::sha::sha256(body)),
    }))
}

/// Step 3b: the first answer to this key, when there was one.
async fn replay(
    state: &AppState,
    idempotency: &Idempotency,
    now: DateTime<Utc>,
) -> Result<Option<HttpResponse>, Problem> {
    let Some(record) =
        store::idempotent_answer(&state.db, &idempotency.scope, &idempotency.key, now)
            .await
            .map_err(|e| Problem::internal("E-DEPOT-IDEMPOTENCY", &e))?
    else {
        return Ok(None);
    };
    if record.request_hash != idempotency.request_hash {
        return Err(Problem::conflict(
            "this Idempotency-Key was used with another body; use a new key for a new message",
        ));
    }
    Ok(Some(created(&record.response)))
}

/// Step 4: the body and the sealed message's shape.
fn parse(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<PostedMessage, Problem> {
    if !body::media_type(req).eq_ignore_ascii_case("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be application/json",
        ));
    }
    let settings = &state.config.settings;
    let retention = Retention {
        default: Duration::days(i64::from(settings.message_retention_days)),
        max: Duration::days(i64::from(settings.message_max_retention_days)),
    };
    request::parse(body, now, retention).map_err(|e| match e {
        BodyError::Malformed(detail) => Problem::bad_request(detail),
        BodyError::Field(f) => Problem::invalid_field(f.field, f.detail),
    })
}

/// The kids of the active `enc` keys of the recipients and of the sender.
async fn enc_kids(
    state: &AppState,
    sender: &Caller,
    posted: &PostedMessage,
    now: DateTime<Utc>,
) -> Result<HashSet<String>, sea_orm::DbErr> {
    let policy = &state.keystore.policy;
    let mut identities: Vec<IdentityFilter> =
        posted.recipients.iter().map(IdentityFilter::from).collect();
    let mut kids = HashSet::new();
    match serde_json::from_value::<Identifier>(sender.owner.identifier()) {
        Ok(id) => identities.push(IdentityFilter::from(&id)),
        // A system client of no organization: its own keys.
        Err(_) => {
            let search = Search {
                client_id: Some(sender.claims.client_id.clone()),
                key_use: Some(KeyUse::Enc),
                ..Search::default()
            };
            let own = keystore::search(&state.db, &search, now, policy).await?;
            kids.extend(own.into_iter().map(|k| k.kid));
        }
    }
    kids.extend(
        state
            .active_kids
            .of_any(identities, KeyUse::Enc, now)
            .await?,
    );
    Ok(kids)
}

/// Step 5: every recipient entry is encrypted to an active `enc` key of a recipient
/// or of the sender (so the sent box stays readable), or to a live symmetric key.
async fn check_keys(
    state: &AppState,
    sender: &Caller,
    posted: &PostedMessage,
    now: DateTime<Utc>,
) -> Result<(), Problem> {
    let known = enc_kids(state, sender, posted, now)
        .await
        .map_err(|e| Problem::internal("E-DEPOT-KEYS", &e))?;
    for recipient in &posted.sealed.envelope.recipients {
        if known.contains(&recipient.kid) {
            continue;
        }
        let live_symkey = match uuid::Uuid::parse_str(&recipient.kid) {
            Ok(_) => crate::symkeys::store::get(&state.db, &recipient.kid)
                .await
                .map_err(|e| Problem::internal("E-DEPOT-SYMKEY", &e))?
                .is_some_and(|k| k.expires_at > now),
            Err(_) => false,
        };
        if !live_symkey {
            return Err(Problem::invalid_field(
                "sealed",
                format!(
                    "kid {:?} is neither an active enc key of a recipient or of the sender, nor a live symmetric key",
                    recipient.kid
                ),
            ));
        }
    }
    Ok(())
}

/// Step 6: a full box refuses new messages.
async fn check_quotas(state: &AppState, posted: &PostedMessage) -> Result<(), Problem> {
    let quota = state.config.settings.box_quota_bytes;
    let keys: Vec<String> = posted.recipients.iter().map(box_key).collect();
    let used = state
        .depot
        .box_bytes(keys.clone())
        .await
        .map_err(|e| Problem::internal("E-DEPOT-QUOTA", &e))?;
    let size = posted.sealed.text.len() as u64;
    for (i, key) in keys.iter().enumerate() {
        let held = used.get(key).copied().unwrap_or(0).max(0).cast_unsigned();
        if held + size > quota {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "box-full",
                format!(
                    "recipients[{i}]: the recipient's box is full ({held} of {quota} bytes used); it accepts new messages once it is emptied"
                ),
            )
            .with_member("field", json!(format!("recipients[{i}]"))));
        }
    }
    Ok(())
}

fn tsa_unavailable(e: &dyn std::fmt::Display) -> Problem {
    tracing::warn!(error = %e, "no timestamp: message refused");
    Problem::unavailable("the time-stamp authority cannot be reached; try again shortly")
        .with_header("Retry-After", "5".into())
}

/// Step 7: the depot's own client-credentials token for the TSA.
async fn own_token(state: &AppState) -> Result<(), Problem> {
    state
        .tsa_client
        .authenticate()
        .await
        .map_err(|e| tsa_unavailable(&e))
}

/// Step 8: the proof of reception over the exact bytes of `sealed`.
/// The co-hosted TSA is called in-process; one named by `DEPOT_TSA_URL` over HTTP.
async fn timestamp(state: &AppState, posted: &PostedMessage) -> Result<ReceptionProof, Problem> {
    let data = posted.sealed.text.as_bytes();
    let proof = match state.config.settings.tsa_url {
        None => {
            crate::tsa::stamp_in_process(&state.tsa, &state.tsa_serials, data, state.clock.now())
                .await
        }
        Some(_) => state.tsa_client.stamp(data).await,
    };
    proof.map_err(|e| tsa_unavailable(&e))
}

enum StoreOutcome {
    Race,
    Failed(Problem),
}

/// Step 9: everything in one transaction; answers the 201 body.
async fn store(
    state: &AppState,
    sender: &Caller,
    posted: PostedMessage,
    proof: ReceptionProof,
    idempotency: Option<&Idempotency>,
) -> Result<Value, StoreOutcome> {
    let id = uuid::Uuid::now_v7().to_string();
    let received_at = state.clock.now();
    let claims = sender.sender_claims();
    let answer = json!({
        "id": id,
        "receivedAt": received_at,
        "timestamp": STANDARD.encode(&proof.response),
        "sender": claims,
    });
    let deliveries = posted
        .recipients
        .iter()
        .map(|recipient| Delivery {
            box_key: box_key(recipient),
            recipient: json!(recipient),
            notification: queues::MessageReceived {
                kind: "message.received".into(),
                message_id: id.clone(),
                application: posted.application.clone(),
                recipient: json!(recipient),
                received_at: received_at.to_rfc3339(),
            },
        })
        .collect();
    let idempotency = idempotency.map(|i| IdempotencyRow {
        scope: i.scope.clone(),
        key: i.key.clone(),
        request_hash: i.request_hash.clone(),
        message_id: id.clone(),
        response: answer.clone(),
        created_at: received_at,
        expires_at: received_at
            + Duration::hours(i64::from(state.config.settings.idempotency_hours)),
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
    match state.depot.insert(new).await {
        Ok(()) => {
            state.wake_relay();
            tracing::info!(message_id = id, "message accepted");
            Ok(answer)
        }
        Err(InsertError::IdempotencyRace) => Err(StoreOutcome::Race),
        Err(InsertError::Db(e)) => {
            Err(StoreOutcome::Failed(Problem::internal("E-DEPOT-STORE", &e)))
        }
    }
}

/// Step 10: 201 with the message's location.
fn created(answer: &Value) -> HttpResponse {
    let id = answer["id"].as_str().unwrap_or_default();
    HttpResponse::Created()
        .insert_header((LOCATION, format!("/depot/messages/{id}")))
        .json(answer)
}
