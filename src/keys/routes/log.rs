//! The transparency log's HTTP surface (README, "Transparency log"): the signed tree
//! head, inclusion and consistency proofs, and the entries. Read with `keys:read`, like
//! the JWKS search whose answers the log vouches for. Every answer is read after the
//! rows other instances committed, and carries the head it was proved against.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authz::guard::{Authorized, needs};
use crate::keys::log::{HEAD_TYP, ProofError, TreeHead};
use crate::problem::Problem;
use crate::state::AppState;

/// The most entries one page answers.
const MAX_ENTRIES: u64 = 1_000;

/// The head, with its signature by the authorization server's current key (verified
/// with `GET /oauth2/jwks`): a JWT whose claims are the issuer, `tree_size`,
/// `root_hash` and `iat` (when it was first signed: a head is signed once per signing
/// key).
pub async fn signed(state: &AppState, head: &TreeHead) -> Result<Value, Problem> {
    let ring = state
        .keys
        .ring()
        .await
        .map_err(|e| Problem::internal("E-LOG-KEYS", &e))?;
    let log = &state.keystore.log;
    let kid = ring.current_kid().unwrap_or_default();
    if let Some(signed) = log.signed(head, kid) {
        return Ok(signed);
    }
    let claims = json!({
        "iss": state.config.issuer.as_str(),
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "iat": state.clock.now().timestamp(),
    });
    let jwt = ring
        .sign(HEAD_TYP, &claims)
        .map_err(|e| Problem::internal("E-LOG-SIGN", &e))?;
    let signed =
        json!({"tree_size": head.tree_size, "root_hash": head.root_hash, "signed_head": jwt});
    log.keep_signed(head.clone(), kid, signed.clone());
    Ok(signed)
}

/// Brings this instance's tree up to what is committed.
pub async fn caught_up(state: &AppState) -> Result<(), Problem> {
    state
        .keystore
        .log
        .catch_up(&state.db)
        .await
        .map(drop)
        .map_err(|e| Problem::internal("E-LOG-READ", &e))
}

fn proof_problem(e: ProofError) -> Problem {
    match e {
        ProofError::NoSuchEntry { .. } => Problem::not_found(e.to_string()),
        ProofError::BadSize { .. } => Problem::invalid_field("from", e),
        ProofError::Db(e) => Problem::internal("E-LOG-READ", &e),
    }
}

fn answer(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(body)
}

/// The current signed tree head.
#[utoipa::path(get, path = "/keys/log/head", tag = "keys",
    responses((status = 200, description = "`{tree_size, root_hash, signed_head}`"),
        (status = 401, description = "no valid token"), (status = 403, description = "no keys:read scope")))]
#[get("/keys/log/head")]
pub async fn tree_head(
    state: web::Data<AppState>,
    _who: Authorized<needs::KeysRead>,
) -> Result<HttpResponse, Problem> {
    caught_up(&state).await?;
    let head = state.keystore.log.head();
    Ok(answer(signed(&state, &head).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry's index (from 0).
    pub index: u64,
}

/// The proof that entry `index` is in the current tree (RFC 9162 §2.1.3), with the entry.
#[utoipa::path(get, path = "/keys/log/inclusion", tag = "keys", params(InclusionQuery),
    responses((status = 200, description = "`{index, entry, tree_size, proof, head}`"),
        (status = 404, description = "no such entry"), (status = 422, description = "a bad parameter, named")))]
#[get("/keys/log/inclusion")]
pub async fn inclusion(
    state: web::Data<AppState>,
    _who: Authorized<needs::KeysRead>,
    query: web::Query<InclusionQuery>,
) -> Result<HttpResponse, Problem> {
    caught_up(&state).await?;
    let log = &state.keystore.log;
    let (proof, head) = log.inclusion(query.index).map_err(proof_problem)?;
    let entry = log.entries(query.index, 1).pop().map(|(_, entry)| entry);
    Ok(answer(json!({
        "index": proof.index,
        "entry": entry,
        "tree_size": proof.tree_size,
        "proof": proof.proof,
        "head": signed(&state, &head).await?,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The size of the earlier tree (from 1 to the current size).
    pub from: u64,
}

/// The proof that the tree of `from` entries is a prefix of the current tree (RFC 9162
/// §2.1.4).
#[utoipa::path(get, path = "/keys/log/consistency", tag = "keys", params(ConsistencyQuery),
    responses((status = 200, description = "`{from, tree_size, proof, head}`"),
        (status = 422, description = "from is 0 or larger than the log")))]
#[get("/keys/log/consistency")]
pub async fn consistency(
    state: web::Data<AppState>,
    _who: Authorized<needs::KeysRead>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, Problem> {
    caught_up(&state).await?;
    let (proof, head) = state
        .keystore
        .log
        .consistency(query.from)
        .map_err(proof_problem)?;
    Ok(answer(json!({
        "from": proof.from,
        "tree_size": proof.tree_size,
        "proof": proof.proof,
        "head": signed(&state, &head).await?,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// The first index (default 0).
    pub start: Option<u64>,
    /// How many (default and most: 1,000).
    pub count: Option<u64>,
}

/// The log's entries, each the canonical JSON (RFC 8785) its leaf hashes.
#[utoipa::path(get, path = "/keys/log/entries", tag = "keys", params(EntriesQuery),
    responses((status = 200, description = "`{tree_size, entries: [{index, entry}]}`")))]
#[get("/keys/log/entries")]
pub async fn entries(
    state: web::Data<AppState>,
    _who: Authorized<needs::KeysRead>,
    query: web::Query<EntriesQuery>,
) -> Result<HttpResponse, Problem> {
    caught_up(&state).await?;
    let count = query.count.unwrap_or(MAX_ENTRIES);
    if count == 0 || count > MAX_ENTRIES {
        return Err(Problem::invalid_field(
            "count",
            format!("from 1 to {MAX_ENTRIES}"),
        ));
    }
    let log = &state.keystore.log;
    let entries: Vec<Value> = log
        .entries(query.start.unwrap_or(0), count)
        .into_iter()
        .map(|(index, entry)| json!({"index": index, "entry": entry}))
        .collect();
    Ok(answer(
        json!({"tree_size": log.head().tree_size, "entries": entries}),
    ))
}
