//! The operations' HTTP surface: `/health/live` (the process answers),
//! `/health/ready` (its dependencies answer), `GET /metrics` and the request metrics
//! middleware, which also dates every answer by the service's clock.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, DATE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, get, web};
use serde_json::json;

use super::metrics::Snapshot;
use crate::state::AppState;

/// Counts and times every request by route pattern (never by raw path: ids stay out
/// of labels), and echoes the request id as `x-request-id`. The `Date` header (RFC
/// 9110 §6.6.1) is the service's own clock, the one that decides token expiry and the
/// age of DPoP proofs, rather than the system time the HTTP layer would write: a
/// client whose clock is off can tell by how much (it dates its DPoP proofs by it).
/// They are the same in production, where the clock is the system's.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string());
    let mut response = next.call(req).await?;
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    // The HTTP layer's own Date is the system's; it is restated only for a moved clock,
    // so no response pays for formatting a date twice.
    if let Some(state) = state {
        if state.clock.is_moved() {
            let date = state
                .clock
                .now()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            if let Ok(date) = HeaderValue::from_str(&date) {
                response.headers_mut().insert(DATE, date);
            }
        }
        let labels = vec![
            ("method", method),
            ("route", route),
            ("status", response.status().as_u16().to_string()),
        ];
        state.metrics.http_requests.get_or_create(&labels).inc();
        state
            .metrics
            .http_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = snapshot(&state).await;
    HttpResponse::Ok()
        .insert_header((
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ))
        .body(state.metrics.render(&snapshot))
}

/// What a scrape reads: the outbox (within the pool's acquire timeout; left out when
/// the database does not answer), the relay, the pool.
async fn snapshot(state: &AppState) -> Snapshot {
    let within = crate::db::acquire_timeout(&state.config);
    let outbox = tokio::time::timeout(within, async {
        let pending = queues::outbox::pending(&state.db).await?;
        let oldest = queues::outbox::oldest_pending(&state.db).await?;
        Ok::<_, sea_orm::DbErr>((pending, oldest))
    })
    .await;
    let (outbox_pending, outbox_oldest_age_seconds) = match outbox {
        Ok(Ok((pending, oldest))) => (
            Some(pending),
            oldest.map(|at| {
                (state.clock.now() - at)
                    .to_std()
                    .map_or(0.0, |age| age.as_secs_f64())
            }),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the outbox could not be read");
            (None, None)
        }
        Err(_) => (None, None),
    };
    let (pool_open, pool_idle) = crate::db::pool_usage(&state.db);
    Snapshot {
        outbox_pending,
        outbox_oldest_age_seconds,
        relay: state
            .relay
            .as_ref()
            .map(queues::relay::RelayControl::status),
        pool_open,
        pool_idle,
        pool_max: state.config.settings.storage.database_max_connections,
    }
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, description = "alive")))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// The service accepts requests: the database answers (and the broker, once configured).
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "a dependency is down")))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    // Within the pool's acquire timeout, even when a connection hangs.
    let within = crate::db::acquire_timeout(&state.config);
    let database = match tokio::time::timeout(within, state.db.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable".to_owned()
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            "unreachable".to_owned()
        }
    };
    let outbox = match database.as_str() {
        "ok" => tokio::time::timeout(within, queues::outbox::pending(&state.db))
            .await
            .ok()
            .and_then(Result::ok),
        _ => None,
    };
    let broker = match (&state.relay, state.config.amqp_url.is_some()) {
        (Some(relay), _) => {
            let status = relay.status();
            json!({"relay": if status.connected {"connected"} else {"disconnected: notifications wait in the outbox"},
                "lastError": status.last_error, "published": status.published})
        }
        (None, true) => json!({"relay": "configured, not running in this process"}),
        (None, false) => json!({"relay": "not configured: notifications wait in the outbox"}),
    };
    let body = json!({"status": if database == "ok" {"ready"} else {"unavailable"}, "database": database,
        "broker": broker, "outboxPending": outbox});
    if database == "ok" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
