//! The depot's HTTP surface (API.md "Depot"): send, list (with a stable cursor and a
//! long poll), fetch, receipts, delete, and the box summary. A message is visible only
//! to its recipients and its sender; anyone else gets the same 404 as for a message
//! that does not exist.

use std::time::Duration as StdDuration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::accept::{AcceptError, Accepting, MAX_IDEMPOTENCY_KEY, Submission, accept};
use super::store::{self, Cursor, EntryRow, INBOX, Listing, SENT};
use super::{Caller, views};
use crate::authz::guard::{Authorized, needs};
use crate::ops::audit;
use crate::ops::metrics::RefusalLabels;
use crate::problem::{Problem, db_error as db_problem};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(send)
        .service(list)
        .service(box_summary)
        .service(fetch)
        .service(read)
        .service(remove);
}

/// The depot's view of a caller the guard let through.
fn caller_of<N>(who: Authorized<N>) -> Result<Caller, Problem> {
    Caller::of_token(who.claims).map_err(|e| Problem::new(StatusCode::FORBIDDEN, "no-identity", e))
}

fn no_such_message() -> Problem {
    Problem::not_found("no such message in your boxes")
}

/// Accepts a sealed message (see [`super::accept`]): the sender's token, the body
/// within its limit, then the use case.
#[utoipa::path(post, path = "/depot/messages", tag = "depot",
    request_body(content = serde_json::Value, description = "{application, recipients: [identifier…], sealed: JWE compact string or JSON object, expiresAt?, metadata?}"),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key and body gets the first answer")),
    responses((status = 201, description = "{id, receivedAt, timestamp (base64 TimeStampResp), sender, absentRecipients: [{recipient, absent, from, until, substitutes, reached}]}"),
        (status = 400, description = "not JSON, or a body shorter than its Content-Length"), (status = 401, description = "no valid token"),
        (status = 403, description = "no depot:send scope or audience"), (status = 409, description = "the Idempotency-Key was used with another body"),
        (status = 413, description = "over the size limit (a Content-Length over it before the body is read)"), (status = 415, description = "not application/json"),
        (status = 422, description = "a malformed JWE, a bad recipient, a key that is no recipient's, a full box; `field` names it"),
        (status = 429, description = "the sender posts past its rate; Retry-After"),
        (status = 503, description = "no timestamp could be obtained, the database cannot be reached, or no room among the bodies in flight within 30 s; Retry-After")))]
#[post("/depot/messages")]
pub async fn send(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotSend>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let sender = caller_of(who)?;
    let answer = accept_posted(&state, &sender, &req, payload).await;
    match &answer {
        Ok(_) => state.metrics.messages_accepted.inc(),
        Err(problem) => state
            .metrics
            .messages_refused
            .get_or_create(&RefusalLabels {
                reason: problem.slug.to_owned(),
            })
            .inc(),
    };
    let answer = answer?;
    let id = answer["id"].as_str().unwrap_or_default();
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/depot/messages/{id}")))
        .json(&answer))
}

/// How long a posted body waits for room among the bodies in flight before it is
/// answered 503: longer than storing the bodies ahead of it takes (the database and
/// the TSA answer, or fail, within seconds), shorter than a proxy's or a client's
/// patience, so that the sender hears "retry later" rather than a cut connection.
pub const BODY_ROOM_WAIT: StdDuration = StdDuration::from_secs(30);

/// The body read within its limit and within the room of the bodies in flight, then
/// the use case. The room is held until the use case is done: the body, and what is
/// made of it, is then stored or dropped.
async fn accept_posted(
    state: &AppState,
    sender: &Caller,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, Problem> {
    let mut room = state.depot_bodies.reservation();
    let body = crate::body::read_sized(
        payload,
        state.config.settings.depot.message_max_bytes,
        crate::body::content_length(req),
        &mut room,
    )
    .await?;
    let submission = Submission {
        body,
        declared_json: crate::body::media_type(req).eq_ignore_ascii_case("application/json"),
        idempotency_key: req.headers().get("idempotency-key").map(|h| h.as_bytes()),
    };
    let accepting = Accepting {
        store: &state.depot,
        keys: &state.key_directory,
        symkeys: &state.live_symkeys,
        stamper: &state.stamper,
        clock: &state.clock,
        limits: state.depot_limits,
        rate: &state.sender_rate,
        relay: state.relay.as_ref(),
        metrics: &state.metrics,
        absences: &state.absences,
    };
    let answer = accept(&accepting, sender, submission).await;
    drop(room);
    Ok(answer?)
}

impl From<AcceptError> for Problem {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::IdempotencyKey => Problem::invalid_field(
                "Idempotency-Key",
                format!("1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
            ),
            AcceptError::IdempotencyReused => Problem::conflict(e.to_string()),
            AcceptError::NotJson => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                e.to_string(),
            ),
            AcceptError::Malformed(detail) => Problem::bad_request(detail),
            AcceptError::Field { field, detail } => Problem::invalid_field(field, detail),
            AcceptError::UnknownKid(_) => Problem::invalid_field("sealed", e.to_string()),
            AcceptError::BoxFull { index, .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "box-full", e.to_string())
                    .with_member("field", json!(format!("recipients[{index}]")))
            }
            AcceptError::RateLimited(seconds) => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", e.to_string())
                    .with_header("Retry-After", seconds.to_string())
            }
            AcceptError::NoTimestamp(e) => {
                tracing::warn!(error = %e, "no timestamp: message refused");
                Problem::unavailable(
                    "the time-stamp authority cannot be reached; try again shortly",
                )
                .with_header("Retry-After", "5".into())
            }
            AcceptError::Internal { code, detail } => Problem::internal(code, &detail),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `inbox` (default) or `sent`.
    #[serde(rename = "box")]
    pub folder: Option<String>,
    pub application: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<u64>,
    /// `nextCursor` of the previous answer: only later messages.
    pub cursor: Option<String>,
    /// Seconds (≤ 30) to wait for a message when there is none yet.
    pub wait: Option<u64>,
}

/// The caller's boxes for a folder.
fn boxes_of(caller: &Caller, folder: &str) -> Vec<String> {
    if folder == SENT {
        vec![caller.sent_box().to_owned()]
    } else {
        caller.inboxes.clone()
    }
}

/// Lists a box, oldest first after the cursor; `nextCursor` continues from the last
/// message shown (or stays put when there was none), so a poller never misses one.
#[utoipa::path(get, path = "/depot/messages", tag = "depot", params(ListQuery),
    responses((status = 200, description = "{messages: [{id, application, sender, receivedAt, size, metadata, receipts}], nextCursor}"),
        (status = 401, description = "no valid token"), (status = 403, description = "no depot:read scope"),
        (status = 422, description = "a bad parameter, named")))]
#[get("/depot/messages")]
pub async fn list(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let caller = caller_of(who)?;
    let folder = match query.folder.as_deref() {
        None | Some("inbox") => INBOX,
        Some("sent") => SENT,
        Some(_) => return Err(Problem::invalid_field("box", "must be inbox or sent")),
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be from 1 to 500"));
    }
    let wait = query.wait.unwrap_or(0);
    if wait > 30 {
        return Err(Problem::invalid_field("wait", "at most 30 seconds"));
    }
    let after = match &query.cursor {
        None => Cursor::default(),
        Some(c) => c
            .parse::<Cursor>()
            .map_err(|()| Problem::invalid_field("cursor", "not a cursor of this box"))?,
    };
    let boxes = boxes_of(&caller, folder);
    let listing = Listing {
        boxes: &boxes,
        folder,
        application: query.application.as_deref(),
        after,
        limit,
    };
    let start = tokio::time::Instant::now();
    let deadline = start + StdDuration::from_secs(wait);
    let settle_by = deadline.max(start + SETTLE);
    // Subscribed before the first look, so that a commit right after it still wakes.
    let mut waiter = (wait > 0).then(|| {
        state
            .depot
            .signals()
            .waiter(boxes.iter().map(String::as_str))
    });
    let entries = loop {
        let below = store::listable_below(&state.db)
            .await
            .map_err(db_problem("E-DEPOT-LIST"))?;
        let entries = store::entries(&state.db, &listing, below)
            .await
            .map_err(db_problem("E-DEPOT-LIST"))?;
        if entries.len() < listing.limit as usize
            && tokio::time::Instant::now() < settle_by
            && let Some(below) = below
            && let Some(xid) = store::held_back(&state.db, &listing, below)
                .await
                .map_err(db_problem("E-DEPOT-LIST"))?
        {
            settle(&state, xid, settle_by).await?;
            continue;
        }
        let Some(waiter) = waiter.as_mut().filter(|_| entries.is_empty()) else {
            break entries;
        };
        // No query until a commit to one of these boxes (here or, on PostgreSQL, at
        // another instance) or the deadline.
        if tokio::time::timeout_at(deadline, waiter.changed())
            .await
            .is_err()
        {
            break entries;
        }
    };
    let (messages, next) = listed(&state, &caller, &listing, &entries).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({"messages": messages, "nextCursor": next.to_string()})))
}

/// How long a listing waits, at least, for messages that have committed but are held
/// back behind an older transaction still running (usually a few milliseconds): so
/// that a message is listed as soon as its `POST` has answered.
const SETTLE: StdDuration = StdDuration::from_secs(1);

/// Waits until every transaction up to `xid` has ended, or until `until`.
async fn settle(state: &AppState, xid: i64, until: tokio::time::Instant) -> Result<(), Problem> {
    while tokio::time::Instant::now() < until {
        match store::listable_below(&state.db)
            .await
            .map_err(db_problem("E-DEPOT-LIST"))?
        {
            Some(below) if below <= xid => {
                tokio::time::sleep(StdDuration::from_millis(5)).await;
            }
            _ => break,
        }
    }
    Ok(())
}

/// The listing's items: one per message, with the receipts the caller may see; and the
/// page's end, past every entry of the listed messages in the listed boxes. A message
/// addressed to two of the caller's identifiers has two entries (stored by one
/// transaction, so both are listed or neither), so that the next page does not list it
/// again.
async fn listed(
    state: &AppState,
    caller: &Caller,
    listing: &Listing<'_>,
    entries: &[EntryRow],
) -> Result<(Vec<serde_json::Value>, Cursor), Problem> {
    let mut ids: Vec<String> = Vec::new();
    for e in entries {
        if !ids.contains(&e.message_id) {
            ids.push(e.message_id.clone());
        }
    }
    let now = state.clock.now();
    let messages = store::summaries(&state.db, &ids, now)
        .await
        .map_err(db_problem("E-DEPOT-SUMMARY"))?;
    let all = store::entries_of(&state.db, &ids)
        .await
        .map_err(db_problem("E-DEPOT-RECEIPTS"))?;
    let end = all
        .iter()
        .filter(|e| e.folder == listing.folder && listing.boxes.contains(&e.box_key))
        .map(Cursor::of)
        .chain(entries.last().map(Cursor::of))
        .max()
        .unwrap_or(listing.after);
    let items = ids
        .iter()
        .filter_map(|id| messages.get(id))
        .map(|m| {
            let receipts = views::receipts(
                all.iter()
                    .filter(|e| e.message_id == m.id && visible_receipt(caller, m, e)),
            );
            views::listed(m, receipts)
        })
        .collect();
    Ok((items, end))
}

/// A sender sees every recipient's receipt; a recipient its own.
fn visible_receipt(caller: &Caller, message: &store::MessageRow, entry: &EntryRow) -> bool {
    message.sender_owner == caller.owner.owner || caller.inboxes.contains(&entry.box_key)
}

/// The caller's live entries of a message: inbox entries in its boxes, and the sent
/// entry when it is the sender.
async fn access(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(store::MessageRow, Vec<EntryRow>, Vec<EntryRow>), Problem> {
    let now = state.clock.now();
    let message = store::message(&state.db, id, now)
        .await
        .map_err(db_problem("E-DEPOT-GET"))?
        .ok_or_else(no_such_message)?;
    let all = store::entries_of(&state.db, std::slice::from_ref(&message.id))
        .await
        .map_err(db_problem("E-DEPOT-ENTRIES"))?;
    let mine: Vec<EntryRow> = all
        .iter()
        .filter(|e| e.deleted_at.is_none())
        .filter(|e| match e.folder.as_str() {
            INBOX => caller.inboxes.contains(&e.box_key),
            _ => e.box_key == caller.sent_box(),
        })
        .cloned()
        .collect();
    if mine.is_empty() {
        return Err(no_such_message());
    }
    Ok((message, mine, all))
}

fn inbox_seqs(entries: &[EntryRow]) -> Vec<i64> {
    entries
        .iter()
        .filter(|e| e.folder == INBOX)
        .map(|e| e.seq)
        .collect()
}

/// Fetches a message; a recipient's first fetch is its `receivedAt` receipt.
#[utoipa::path(get, path = "/depot/messages/{id}", tag = "depot", params(("id" = String, Path)),
    responses((status = 200, description = "{id, application, sealed (as posted), sender, recipients, receivedAt, timestamp, metadata, receipts}"),
        (status = 401, description = "no valid token"), (status = 404, description = "not a message of the caller's")))]
#[get("/depot/messages/{id}")]
pub async fn fetch(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let caller = caller_of(who)?;
    let (message, mine, mut all) = access(&state, &caller, &path).await?;
    // Only a first fetch writes: a re-read finds its receipt recorded already.
    let seqs: Vec<i64> = mine
        .iter()
        .filter(|e| e.folder == INBOX && e.fetched_at.is_none())
        .map(|e| e.seq)
        .collect();
    if !seqs.is_empty() {
        let now = state.clock.now();
        store::mark_fetched(&state.db, &seqs, now)
            .await
            .map_err(db_problem("E-DEPOT-FETCHED"))?;
        for e in all.iter_mut().filter(|e| seqs.contains(&e.seq)) {
            e.fetched_at.get_or_insert(now);
        }
    }
    let receipts = views::receipts(all.iter().filter(|e| visible_receipt(&caller, &message, e)));
    let body =
        views::full(&message, receipts).map_err(|e| Problem::internal("E-DEPOT-VIEW", &e))?;
    audit::record("message fetched", &caller.owner.owner, &message.id);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body))
}

/// Records that the recipient read the message.
#[utoipa::path(post, path = "/depot/messages/{id}/read", tag = "depot", params(("id" = String, Path)),
    responses((status = 204, description = "readAt recorded"), (status = 404, description = "not a message in the caller's inbox")))]
#[post("/depot/messages/{id}/read")]
pub async fn read(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let caller = caller_of(who)?;
    let (_, mine, _) = access(&state, &caller, &path).await?;
    let seqs = inbox_seqs(&mine);
    if seqs.is_empty() {
        return Err(no_such_message());
    }
    store::mark_read(&state.db, &seqs, state.clock.now())
        .await
        .map_err(db_problem("E-DEPOT-READ"))?;
    audit::record("message read", &caller.owner.owner, &path);
    Ok(HttpResponse::NoContent().finish())
}

/// Removes the message from the caller's boxes.
#[utoipa::path(delete, path = "/depot/messages/{id}", tag = "depot", params(("id" = String, Path)),
    responses((status = 204, description = "removed from the caller's boxes"), (status = 404, description = "not a message of the caller's")))]
#[delete("/depot/messages/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let caller = caller_of(who)?;
    let (_, mine, _) = access(&state, &caller, &path).await?;
    store::remove_entries(&state.db, &mine, state.clock.now())
        .await
        .map_err(db_problem("E-DEPOT-DELETE"))?;
    audit::record("message deleted", &caller.owner.owner, &path);
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's inbox: how many messages, how many unread, the bytes and the quota.
#[utoipa::path(get, path = "/depot/box", tag = "depot",
    responses((status = 200, description = "{messages, unread, bytes, quota}"), (status = 401, description = "no valid token")))]
#[get("/depot/box")]
pub async fn box_summary(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
) -> Result<HttpResponse, Problem> {
    let caller = caller_of(who)?;
    let counts = store::box_counts(&state.db, &caller.inboxes, state.clock.now())
        .await
        .map_err(db_problem("E-DEPOT-BOX"))?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "messages": counts.messages,
            "unread": counts.unread,
            "bytes": counts.bytes,
            "quota": state.config.settings.depot.box_quota_bytes,
        })))
}
