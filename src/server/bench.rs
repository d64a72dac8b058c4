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
    /// `any` (default), `member` (users in at least one MLS group) or `feed` (balanced
    /// across feed cohorts, each labelled).
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Account {
    pub id: i32,
    pub email: String,
    /// For `kind=feed`: the user's feed cohort (celebrity_follower, typical, power_follower,
    /// dormant).
    #[serde(default)]
    pub cohort: Option<String>,
}

/// Feed cohorts, balanced: users ranked within each cohort, then interleaved.
const FEED_ACCOUNTS: &str = "WITH fc AS (SELECT follower_id, count(*) AS n FROM follows GROUP BY follower_id), \
     top AS (SELECT following_id FROM follows GROUP BY following_id ORDER BY count(*) DESC, following_id LIMIT 1), \
     c AS (SELECT u.id, u.email::text AS email, CASE \
         WHEN coalesce(fc.n, 0) >= 500 THEN 'power_follower' \
         WHEN coalesce(fc.n, 0) <= 3 THEN 'dormant' \
         WHEN EXISTS (SELECT 1 FROM follows f JOIN top ON f.following_id = top.following_id WHERE f.follower_id = u.id) \
           THEN 'celebrity_follower' \
         ELSE 'typical' END AS cohort \
       FROM users u LEFT JOIN fc ON fc.follower_id = u.id) \
     SELECT id, email, cohort FROM (SELECT c.*, row_number() OVER (PARTITION BY cohort ORDER BY md5(id::text)) AS rk FROM c) r \
     ORDER BY rk, cohort LIMIT $1";

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
        "any" => "SELECT id, email::text, NULL::text AS cohort FROM users ORDER BY md5(id::text) LIMIT $1",
        "member" => {
            "SELECT u.id, u.email::text, NULL::text AS cohort FROM users u WHERE EXISTS \
             (SELECT 1 FROM mls_group_members m WHERE m.user_id = u.id) ORDER BY md5(u.id::text) LIMIT $1"
        }
        "feed" => FEED_ACCOUNTS,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown kind `{other}` (expected any, member or feed)"
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
