//! Login and the social feed.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::auth::{self, AuthUser};
use super::{ApiError, AppState};
use crate::workload::{self, FeedVariant};

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub user_id: i32,
}

pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Json(req) = body?;
    let row: Option<(i32, String)> = sqlx::query_as(workload::LOGIN.sql)
        .bind(&req.email)
        .fetch_optional(&state.pool)
        .await?;
    let Some((user_id, hash)) = row else {
        return Err(ApiError::unauthorized("invalid email or password"));
    };
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(req.password, &hash))
        .await
        .map_err(|_| ApiError::unauthorized("invalid email or password"))?
        .unwrap_or(false);
    if !ok {
        return Err(ApiError::unauthorized("invalid email or password"));
    }
    Ok(Json(LoginResponse {
        token: auth::issue(&state.jwt_secret, user_id),
        user_id,
    }))
}

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    pub limit: Option<i64>,
    /// Offset paging (seed and lateral variants).
    pub offset: Option<i64>,
    /// Keyset cursor (keyset variant): created_at and id of the last post already seen.
    pub before: Option<NaiveDateTime>,
    pub before_id: Option<i32>,
}

#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct FeedPost {
    pub id: i32,
    pub author_id: Option<i32>,
    pub username: String,
    pub content: String,
    pub like_count: Option<i32>,
    pub comment_count: Option<i32>,
    pub created_at: Option<NaiveDateTime>,
}

/// Largest page and deepest offset the API serves.
pub const MAX_LIMIT: i64 = 100;
pub const MAX_OFFSET: i64 = 100_000;

pub async fn feed(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<Vec<FeedPost>>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(20);
    let offset = q.offset.unwrap_or(0);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::bad_request(format!(
            "offset must be between 0 and {MAX_OFFSET}"
        )));
    }
    let statement = state.feed_variant.statement();
    let posts: Vec<FeedPost> = match state.feed_variant {
        FeedVariant::Seed | FeedVariant::Lateral => {
            sqlx::query_as(statement.sql)
                .bind(user)
                .bind(limit)
                .bind(offset)
                .fetch_all(&state.pool)
                .await?
        }
        FeedVariant::Keyset => {
            let (before, before_id) = match (q.before, q.before_id) {
                (Some(t), Some(id)) => (t, id),
                (None, None) => (NaiveDateTime::MAX, i32::MAX),
                _ => {
                    return Err(ApiError::bad_request(
                        "before and before_id go together (the last post already seen)",
                    ))
                }
            };
            sqlx::query_as(statement.sql)
                .bind(user)
                .bind(before)
                .bind(before_id)
                .bind(limit)
                .fetch_all(&state.pool)
                .await?
        }
    };
    Ok(Json(posts))
}
