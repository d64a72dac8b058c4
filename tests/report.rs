//! The whole `run` pipeline on a seeded database, through the same entry point as the
//! binary, and the contract of the report.json it writes.

use clap::Parser;
use intellacc_bench::Cli;
use serde_json::Value;

use crate::common;

#[test]
fn run_writes_a_report_with_every_endpoint() {
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::seeded_db());
    let out = std::env::temp_dir().join(format!("ib-report-{}", std::process::id()));
    let scale = common::SCALE.to_string();
    let seed = common::SEED.to_string();
    let cli = Cli::parse_from([
        "intellacc-bench",
        "--database-url",
        &url,
        "run",
        "--scale",
        &scale,
        "--seed",
        &seed,
        "--duration",
        "4",
        "--warmup",
        "1",
        "--users",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let code = intellacc_bench::run(cli).unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert!(report["run_id"].as_str().unwrap().contains("seed7"));
    assert_eq!(report["config"]["seed"], 7);
    assert_eq!(report["config"]["scenario"]["users"], 3);
    let manifest = &report["manifest"];
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["scale"], common::SCALE);
    assert!(manifest["postgres_version"].is_string());
    let tables = manifest["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 10);
    for t in tables {
        assert!(t["name"].is_string() && t["rows"].as_i64().unwrap() > 0);
        let checksum = t["checksum"].as_str().unwrap();
        assert!(checksum.len() == 32 && u128::from_str_radix(checksum, 16).is_ok());
    }
    assert_eq!(report["load"]["load_model"], "closed");
    assert_eq!(report["load"]["interrupted"], false);
    let endpoints = report["endpoints"].as_array().unwrap();
    let names: Vec<&str> = endpoints
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for expected in [
        "GET /api/feed",
        "GET /api/users/:id/positions",
        "POST /api/events/:id/update",
        "GET /api/mls/groups",
        "GET /api/mls/messages/group/:group_id",
        "POST /api/mls/messages/group",
        "POST /api/login",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for e in endpoints {
        let lat = &e["latency_us"];
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(lat[k].is_u64(), "{} lacks latency_us.{k}", e["name"]);
        }
        let count = e["count"].as_u64().unwrap();
        let by_status: u64 = e["status"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(by_status, count);
        assert_eq!(e["transport_errors"], 0);
        assert!(
            e["status"]
                .as_object()
                .unwrap()
                .keys()
                .all(|s| !s.starts_with('5')),
            "5xx in {e}"
        );
        if count > 0 {
            assert!(lat["p50"].as_u64().unwrap() <= lat["p99"].as_u64().unwrap());
            assert!(lat["p99"].as_u64().unwrap() <= lat["max"].as_u64().unwrap());
            assert!(lat["p50"].as_u64().unwrap() > 0);
        }
        assert!(count > 0, "no measured requests for {}", e["name"]);
    }
    assert!(out.join("report.md").is_file());
    assert!(out.join("goose.html").is_file());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("GET /api/feed") && md.contains("Seed **7**"));
    std::fs::remove_dir_all(&out).ok();
}
