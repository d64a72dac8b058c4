//! Bad input through the real binary: a clear message and a non-zero exit, never a panic.

use std::process::Command;

fn bench(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_intellacc-bench"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn malformed_scenario_file_names_the_file() {
    let path = std::env::temp_dir().join(format!("bad-scenario-{}.toml", std::process::id()));
    std::fs::write(&path, "users = \"many\"\n[[persona]]\nkind = \"lurker\"\n").unwrap();
    let (code, err) = bench(&[
        "load",
        "--host",
        "http://127.0.0.1:9",
        "--scenario",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    std::fs::remove_file(path).ok();
    let (code, err) = bench(&[
        "load",
        "--host",
        "http://127.0.0.1:9",
        "--scenario",
        "/no/such.toml",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such.toml"), "{err}");
}

#[test]
fn non_loopback_or_malformed_hosts_are_refused() {
    for host in [
        "http://10.1.2.3:80",
        "ftp://127.0.0.1",
        "not a url",
        "http://example.com",
    ] {
        let (code, err) = bench(&["load", "--host", host, "--duration", "1"]);
        assert_eq!(code, 2, "{host}: {err}");
        assert!(
            err.contains("--host") || err.contains("loopback"),
            "{host}: {err}"
        );
    }
    let (code, err) = bench(&["serve", "--addr", "0.0.0.0:8080"]);
    assert_eq!(code, 2);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn unreachable_server_is_an_error_not_a_hang() {
    // Port 9 (discard) has no listener here.
    let (code, err) = bench(&["load", "--host", "http://127.0.0.1:9", "--duration", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    let (code, err) = bench(&[
        "load",
        "--host",
        "http://127.0.0.1:9",
        "--duration",
        "2",
        "--warmup",
        "5",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--warmup"), "{err}");
}

#[test]
fn bad_database_url_and_scale_are_errors() {
    let (code, err) = bench(&["--database-url", "mysql://x", "seed", "--scale", "0.01"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("database URL"), "{err}");
    let (code, err) = bench(&["seed", "--scale", "abc"]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = bench(&["seed", "--mls-live-share", "1.5"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("share between 0 and 1"), "{err}");
    let (code, err) = bench(&["run", "--duration", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("duration"), "{err}");
    for jobs in ["0", "65", "-1"] {
        let (code, err) = bench(&["seed", "--jobs", jobs]);
        assert_eq!(code, 2, "--jobs {jobs}: {err}");
        assert!(err.contains("--jobs"), "{err}");
    }
}
