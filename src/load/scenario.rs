//! Scenario files (`scenarios/*.toml`): personas with weights and think times, users,
//! duration, warm-up and server pool size. Parsed strictly; every mistake names the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schedule::Arrival;

/// The personas the load generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonaKind {
    /// Reads the feed: first page, sometimes the next.
    FeedReader,
    /// Checks the portfolio and open markets, then trades.
    Trader,
    /// Lists groups, fetches a group's new messages, posts one.
    Messenger,
    /// Calls `GET /debug/delay?ms=<delay_ms>` (server started with --debug-endpoints): proves
    /// what the harness measures against a known latency.
    Calibration,
}

impl PersonaKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::FeedReader => "feed_reader",
            Self::Trader => "trader",
            Self::Messenger => "messenger",
            Self::Calibration => "calibration",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThinkTime {
    pub min_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    pub kind: PersonaKind,
    pub weight: usize,
    pub think_time: ThinkTime,
    /// Calibration persona: the server-side delay to ask for.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Open model for this persona alone: its own schedule at this many requests per second.
    #[serde(default)]
    pub rate: Option<f64>,
}

/// A scenario file as written; optional fields fall back to built-in defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    description: Option<String>,
    users: Option<usize>,
    duration_secs: Option<u64>,
    warmup_secs: Option<u64>,
    pool_size: Option<u32>,
    /// Open model: requests per second for the whole mix (absent: closed model).
    rate: Option<f64>,
    arrival: Option<Arrival>,
    #[serde(rename = "persona")]
    personas: Vec<Persona>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub source: Option<PathBuf>,
    pub users: usize,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    pub pool_size: u32,
    /// Open model at this many requests per second (whole mix); `None`: closed model.
    pub rate: Option<f64>,
    pub arrival: Arrival,
    pub personas: Vec<Persona>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario {name}: {message}")]
    Invalid { name: String, message: String },
}

/// Built-in defaults, used when neither a flag nor the scenario sets a value.
pub const DEFAULT_USERS: usize = 12;
pub const DEFAULT_DURATION_SECS: u64 = 30;
pub const DEFAULT_WARMUP_SECS: u64 = 5;
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// Hard limits: every load run is bounded in time and size.
pub const MAX_DURATION_SECS: u64 = 3600;
pub const MAX_USERS: usize = 5000;
/// Highest and lowest open-model rates accepted (requests per second).
pub const MAX_RATE: f64 = 100_000.0;
pub const MIN_RATE: f64 = 0.01;

/// The shipped mixed scenario, used when no file is given.
pub const MIXED: &str = include_str!("../../scenarios/mixed.toml");

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    pub fn builtin_mixed() -> Self {
        // The shipped file is checked by a unit test; fall back to a minimal valid mix.
        Self::parse(MIXED, None).unwrap_or_else(|_| Self {
            name: "mixed".into(),
            description: String::new(),
            source: None,
            users: DEFAULT_USERS,
            duration_secs: DEFAULT_DURATION_SECS,
            warmup_secs: DEFAULT_WARMUP_SECS,
            pool_size: DEFAULT_POOL_SIZE,
            rate: None,
            arrival: Arrival::Constant,
            personas: vec![Persona {
                kind: PersonaKind::FeedReader,
                weight: 1,
                think_time: ThinkTime {
                    min_ms: 100,
                    max_ms: 500,
                },
                delay_ms: None,
                rate: None,
            }],
        })
    }

    pub fn parse(text: &str, path: Option<&Path>) -> Result<Self, ScenarioError> {
        let shown = path.map_or_else(|| PathBuf::from("<built-in mixed>"), Path::to_path_buf);
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let name = file.name.unwrap_or_else(|| {
            shown
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
        });
        let s = Self {
            name,
            description: file.description.unwrap_or_default(),
            source: path.map(Path::to_path_buf),
            users: file.users.unwrap_or(DEFAULT_USERS),
            duration_secs: file.duration_secs.unwrap_or(DEFAULT_DURATION_SECS),
            warmup_secs: file.warmup_secs.unwrap_or(DEFAULT_WARMUP_SECS),
            pool_size: file.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
            rate: file.rate,
            arrival: file.arrival.unwrap_or_default(),
            personas: file.personas,
        };
        s.validate()?;
        Ok(s)
    }

    /// Switches to the open model at `rate` requests per second (flags win over the file).
    pub fn with_rate(
        mut self,
        rate: Option<f64>,
        arrival: Option<Arrival>,
    ) -> Result<Self, ScenarioError> {
        if rate.is_some() {
            self.rate = rate;
        }
        if let Some(a) = arrival {
            self.arrival = a;
        }
        self.validate()?;
        Ok(self)
    }

    /// `open` or `closed`.
    pub fn load_model(&self) -> &'static str {
        if self.target_rate().is_some() {
            "open"
        } else {
            "closed"
        }
    }

    /// Total open-model rate: the mix's rate plus the personas' own rates.
    pub fn target_rate(&self) -> Option<f64> {
        let own: f64 = self.personas.iter().filter_map(|p| p.rate).sum();
        match (self.rate, own > 0.0) {
            (Some(r), _) => Some(r + own),
            (None, true) => Some(own),
            (None, false) => None,
        }
    }

    /// Applies command-line overrides (flags win over the file) and re-validates.
    pub fn with_overrides(
        mut self,
        users: Option<usize>,
        duration_secs: Option<u64>,
        warmup_secs: Option<u64>,
    ) -> Result<Self, ScenarioError> {
        if let Some(u) = users {
            self.users = u;
        }
        if let Some(d) = duration_secs {
            self.duration_secs = d;
        }
        match warmup_secs {
            Some(w) => self.warmup_secs = w,
            // A shorter run than the file's warm-up allows: keep a quarter of it as warm-up.
            None if duration_secs.is_some() && self.warmup_secs >= self.duration_secs => {
                self.warmup_secs = self.duration_secs / 4;
            }
            None => {}
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let fail = |message: String| {
            Err(ScenarioError::Invalid {
                name: self.name.clone(),
                message,
            })
        };
        if self.personas.is_empty() {
            return fail("at least one [[persona]] is required".into());
        }
        if !(1..=MAX_USERS).contains(&self.users) {
            return fail(format!("users must be between 1 and {MAX_USERS}"));
        }
        if !(1..=MAX_DURATION_SECS).contains(&self.duration_secs) {
            return fail(format!(
                "duration_secs must be between 1 and {MAX_DURATION_SECS}"
            ));
        }
        if self.warmup_secs >= self.duration_secs {
            return fail(format!(
                "warm-up ({} s) must be shorter than the duration ({} s); set --warmup",
                self.warmup_secs, self.duration_secs
            ));
        }
        for r in self.personas.iter().filter_map(|p| p.rate).chain(self.rate) {
            if !(r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r)) {
                return fail(format!(
                    "rate must be between {MIN_RATE} and {MAX_RATE} requests/s"
                ));
            }
        }
        if !(1..=500).contains(&self.pool_size) {
            return fail("pool_size must be between 1 and 500".into());
        }
        for p in &self.personas {
            if p.weight == 0 || p.weight > 1000 {
                return fail(format!(
                    "persona {} weight must be between 1 and 1000",
                    p.kind.name()
                ));
            }
            if p.think_time.min_ms > p.think_time.max_ms || p.think_time.max_ms > 60_000 {
                return fail(format!(
                    "persona {} think_time needs min_ms <= max_ms <= 60000",
                    p.kind.name()
                ));
            }
        }
        let mut kinds: Vec<_> = self.personas.iter().map(|p| p.kind.name()).collect();
        kinds.sort_unstable();
        if kinds.windows(2).any(|w| w[0] == w[1]) {
            return fail("each persona kind may appear once".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_mixed_scenario_parses() {
        let s = Scenario::parse(MIXED, None).unwrap();
        assert_eq!(s.name, "mixed");
        assert_eq!(s.personas.len(), 3);
    }

    #[test]
    fn rejects_unknown_persona_and_fields() {
        let bad =
            "[[persona]]\nkind = \"lurker\"\nweight = 1\nthink_time = { min_ms = 1, max_ms = 2 }\n";
        let e = Scenario::parse(bad, Some(Path::new("x.toml"))).unwrap_err();
        assert!(e.to_string().contains("x.toml"), "{e}");
        let extra = "userz = 3\n[[persona]]\nkind = \"trader\"\nweight = 1\nthink_time = { min_ms = 1, max_ms = 2 }\n";
        assert!(Scenario::parse(extra, None).is_err());
        let zero =
            "[[persona]]\nkind = \"trader\"\nweight = 0\nthink_time = { min_ms = 1, max_ms = 2 }\n";
        assert!(Scenario::parse(zero, None).is_err());
    }

    #[test]
    fn per_persona_rates_make_an_open_model() {
        let text = "[[persona]]\nkind = \"feed_reader\"\nweight = 3\nthink_time = { min_ms = 0, max_ms = 0 }\nrate = 150\n\
                    [[persona]]\nkind = \"trader\"\nweight = 1\nthink_time = { min_ms = 0, max_ms = 0 }\nrate = 50\n";
        let s = Scenario::parse(text, None).unwrap();
        assert_eq!(s.load_model(), "open");
        assert_eq!(s.target_rate(), Some(200.0));
        let s = Scenario::parse(MIXED, None).unwrap();
        assert_eq!(s.load_model(), "closed");
        let s = s.with_rate(Some(300.0), None).unwrap();
        assert_eq!(s.target_rate(), Some(300.0));
        assert!(Scenario::parse(&text.replace("rate = 50", "rate = -1"), None).is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let s = Scenario::parse(MIXED, None)
            .unwrap()
            .with_overrides(Some(2), Some(3), Some(1))
            .unwrap();
        assert_eq!((s.users, s.duration_secs, s.warmup_secs), (2, 3, 1));
        assert!(Scenario::parse(MIXED, None)
            .unwrap()
            .with_overrides(None, Some(2), Some(5))
            .is_err());
        // --duration alone, shorter than the file's warm-up: warm-up shrinks to fit.
        let short = Scenario::parse(MIXED, None)
            .unwrap()
            .with_overrides(None, Some(4), None)
            .unwrap();
        assert_eq!(short.warmup_secs, 1);
    }
}
