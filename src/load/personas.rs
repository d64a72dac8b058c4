//! The personas as goose scenarios: feed reader, trader, messenger. Every request is timed
//! here, to the end of its body, and recorded under its endpoint template.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use goose::prelude::*;
use rand::RngExt;
use serde_json::{json, Value};

use super::record::{Outcome, Recorder, Timing};
use super::scenario::{Persona, PersonaKind};
use super::schedule::Schedule;
use crate::seed::rng::{self, GenRng};
use crate::server::bench::Account;

/// Endpoint templates: the names requests are reported under.
pub const LOGIN: &str = "POST /api/login";
pub const FEED: &str = "GET /api/feed";
pub const POSITIONS: &str = "GET /api/users/:id/positions";
pub const EVENTS: &str = "GET /api/events";
pub const TRADE: &str = "POST /api/events/:id/update";
pub const GROUPS: &str = "GET /api/mls/groups";
pub const MESSAGES: &str = "GET /api/mls/messages/group/:group_id";
pub const POST_MESSAGE: &str = "POST /api/mls/messages/group";
pub const DELAY: &str = "GET /debug/delay";

/// State shared by every user of a run.
pub struct Shared {
    pub recorder: Arc<Recorder>,
    /// The open model's schedules: one for the whole mix, or one per persona that sets its
    /// own rate. Empty in the closed model.
    pub schedules: Vec<(Option<PersonaKind>, Arc<Schedule>)>,
    /// Wakes users at their slots with sub-millisecond precision.
    pub timer: super::schedule::PreciseTimer,
    pub accounts: Mutex<Accounts>,
    pub next_user: AtomicUsize,
    pub seed: u64,
}

/// Hands out each seeded account at most once: group members to messengers, anyone to
/// the other personas.
pub struct Accounts {
    any: VecDeque<Account>,
    member: VecDeque<Account>,
    feed: VecDeque<Account>,
    used: HashSet<i32>,
}

impl Accounts {
    pub fn new(any: Vec<Account>, member: Vec<Account>, feed: Vec<Account>) -> Self {
        Self {
            any: any.into(),
            member: member.into(),
            feed: feed.into(),
            used: HashSet::new(),
        }
    }

    /// The next unused account for a persona, if any is left: group members for messengers,
    /// cohort-balanced users for feed readers.
    pub fn take(&mut self, kind: PersonaKind) -> Option<Account> {
        let lists = match kind {
            PersonaKind::Messenger => [&mut self.member, &mut self.any, &mut self.feed],
            PersonaKind::FeedReader => [&mut self.feed, &mut self.any, &mut self.member],
            PersonaKind::Trader | PersonaKind::Calibration => {
                [&mut self.any, &mut self.member, &mut self.feed]
            }
        };
        for list in lists {
            while let Some(a) = list.pop_front() {
                if self.used.insert(a.id) {
                    return Some(a);
                }
            }
        }
        None
    }
}

impl Shared {
    /// The schedule a persona's requests take their slots from, if it runs open-model.
    pub fn schedule_for(&self, kind: PersonaKind) -> Option<Arc<Schedule>> {
        self.schedules
            .iter()
            .find(|(k, _)| *k == Some(kind))
            .or_else(|| self.schedules.iter().find(|(k, _)| k.is_none()))
            .map(|(_, s)| Arc::clone(s))
    }
}

/// One goose user's state, set at login.
#[derive(Clone)]
struct Session {
    token: String,
    user_id: i32,
    /// Feed cohort of the account, when known.
    cohort: Option<&'static str>,
    /// The open-model schedule of this user's persona.
    schedule: Option<Arc<Schedule>>,
    rng: GenRng,
    /// Highest message id seen per group, for `afterId`.
    seen: HashMap<String, i32>,
}

pub fn scenario(persona: &Persona, shared: &Arc<Shared>) -> Result<Scenario, GooseError> {
    let kind = persona.kind;
    let delay_ms = persona.delay_ms.unwrap_or(0);
    let login_shared = Arc::clone(shared);
    let login: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let shared = Arc::clone(&login_shared);
        Box::pin(async move { login(user, &shared, kind).await })
    });
    let work_shared = Arc::clone(shared);
    let work: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let shared = Arc::clone(&work_shared);
        Box::pin(async move {
            if user.get_session_data::<Session>().is_none() {
                // Login failed: nothing to do but wait (the failure is already recorded).
                return Ok(());
            }
            match kind {
                PersonaKind::FeedReader => feed_reader(user, &shared).await,
                PersonaKind::Trader => trader(user, &shared).await,
                PersonaKind::Messenger => messenger(user, &shared).await,
                PersonaKind::Calibration => calibration(user, &shared, delay_ms).await,
            }
        })
    });
    // The open model paces by its schedule: no think time.
    let (min, max) = if shared.schedule_for(kind).is_some() {
        (0, 0)
    } else {
        (persona.think_time.min_ms, persona.think_time.max_ms)
    };
    Ok(Scenario::new(kind.name())
        .set_weight(persona.weight)?
        .set_wait_time(Duration::from_millis(min), Duration::from_millis(max))?
        .register_transaction(Transaction::new(login).set_name("login").set_on_start())
        .register_transaction(Transaction::new(work).set_name(kind.name())))
}

/// A request's result as the personas need it.
struct Reply {
    body: Option<Value>,
}

/// One request of a persona.
struct Req<'a> {
    method: GooseMethod,
    path: &'a str,
    endpoint: &'static str,
    token: Option<&'a str>,
    body: Option<&'a Value>,
    /// The user's cohort, for per-cohort feed latency.
    cohort: Option<&'static str>,
}

/// Sends one request (`call_req` with no cohort).
async fn call(
    user: &mut GooseUser,
    shared: &Shared,
    method: GooseMethod,
    path: &str,
    endpoint: &'static str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Reply, Box<TransactionError>> {
    let req = Req {
        method,
        path,
        endpoint,
        token,
        body,
        cohort: None,
    };
    call_req(user, shared, req).await
}

/// Sends one request, reads the whole body, records the latency under its endpoint. In the
/// open model it first takes the next slot of the shared schedule and waits for its time;
/// the latency then counts from the slot.
async fn call_req(
    user: &mut GooseUser,
    shared: &Shared,
    req: Req<'_>,
) -> Result<Reply, Box<TransactionError>> {
    let once = req.endpoint == LOGIN;
    let schedule = user
        .get_session_data::<Session>()
        .and_then(|s| s.schedule.clone());
    let intended = match (schedule, once) {
        (Some(schedule), false) => match schedule.next() {
            Some(slot) => {
                shared.timer.sleep_until(slot).await;
                Some(slot)
            }
            // The schedule is over and the run ends by itself within a moment. Yield (a
            // loop of instant returns would starve goose's own shutdown).
            None => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(Reply { body: None });
            }
        },
        _ => None,
    };
    let mut rb = user.get_request_builder(&req.method, req.path)?;
    if let Some(t) = req.token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = req.body {
        rb = rb.json(b);
    }
    // goose keys metrics by "{METHOD} {name}": give it the template without the method.
    let goose_name = req
        .endpoint
        .split_once(' ')
        .map_or(req.endpoint, |(_, p)| p);
    let request = GooseRequest::builder()
        .method(req.method)
        .path(req.path)
        .name(goose_name)
        .set_request_builder(rb)
        .build();
    let sent = Instant::now();
    let response = user.request(request).await?;
    let (outcome, body) = match response.response {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(bytes) => (Outcome::Status(status), serde_json::from_slice(&bytes).ok()),
                Err(_) => (Outcome::Transport, None),
            }
        }
        Err(_) => (Outcome::Transport, None),
    };
    let timing = Timing {
        intended: intended.unwrap_or(sent),
        sent,
        ended: Instant::now(),
    };
    let recorder = &shared.recorder;
    match req.cohort {
        // Logins happen once per user, at the start, by design: measure them all.
        _ if once => recorder.record_once(req.endpoint, timing, outcome),
        Some(c) => recorder.record_cohort(req.endpoint, c, timing, outcome),
        None => recorder.record(req.endpoint, timing, outcome),
    }
    Ok(Reply { body })
}

async fn login(
    user: &mut GooseUser,
    shared: &Shared,
    kind: PersonaKind,
) -> Result<(), Box<TransactionError>> {
    let n = shared.next_user.fetch_add(1, Ordering::SeqCst);
    let account = shared
        .accounts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(kind);
    let Some(account) = account else {
        // More users than accounts: checked before the run starts, so this cannot happen.
        return Ok(());
    };
    let body = json!({ "email": account.email, "password": crate::seed::params::PASSWORD });
    let reply = call(
        user,
        shared,
        GooseMethod::Post,
        "/api/login",
        LOGIN,
        None,
        Some(&body),
    )
    .await?;
    let token = reply
        .body
        .as_ref()
        .and_then(|b| b.get("token"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(token) = token {
        user.set_session_data(Session {
            token,
            user_id: account.id,
            cohort: account.cohort.as_deref().and_then(cohort_label),
            schedule: shared.schedule_for(kind),
            rng: rng::stream(shared.seed, "load-user", n as u64),
            seen: HashMap::new(),
        });
    }
    Ok(())
}

/// The static label of a feed cohort name from the server.
fn cohort_label(name: &str) -> Option<&'static str> {
    ["celebrity_follower", "typical", "power_follower", "dormant"]
        .into_iter()
        .find(|c| *c == name)
}

fn session(user: &mut GooseUser) -> &mut Session {
    user.get_session_data_unchecked_mut::<Session>()
}

/// First feed page, and one time in three the next page too (offset and keyset cursor both
/// sent: the server uses the one its feed variant pages by).
async fn feed_reader(user: &mut GooseUser, shared: &Shared) -> Result<(), Box<TransactionError>> {
    let (token, cohort) = {
        let s = session(user);
        (s.token.clone(), s.cohort)
    };
    let feed = |path| Req {
        method: GooseMethod::Get,
        path,
        endpoint: FEED,
        token: Some(&token),
        body: None,
        cohort,
    };
    let first = call_req(user, shared, feed("/api/feed?limit=20&offset=0")).await?;
    if session(user).rng.random_bool(1.0 / 3.0) {
        let last = first
            .body
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|a| a.last())
            .and_then(|p| {
                Some((
                    p.get("created_at")?.as_str()?.to_string(),
                    p.get("id")?.as_i64()?,
                ))
            });
        let path = match last {
            Some((at, id)) => format!("/api/feed?limit=20&offset=20&before={at}&before_id={id}"),
            None => "/api/feed?limit=20&offset=20".to_string(),
        };
        call_req(user, shared, feed(&path)).await?;
    }
    Ok(())
}

/// Portfolio, open markets, then a small trade toward a nearby price in one of them.
async fn trader(user: &mut GooseUser, shared: &Shared) -> Result<(), Box<TransactionError>> {
    let (token, id) = {
        let s = session(user);
        (s.token.clone(), s.user_id)
    };
    let path = format!("/api/users/{id}/positions");
    call(
        user,
        shared,
        GooseMethod::Get,
        &path,
        POSITIONS,
        Some(&token),
        None,
    )
    .await?;
    let events = call(
        user,
        shared,
        GooseMethod::Get,
        "/api/events?limit=20",
        EVENTS,
        Some(&token),
        None,
    )
    .await?;
    let markets: Vec<(i64, f64)> = events
        .body
        .as_ref()
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e.get("id")?.as_i64()?, e.get("market_prob")?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    if markets.is_empty() {
        return Ok(());
    }
    let (event, stake, target) = {
        let rng = &mut session(user).rng;
        let (event, prob) = markets[rng.random_range(0..markets.len())];
        let target: f64 = (prob + rng.random_range(-0.1..0.1)).clamp(0.01, 0.99);
        (
            event,
            (rng.random_range(1.0..10.0_f64) * 100.0).round() / 100.0,
            target,
        )
    };
    let path = format!("/api/events/{event}/update");
    let body = json!({ "stake": stake, "target_prob": target });
    call(
        user,
        shared,
        GooseMethod::Post,
        &path,
        TRADE,
        Some(&token),
        Some(&body),
    )
    .await?;
    Ok(())
}

/// Groups, new messages of one group, then a message of realistic ciphertext size.
async fn messenger(user: &mut GooseUser, shared: &Shared) -> Result<(), Box<TransactionError>> {
    let token = session(user).token.clone();
    let groups = call(
        user,
        shared,
        GooseMethod::Get,
        "/api/mls/groups",
        GROUPS,
        Some(&token),
        None,
    )
    .await?;
    let ids: Vec<String> = groups
        .body
        .as_ref()
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g.get("group_id")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Ok(());
    }
    let (group, after) = {
        let s = session(user);
        let g = ids[s.rng.random_range(0..ids.len())].clone();
        let after = s.seen.get(&g).copied().unwrap_or(0);
        (g, after)
    };
    let path = format!("/api/mls/messages/group/{group}?afterId={after}&limit=50");
    let fetched = call(
        user,
        shared,
        GooseMethod::Get,
        &path,
        MESSAGES,
        Some(&token),
        None,
    )
    .await?;
    let (last_id, epoch) = fetched
        .body
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .map_or((after, None), |m| {
            (
                m.get("id")
                    .and_then(Value::as_i64)
                    .map_or(after, |v| i32::try_from(v).unwrap_or(after)),
                m.get("epoch").and_then(Value::as_i64),
            )
        });
    session(user).seen.insert(group.clone(), last_id);
    // An application message is its plaintext plus ~146 bytes of MLS framing and tag.
    let data: Vec<u8> = {
        let rng = &mut session(user).rng;
        let len = 146 + rng.random_range(20..400);
        (0..len).map(|_| rng.random::<u8>()).collect()
    };
    let body = json!({
        "group_id": group,
        "epoch": epoch.unwrap_or(1),
        "content_type": "application",
        "data": STANDARD.encode(&data),
    });
    call(
        user,
        shared,
        GooseMethod::Post,
        "/api/mls/messages/group",
        POST_MESSAGE,
        Some(&token),
        Some(&body),
    )
    .await?;
    Ok(())
}

/// One call of the calibration endpoint.
async fn calibration(
    user: &mut GooseUser,
    shared: &Shared,
    delay_ms: u64,
) -> Result<(), Box<TransactionError>> {
    let path = format!("/debug/delay?ms={delay_ms}");
    call(user, shared, GooseMethod::Get, &path, DELAY, None, None).await?;
    Ok(())
}
