//! The reference server: the Intellacc API's hot paths over HTTP (axum), backed by the
//! workload SQL of [`crate::workload`].

pub mod auth;
pub mod bench;
pub mod debug;
pub mod error;
pub mod markets;
pub mod mls;
pub mod social;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::workload::FeedVariant;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub jwt_secret: Arc<[u8]>,
    /// Which feed statement `GET /api/feed` runs.
    pub feed_variant: FeedVariant,
    /// Calibration endpoints (`/debug/*`), off unless enabled.
    pub debug: Option<Arc<debug::Debug>>,
}

impl AppState {
    pub fn new(pool: PgPool, jwt_secret: &[u8]) -> Self {
        Self {
            pool,
            jwt_secret: Arc::from(jwt_secret),
            feed_variant: FeedVariant::Seed,
            debug: None,
        }
    }

    /// Enables the calibration endpoints `/debug/delay` and `/debug/stall`.
    pub fn with_debug_endpoints(mut self, enabled: bool) -> Self {
        self.debug = enabled.then(|| Arc::new(debug::Debug::default()));
        self
    }

    pub fn with_feed_variant(mut self, variant: FeedVariant) -> Self {
        self.feed_variant = variant;
        self
    }
}

/// The API routes.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/health", get(bench::health))
        .route("/api/login", post(social::login))
        .route("/api/feed", get(social::feed))
        .route("/api/events", get(markets::open_events))
        .route("/api/users/{id}/positions", get(markets::positions))
        .route("/api/events/{id}/update", post(markets::trade))
        .route("/api/mls/groups", get(mls::groups))
        .route("/api/mls/messages/group/{group_id}", get(mls::messages))
        .route("/api/mls/messages/group", post(mls::post_message))
        .route("/api/bench/accounts", get(bench::accounts))
        .route("/api/bench/manifest", get(bench::manifest));
    if state.debug.is_some() {
        // Added last so that the stall gate wraps every route.
        router = router
            .route("/debug/delay", get(debug::delay))
            .route("/debug/stall", post(debug::stall))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                debug::gate,
            ));
    }
    router
        .fallback(bench::not_found)
        .method_not_allowed_fallback(bench::method_not_allowed)
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
