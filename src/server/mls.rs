//! MLS delivery: a member's groups, fetching a group's messages, posting one.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::workload;

#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Group {
    pub group_id: String,
    pub name: Option<String>,
    pub created_by: Option<i32>,
    pub created_at: Option<NaiveDateTime>,
}

pub async fn groups(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<Group>>, ApiError> {
    let rows = sqlx::query_as(workload::GROUPS.sql)
        .bind(user)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    #[serde(rename = "afterId")]
    pub after_id: Option<i32>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Message {
    pub id: i32,
    pub sender_id: Option<i32>,
    pub epoch: i32,
    pub content_type: String,
    /// Base64 of the stored MLSMessage bytes.
    pub data: String,
    pub created_at: Option<NaiveDateTime>,
}

pub const MAX_MESSAGES: i64 = 500;
/// Group ids are VARCHAR(64).
const MAX_GROUP_ID: usize = 64;
/// Largest message accepted (decoded).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
const CONTENT_TYPES: &[&str] = &["application", "commit", "proposal"];

async fn require_member(state: &AppState, group_id: &str, user: i32) -> Result<(), ApiError> {
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID {
        return Err(ApiError::bad_request(format!(
            "group_id must be 1 to {MAX_GROUP_ID} characters"
        )));
    }
    let member: bool = sqlx::query_scalar(workload::MEMBERSHIP.sql)
        .bind(group_id)
        .bind(user)
        .fetch_one(&state.pool)
        .await?;
    if member {
        Ok(())
    } else {
        Err(ApiError::forbidden("not a member of this group"))
    }
}

pub async fn messages(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<Vec<Message>>, ApiError> {
    let Path(group_id) = path?;
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_MESSAGES).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_MESSAGES}"
        )));
    }
    let after = q.after_id.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request("afterId must be >= 0"));
    }
    require_member(&state, &group_id, user).await?;
    let rows: Vec<MessageRow> = sqlx::query_as(workload::MESSAGES_FETCH.sql)
        .bind(&group_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| Message {
                id: r.id,
                sender_id: r.sender_id,
                epoch: r.epoch,
                content_type: r.content_type,
                data: STANDARD.encode(r.data),
                created_at: r.created_at,
            })
            .collect(),
    ))
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i32,
    sender_id: Option<i32>,
    epoch: i32,
    content_type: String,
    data: Vec<u8>,
    created_at: Option<NaiveDateTime>,
}

#[derive(Debug, Deserialize)]
pub struct PostMessage {
    pub group_id: String,
    pub epoch: i32,
    pub content_type: String,
    pub data: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Posted {
    pub id: i32,
    pub created_at: Option<NaiveDateTime>,
}

pub async fn post_message(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    body: Result<Json<PostMessage>, JsonRejection>,
) -> Result<(StatusCode, Json<Posted>), ApiError> {
    let Json(req) = body?;
    if !CONTENT_TYPES.contains(&req.content_type.as_str()) {
        return Err(ApiError::bad_request(format!(
            "content_type must be one of {}",
            CONTENT_TYPES.join(", ")
        )));
    }
    if req.epoch < 0 {
        return Err(ApiError::bad_request("epoch must be >= 0"));
    }
    let data = STANDARD
        .decode(req.data.as_bytes())
        .map_err(|e| ApiError::bad_request(format!("data is not valid base64: {e}")))?;
    if data.is_empty() || data.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::bad_request(format!(
            "data must be 1 to {MAX_MESSAGE_BYTES} bytes"
        )));
    }
    require_member(&state, &req.group_id, user).await?;
    let (id, created_at): (i32, Option<NaiveDateTime>) =
        sqlx::query_as(workload::MESSAGES_POST.sql)
            .bind(&req.group_id)
            .bind(user)
            .bind(req.epoch)
            .bind(&req.content_type)
            .bind(&data)
            .fetch_one(&state.pool)
            .await?;
    Ok((StatusCode::CREATED, Json(Posted { id, created_at })))
}
