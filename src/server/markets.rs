//! Prediction markets: open events, the portfolio, and the LMSR trade.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::lmsr;
use crate::workload::{self, trade as sql};

#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct OpenEvent {
    pub id: i32,
    pub title: String,
    pub closing_date: NaiveDateTime,
    pub market_prob: Option<f64>,
    pub cumulative_stake: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

pub async fn open_events(
    State(state): State<AppState>,
    _user: AuthUser,
    query: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<OpenEvent>>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let rows = sqlx::query_as(workload::EVENTS_OPEN.sql)
        .bind(limit)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Position {
    pub event_id: Option<i32>,
    pub title: String,
    pub closing_date: NaiveDateTime,
    pub market_prob: Option<f64>,
    pub cumulative_stake: Option<f64>,
    pub yes_shares: Option<f64>,
    pub no_shares: Option<f64>,
    pub last_updated: Option<NaiveDateTime>,
}

pub async fn positions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    path: Result<Path<i32>, PathRejection>,
) -> Result<Json<Vec<Position>>, ApiError> {
    let Path(id) = path?;
    if id != user {
        return Err(ApiError::forbidden("you can only view your own positions"));
    }
    let rows = sqlx::query_as(workload::PORTFOLIO.sql)
        .bind(id)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct TradeRequest {
    pub stake: f64,
    pub target_prob: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TradeResponse {
    pub event_id: i32,
    pub cost: f64,
    pub market_prob: f64,
    pub yes_shares: f64,
    pub no_shares: f64,
    pub balance: f64,
    /// Attempts taken (more than 1 after a serialization failure or deadlock).
    pub attempts: u32,
}

/// Largest stake accepted in one trade.
pub const MAX_STAKE: f64 = 1_000_000.0;
const MAX_ATTEMPTS: u32 = 5;

pub async fn trade(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    path: Result<Path<i32>, PathRejection>,
    body: Result<Json<TradeRequest>, JsonRejection>,
) -> Result<Json<TradeResponse>, ApiError> {
    let Path(event_id) = path?;
    let Json(req) = body?;
    if !(req.stake.is_finite() && req.stake >= 0.01 && req.stake <= MAX_STAKE) {
        return Err(ApiError::bad_request(format!(
            "stake must be between 0.01 and {MAX_STAKE}"
        )));
    }
    if !(req.target_prob.is_finite() && req.target_prob > 0.0 && req.target_prob < 1.0) {
        return Err(ApiError::bad_request(
            "target_prob must be strictly between 0 and 1",
        ));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match trade_once(&state, user, event_id, &req).await {
            Err(TradeFailure::Db(e)) if attempt < MAX_ATTEMPTS && is_retryable(&e) => continue,
            Err(TradeFailure::Db(e)) => return Err(e.into()),
            Err(TradeFailure::Api(e)) => return Err(e),
            Ok(mut resp) => {
                resp.attempts = attempt;
                return Ok(Json(resp));
            }
        }
    }
}

enum TradeFailure {
    Db(sqlx::Error),
    Api(ApiError),
}

impl From<sqlx::Error> for TradeFailure {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// Serialization failure or deadlock: the transaction can simply be run again.
fn is_retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40001" || c == "40P01")
}

/// One attempt: lock the market, price the trade, debit (guarded), move the market, upsert
/// the position. Any early return rolls the transaction back.
async fn trade_once(
    state: &AppState,
    user: i32,
    event_id: i32,
    req: &TradeRequest,
) -> Result<TradeResponse, TradeFailure> {
    let mut tx = state.pool.begin().await?;
    let market: Option<(Option<f64>, Option<String>)> = sqlx::query_as(sql::LOCK_EVENT.sql)
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((prob, status)) = market else {
        return Err(TradeFailure::Api(ApiError::not_found(format!(
            "event {event_id} does not exist"
        ))));
    };
    if status.as_deref() != Some("open") {
        return Err(TradeFailure::Api(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("event {event_id} is not open for trading"),
        )));
    }
    let fill = lmsr::fill(
        prob.unwrap_or(0.5),
        req.target_prob,
        req.stake,
        lmsr::LIQUIDITY,
    )
    .map_err(|e| TradeFailure::Api(ApiError::unprocessable(e.to_string())))?;
    // Round to the stored precision so the debit and the stake agree to the cent.
    let cost = (fill.cost * 100.0).round() / 100.0;
    let balance: Option<f64> = if cost > 0.0 {
        sqlx::query_scalar(sql::DEBIT.sql)
            .bind(user)
            .bind(cost)
            .fetch_optional(&mut *tx)
            .await?
    } else {
        sqlx::query_scalar("SELECT rp_balance::float8 FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?
    };
    let Some(balance) = balance else {
        return Err(TradeFailure::Api(ApiError::unprocessable(format!(
            "insufficient balance for a stake costing {cost:.2}"
        ))));
    };
    sqlx::query(sql::UPDATE_EVENT.sql)
        .bind(event_id)
        .bind(fill.new_prob)
        .bind(cost)
        .execute(&mut *tx)
        .await?;
    let (yes, no): (f64, f64) = sqlx::query_as(sql::UPSERT_SHARES.sql)
        .bind(user)
        .bind(event_id)
        .bind(fill.yes_shares)
        .bind(fill.no_shares)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(TradeResponse {
        event_id,
        cost,
        market_prob: (fill.new_prob * 10_000.0).round() / 10_000.0,
        yes_shares: yes,
        no_shares: no,
        balance,
        attempts: 1,
    })
}
