//! Seeding progress: one live bar per table with rows and rows/s on a terminal; plain lines
//! every few seconds otherwise; nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Quiet,
}

impl Mode {
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }
}

/// Progress of a seeding run; bars count rows even when hidden, for the plain lines. Clones
/// share the bars.
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
    bars: Vec<(&'static str, ProgressBar)>,
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        let target = match mode {
            Mode::Bars => ProgressDrawTarget::stderr(),
            Mode::Lines | Mode::Quiet => ProgressDrawTarget::hidden(),
        };
        Self {
            mode,
            multi: MultiProgress::with_draw_target(target),
            bars: Vec::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A bar for `table`.
    pub fn table(&mut self, table: &'static str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::no_length());
        let style = ProgressStyle::with_template(
            "  {prefix:<22} {spinner} {human_pos:>11} rows  {rate:>14}  {elapsed:>4} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} rows/s", state.per_sec());
            },
        );
        bar.set_style(style);
        bar.set_prefix(table);
        if self.mode == Mode::Bars {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        self.bars.push((table, bar.clone()));
        bar
    }

    /// Prints a line without tearing the bars.
    pub fn println(&self, line: &str) {
        match self.mode {
            Mode::Bars => {
                let _ = self.multi.println(line);
            }
            Mode::Lines => eprintln!("{line}"),
            Mode::Quiet => {}
        }
    }

    /// In plain-line mode, a task that prints the running tables every `every`.
    pub fn spawn_ticker(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if self.mode != Mode::Lines {
            return None;
        }
        let bars = self.bars.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let running: Vec<String> = bars
                    .iter()
                    .filter(|(_, b)| !b.is_finished())
                    .map(|(t, b)| format!("{t} {} rows", b.position()))
                    .collect();
                if running.is_empty() {
                    break;
                }
                eprintln!("  loading: {}", running.join(", "));
            }
        }))
    }
}
