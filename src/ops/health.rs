//! `/health/live` (the process answers) and `/health/ready` (its dependencies answer).

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::state::AppState;

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
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable".to_owned()
        }
    };
    let outbox = queues::outbox::pending(&state.db).await.ok();
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
