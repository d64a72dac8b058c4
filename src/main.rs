//! The `intellacc-bench` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = intellacc_bench::Cli::parse();
    match intellacc_bench::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each cause once: some errors (sqlx's) already repeat their
/// source in their own message.
fn describe(e: &anyhow::Error) -> String {
    let mut out = text_of(e.as_ref());
    for cause in e.chain().skip(1) {
        let text = text_of(cause);
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// An error's message; for the server's errors without the "at line N" that sqlx appends
/// (a line of PostgreSQL's C source, meaningless to the reader).
fn text_of(e: &(dyn std::error::Error + 'static)) -> String {
    // sqlx::Error::Database's source is the boxed server error.
    if let Some(db) = e.downcast_ref::<Box<dyn sqlx::error::DatabaseError>>() {
        return db.message().to_string();
    }
    if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>() {
        return format!("error returned from database: {}", db.message());
    }
    e.to_string()
}

/// glibc gives every thread that contends for the allocator an arena of its own (up to 8
/// per core), and their fragmentation made peak memory creep up with the length of a
/// seeding run. Two arenas keep it flat; nothing here is allocation-bound.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
