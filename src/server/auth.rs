//! JWT bearer authentication (HS256), as the Intellacc backend issues it.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::ApiError;
use super::AppState;

/// Lifetime of an issued token.
pub const TOKEN_TTL_SECS: u64 = 24 * 3600;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: i32,
    iat: u64,
    exp: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Issues a token for `user_id`.
pub fn issue(secret: &[u8], user_id: i32) -> String {
    let iat = now();
    let claims = Claims {
        sub: user_id,
        iat,
        exp: iat + TOKEN_TTL_SECS,
    };
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Verifies a token's signature, algorithm and expiry; returns the user id.
pub fn verify(secret: &[u8], token: &str) -> Result<i32, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token");
    };
    let header = URL_SAFE_NO_PAD.decode(h).map_err(|_| "malformed token")?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| "malformed token")?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err("unsupported token algorithm");
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "malformed token")?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig)
        .map_err(|_| "invalid token signature")?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| "malformed token")?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| "malformed token")?;
    if claims.exp < now() {
        return Err("token expired");
    }
    Ok(claims.sub)
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub i32);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
        verify(&state.jwt_secret, token.trim())
            .map(AuthUser)
            .map_err(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let t = issue(b"k", 42);
        assert_eq!(verify(b"k", &t), Ok(42));
        assert!(verify(b"other", &t).is_err());
        let mut bad = t.clone();
        bad.push('x');
        assert!(verify(b"k", &bad).is_err());
        assert!(verify(b"k", "a.b").is_err());
        assert!(verify(b"k", "").is_err());
    }
}
