//! Harness-only endpoints: health, the seeded accounts a load generator logs in as, and the
//! data manifest (so a standalone `load` can put it in its report).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::seed::manifest;

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

#[derive(Debug, Deserialize)]
pub struct AccountsQuery {
    pub limit: Option<i64>,
    /// `any` (default) or `member` (users in at least one MLS group).
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Account {
    pub id: i32,
    pub email: String,
}

/// Seeded accounts, in a fixed pseudo-random order (so load users spread over the id range
/// the same way every run). All share the documented password.
pub async fn accounts(
    State(state): State<AppState>,
    query: Result<Query<AccountsQuery>, QueryRejection>,
) -> Result<Json<Vec<Account>>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 10000"));
    }
    let sql = match q.kind.as_deref().unwrap_or("any") {
        "any" => "SELECT id, email::text FROM users ORDER BY md5(id::text) LIMIT $1",
        "member" => {
            "SELECT u.id, u.email::text FROM users u WHERE EXISTS \
             (SELECT 1 FROM mls_group_members m WHERE m.user_id = u.id) ORDER BY md5(u.id::text) LIMIT $1"
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown kind `{other}` (expected any or member)"
            )))
        }
    };
    let rows = sqlx::query_as(sql)
        .bind(limit)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(rows))
}

pub async fn manifest(State(state): State<AppState>) -> Result<Json<manifest::Manifest>, ApiError> {
    manifest::stored(&state.pool)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("this database has no complete seeding manifest"))
}
