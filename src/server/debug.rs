//! Calibration endpoints, present only when the server is started with them enabled:
//! `GET /debug/delay?ms=` answers after a fixed delay; `POST /debug/stall?ms=` makes the
//! whole server stop answering for that long (every request waits at the door), as a GC
//! pause or a lock convoy would. They prove what the load generator measures.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use tokio::sync::RwLock;

use super::{ApiError, AppState};
use crate::load::schedule::PreciseTimer;

/// Longest delay or stall accepted (ms).
pub const MAX_MS: u64 = 10_000;

/// The gate every request passes (a stall holds it shut), and a precise timer so that a
/// 20 ms delay is 20 ms, not 20 ms rounded up to tokio's next 1 ms tick.
#[derive(Debug, Default)]
pub struct Debug {
    gate: Arc<RwLock<()>>,
    timer: PreciseTimer,
}

#[derive(Debug, Deserialize)]
pub struct MsQuery {
    pub ms: u64,
}

fn ms(query: Result<Query<MsQuery>, QueryRejection>) -> Result<u64, ApiError> {
    let Query(q) = query?;
    if q.ms > MAX_MS {
        return Err(ApiError::bad_request(format!(
            "ms must be at most {MAX_MS}"
        )));
    }
    Ok(q.ms)
}

pub async fn delay(
    State(state): State<AppState>,
    query: Result<Query<MsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ms = ms(query)?;
    let until = std::time::Instant::now() + Duration::from_millis(ms);
    match &state.debug {
        Some(debug) => debug.timer.sleep_until(until).await,
        None => tokio::time::sleep_until(until.into()).await,
    }
    Ok(Json(serde_json::json!({ "delayed_ms": ms })))
}

pub async fn stall(
    State(state): State<AppState>,
    query: Result<Query<MsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ms = ms(query)?;
    let Some(debug) = state.debug.clone() else {
        return Err(ApiError::not_found("debug endpoints are disabled"));
    };
    // Take the gate before answering, so the stall has begun when the caller hears back.
    let guard = Arc::clone(&debug.gate).write_owned().await;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        drop(guard);
    });
    Ok(Json(serde_json::json!({ "stalled_ms": ms })))
}

/// Middleware: wait while a stall holds the gate (the stall endpoint itself skips it).
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(debug) = &state.debug {
        if req.uri().path() != "/debug/stall" {
            drop(debug.gate.read().await);
        }
    }
    next.run(req).await
}
