//! The reference server against a seeded database: every endpoint's happy path, the 403s,
//! bad input as 4xx JSON, and the trade's accounting.

use intellacc_bench::seed::params::PASSWORD;
use intellacc_bench::server::{self, AppState};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common;

struct Api {
    base: String,
    client: Client,
    pool: PgPool,
}

impl Api {
    async fn start() -> Self {
        let url = common::seeded_db().await;
        let pool = common::pool(&url).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(pool.clone(), b"test secret");
        tokio::spawn(server::serve(listener, state, std::future::pending()));
        Self {
            base,
            client: Client::new(),
            pool,
        }
    }

    async fn email(&self, id: i32) -> String {
        sqlx::query_scalar("SELECT email::text FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn login(&self, id: i32) -> String {
        let email = self.email(id).await;
        let (status, body) = self
            .send(
                "POST",
                "/api/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user_id"], id);
        body["token"].as_str().unwrap().to_string()
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut rb = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url),
        };
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn raw_post(&self, path: &str, token: &str, body: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn scalar_f64(&self, sql: &'static str, id: i32) -> f64 {
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// A client error with a JSON `error` message.
fn assert_4xx(status: StatusCode, body: &Value, what: &str) {
    assert!(status.is_client_error(), "{what}: got {status} {body}");
    assert!(body["error"].is_string(), "{what}: no JSON error in {body}");
}

#[tokio::test]
async fn login_and_feed() {
    let api = Api::start().await;
    // A user who follows someone with posts.
    let user: i32 = sqlx::query_scalar(
        "SELECT f.follower_id FROM follows f WHERE EXISTS (SELECT 1 FROM posts p WHERE p.author_id = f.following_id) \
         ORDER BY f.follower_id LIMIT 1",
    )
    .fetch_one(&api.pool)
    .await
    .unwrap();
    let token = api.login(user).await;
    let (status, feed) = api
        .send("GET", "/api/feed?limit=5", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let posts = feed.as_array().unwrap();
    assert!(!posts.is_empty() && posts.len() <= 5);
    // Newest first, and every post is by someone the user follows or by the user.
    let times: Vec<&str> = posts
        .iter()
        .map(|p| p["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    for p in posts {
        let author = i32::try_from(p["author_id"].as_i64().unwrap()).unwrap();
        let ok: bool = sqlx::query_scalar(
            "SELECT $2 = $1 OR EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND following_id = $2)",
        )
        .bind(user)
        .bind(author)
        .fetch_one(&api.pool)
        .await
        .unwrap();
        assert!(ok, "post by {author} is not in {user}'s feed");
    }
    let (status, page2) = api
        .send("GET", "/api/feed?limit=5&offset=5", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page2.as_array().unwrap().iter().all(|p| !posts.contains(p)));

    let email = api.email(user).await;
    let (status, body) = api
        .send(
            "POST",
            "/api/login",
            None,
            Some(json!({"email": email, "password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_4xx(status, &body, "wrong password");
    let (status, body) = api
        .send(
            "POST",
            "/api/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": PASSWORD})),
        )
        .await;
    assert_4xx(status, &body, "unknown email");
}

#[tokio::test]
async fn bad_requests_are_4xx_with_a_json_error() {
    let api = Api::start().await;
    let token = api.login(1).await;
    let cases: Vec<(&str, &str, Option<&str>)> = vec![
        ("GET", "/api/feed", None),
        ("GET", "/api/feed?limit=0", Some(&token)),
        ("GET", "/api/feed?limit=abc", Some(&token)),
        ("GET", "/api/feed?offset=-1", Some(&token)),
        ("GET", "/api/users/abc/positions", Some(&token)),
        ("GET", "/api/users/99999999999/positions", Some(&token)),
        ("GET", "/api/mls/groups", Some("not-a-token")),
        ("GET", "/api/mls/messages/group/x?afterId=-4", Some(&token)),
        (
            "GET",
            "/api/mls/messages/group/x?limit=100000",
            Some(&token),
        ),
        ("GET", "/api/nothing-here", Some(&token)),
        ("GET", "/api/events?limit=0", Some(&token)),
        ("GET", "/api/bench/accounts?kind=weird", None),
        ("GET", "/api/login", None),
        ("GET", "/api/mls/messages/group/%00", Some(&token)),
    ];
    for (method, path, tok) in cases {
        let (status, body) = api.send(method, path, tok, None).await;
        assert_4xx(status, &body, path);
    }
    let posts = [
        ("/api/login", "{not json"),
        ("/api/login", r#"{"email": 3}"#),
        ("/api/events/1/update", r#"{"stake": "lots"}"#),
        (
            "/api/events/1/update",
            r#"{"stake": 10, "target_prob": 1.5}"#,
        ),
        (
            "/api/events/1/update",
            r#"{"stake": -5, "target_prob": 0.5}"#,
        ),
        (
            "/api/events/1/update",
            r#"{"stake": 1e300, "target_prob": 0.5}"#,
        ),
        (
            "/api/events/abc/update",
            r#"{"stake": 10, "target_prob": 0.5}"#,
        ),
        (
            "/api/events/99999999/update",
            r#"{"stake": 10, "target_prob": 0.5}"#,
        ),
        ("/api/mls/messages/group", r#"{"group_id": "x"}"#),
        (
            "/api/mls/messages/group",
            r#"{"group_id": "x", "epoch": 1, "content_type": "application", "data": "***"}"#,
        ),
        (
            "/api/mls/messages/group",
            r#"{"group_id": "x", "epoch": 1, "content_type": "gossip", "data": "AAAA"}"#,
        ),
        (
            "/api/mls/messages/group",
            r#"{"group_id": "\u0000", "epoch": 1, "content_type": "application", "data": "AAAA"}"#,
        ),
        ("/api/login", r#"{"email": "a\u0000b", "password": "x"}"#),
        ("/api/feed", "{}"),
    ];
    for (path, body) in posts {
        let (status, value) = api.raw_post(path, &token, body).await;
        assert_4xx(status, &value, &format!("POST {path} {body}"));
    }
}

#[tokio::test]
async fn positions_are_private() {
    let api = Api::start().await;
    let trader: i32 = sqlx::query_scalar(
        "SELECT user_id FROM user_shares WHERE yes_shares > 0 OR no_shares > 0 \
         GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1",
    )
    .fetch_one(&api.pool)
    .await
    .unwrap();
    let token = api.login(trader).await;
    let (status, positions) = api
        .send(
            "GET",
            &format!("/api/users/{trader}/positions"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let expected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_shares WHERE user_id = $1 AND (yes_shares > 0 OR no_shares > 0)",
    )
    .bind(trader)
    .fetch_one(&api.pool)
    .await
    .unwrap();
    assert_eq!(positions.as_array().unwrap().len() as i64, expected);
    let (status, body) = api
        .send(
            "GET",
            &format!("/api/users/{}/positions", trader + 1),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_4xx(status, &body, "someone else's positions");
}

#[tokio::test]
async fn a_trade_moves_the_market_debits_and_records_shares() {
    let api = Api::start().await;
    let user = 5;
    let token = api.login(user).await;
    let (status, events) = api
        .send("GET", "/api/events?limit=5", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = &events.as_array().unwrap()[0];
    let id = i32::try_from(event["id"].as_i64().unwrap()).unwrap();
    let prob = event["market_prob"].as_f64().unwrap();
    let before = api
        .scalar_f64("SELECT rp_balance::float8 FROM users WHERE id = $1", user)
        .await;
    let shares_before: f64 = sqlx::query_scalar(
        "SELECT coalesce((SELECT yes_shares::float8 FROM user_shares WHERE user_id = $1 AND event_id = $2), 0)",
    )
    .bind(user)
    .bind(id)
    .fetch_one(&api.pool)
    .await
    .unwrap();
    let target = (prob + 0.2).min(0.99);
    let stake = (before / 10.0).clamp(0.01, 5.0);
    let (status, fill) = api
        .send(
            "POST",
            &format!("/api/events/{id}/update"),
            Some(&token),
            Some(json!({"stake": stake, "target_prob": target})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fill}");
    let cost = fill["cost"].as_f64().unwrap();
    assert!(
        cost > 0.0 && cost <= stake + 0.005,
        "cost {cost} for stake {stake}"
    );
    let after = api
        .scalar_f64("SELECT rp_balance::float8 FROM users WHERE id = $1", user)
        .await;
    assert!(
        (before - cost - after).abs() < 0.006,
        "{before} - {cost} != {after}"
    );
    assert!(after >= 0.0);
    let new_prob = api
        .scalar_f64("SELECT market_prob::float8 FROM events WHERE id = $1", id)
        .await;
    assert!(
        new_prob > prob && new_prob <= target + 1e-4,
        "{prob} -> {new_prob}"
    );
    let shares_after: f64 = sqlx::query_scalar(
        "SELECT yes_shares::float8 FROM user_shares WHERE user_id = $1 AND event_id = $2",
    )
    .bind(user)
    .bind(id)
    .fetch_one(&api.pool)
    .await
    .unwrap();
    assert!(shares_after > shares_before);

    // A stake the balance cannot cover is refused and changes nothing.
    sqlx::query("UPDATE users SET rp_balance = 0.50 WHERE id = $1")
        .bind(user)
        .execute(&api.pool)
        .await
        .unwrap();
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/events/{id}/update"),
            Some(&token),
            Some(json!({"stake": 500.0, "target_prob": 0.999})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let left = api
        .scalar_f64("SELECT rp_balance::float8 FROM users WHERE id = $1", user)
        .await;
    assert_eq!(left, 0.5);
    let negative: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE rp_balance < 0")
        .fetch_one(&api.pool)
        .await
        .unwrap();
    assert_eq!(negative, 0);

    // A closed market cannot be traded.
    let closed: i32 = sqlx::query_scalar("SELECT id FROM events WHERE status <> 'open' LIMIT 1")
        .fetch_one(&api.pool)
        .await
        .unwrap();
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/events/{closed}/update"),
            Some(&token),
            Some(json!({"stake": 0.1, "target_prob": 0.5})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn concurrent_trades_keep_balances_non_negative() {
    let api = Api::start().await;
    let user = 9;
    let token = api.login(user).await;
    sqlx::query("UPDATE users SET rp_balance = 30 WHERE id = $1")
        .bind(user)
        .execute(&api.pool)
        .await
        .unwrap();
    let (_, events) = api
        .send("GET", "/api/events?limit=3", Some(&token), None)
        .await;
    let ids: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let mut handles = Vec::new();
    for i in 0..24 {
        let client = api.client.clone();
        let url = format!("{}/api/events/{}/update", api.base, ids[i % ids.len()]);
        let token = token.clone();
        let target = if i % 2 == 0 { 0.95 } else { 0.05 };
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"stake": 4.0, "target_prob": target}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for h in handles {
        let s = h.await.unwrap();
        assert!(
            s == StatusCode::OK || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{s}"
        );
        ok += usize::from(s == StatusCode::OK);
    }
    assert!(ok >= 1);
    let left = api
        .scalar_f64("SELECT rp_balance::float8 FROM users WHERE id = $1", user)
        .await;
    assert!(left >= 0.0, "balance went negative: {left}");
}

#[tokio::test]
async fn mls_groups_messages_and_membership() {
    let api = Api::start().await;
    let (group, member): (String, i32) =
        sqlx::query_as("SELECT group_id::text, user_id FROM mls_group_members ORDER BY id LIMIT 1")
            .fetch_one(&api.pool)
            .await
            .unwrap();
    let outsider: i32 = sqlx::query_scalar(
        "SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM mls_group_members m \
         WHERE m.group_id = $1 AND m.user_id = u.id) ORDER BY id LIMIT 1",
    )
    .bind(&group)
    .fetch_one(&api.pool)
    .await
    .unwrap();
    let token = api.login(member).await;
    let (status, groups) = api.send("GET", "/api/mls/groups", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(groups
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["group_id"] == group.as_str()));

    let (status, messages) = api
        .send(
            "GET",
            &format!("/api/mls/messages/group/{group}?afterId=0&limit=3"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    let list = messages.as_array().unwrap();
    assert!(!list.is_empty() && list.len() <= 3);
    assert_eq!(list[0]["content_type"], "commit");
    let ids: Vec<i64> = list.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let data = base64_of(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let (status, posted) = api
        .send(
            "POST",
            "/api/mls/messages/group",
            Some(&token),
            Some(
                json!({"group_id": group, "epoch": 3, "content_type": "application", "data": data}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let new_id = posted["id"].as_i64().unwrap();
    let after = new_id - 1;
    let (_, fetched) = api
        .send(
            "GET",
            &format!("/api/mls/messages/group/{group}?afterId={after}"),
            Some(&token),
            None,
        )
        .await;
    let m = &fetched.as_array().unwrap()[0];
    assert_eq!(m["id"].as_i64().unwrap(), new_id);
    assert_eq!(m["data"], data.as_str());
    assert_eq!(m["sender_id"], member);
    assert_eq!(m["epoch"], 3);

    let other = api.login(outsider).await;
    let (status, body) = api
        .send(
            "GET",
            &format!("/api/mls/messages/group/{group}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_4xx(status, &body, "outsider fetch");
    let (status, body) = api
        .send(
            "POST",
            "/api/mls/messages/group",
            Some(&other),
            Some(
                json!({"group_id": group, "epoch": 1, "content_type": "application", "data": data}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_4xx(status, &body, "outsider post");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
