//! Index strategies and query variants: every strategy file applies cleanly and leaves
//! exactly its indexes, a broken one is named with its statement, every feed variant returns
//! the seed variant's rows, and the comparison report has its fields.

use std::path::Path;

use clap::Parser;
use intellacc_bench::indexes::strategy::{available, Strategy, StrategyError, DEFAULT_DIR};
use intellacc_bench::seed::secondary_indexes;
use intellacc_bench::workload::{FEED_KEYSET, FEED_LATERAL, FEED_SEED};
use intellacc_bench::Cli;
use serde_json::Value;

use crate::common;

fn dir() -> &'static Path {
    Path::new(DEFAULT_DIR)
}

/// Index names a strategy file creates.
fn declared(s: &Strategy) -> Vec<String> {
    let mut names: Vec<String> = s
        .statements
        .iter()
        .map(|st| {
            let words: Vec<&str> = st.split_whitespace().collect();
            let at = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("INDEX"))
                .unwrap();
            words[at + 1].to_string()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_strategy_applies_and_leaves_exactly_its_indexes() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let names = available(dir());
    for expected in ["seed", "none", "composite", "covering"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    for name in &names {
        let s = Strategy::load(dir(), name).unwrap();
        let applied = s.apply(&pool).await.unwrap();
        let mut present: Vec<String> = secondary_indexes(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        present.sort();
        assert_eq!(present, declared(&s), "strategy {name}");
        assert_eq!(applied.indexes.len(), present.len());
        assert!(applied.indexes.iter().all(|i| i.size_bytes > 0));
    }
    // The seed strategy is the seed schema's own set of indexes.
    let seed = Strategy::load(dir(), "seed").unwrap();
    seed.apply(&pool).await.unwrap();
    assert_eq!(declared(&seed).len(), 13);
}

#[tokio::test]
async fn a_broken_strategy_names_its_file_and_statement_and_changes_nothing() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let before = secondary_indexes(&pool).await.unwrap();
    let tmp = std::env::temp_dir().join(format!("ib-broken-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("broken.sql");
    std::fs::write(
        &file,
        "CREATE INDEX ok_one ON posts(author_id);\nCREATE INDEX bad_one ON no_such_table(x);\n",
    )
    .unwrap();
    let s = Strategy::load(&tmp, "broken").unwrap();
    let err = s.apply(&pool).await.unwrap_err();
    assert!(
        matches!(err, StrategyError::Statement { index: 2, .. }),
        "{err}"
    );
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.contains("broken.sql") && msg.contains("no_such_table"),
        "{msg}"
    );
    assert_eq!(
        secondary_indexes(&pool).await.unwrap(),
        before,
        "a failed strategy left changes"
    );

    std::fs::write(tmp.join("evil.sql"), "DROP TABLE users;").unwrap();
    let err = Strategy::load(&tmp, "evil").unwrap_err();
    assert!(err.to_string().contains("only CREATE"), "{err}");
    let err = Strategy::load(dir(), "nonexistent").unwrap_err();
    assert!(err.to_string().contains("available: "), "{err}");
    std::fs::remove_dir_all(tmp).ok();
}

type Page = Vec<(i32, chrono::NaiveDateTime)>;

async fn offset_page(pool: &sqlx::PgPool, sql: &'static str, user: i32, offset: i64) -> Page {
    sqlx::query_as::<_, (i32, chrono::NaiveDateTime)>(sqlx::AssertSqlSafe(format!(
        "SELECT id, created_at FROM ({sql}) f"
    )))
    .bind(user)
    .bind(20i64)
    .bind(offset)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_feed_variant_returns_the_seed_variants_rows() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    // Users with many, some and no followees, and one who follows nobody.
    let users: Vec<i32> = sqlx::query_scalar(
        "(SELECT follower_id FROM follows GROUP BY follower_id ORDER BY count(*) DESC LIMIT 2) \
         UNION ALL (SELECT follower_id FROM follows GROUP BY follower_id ORDER BY count(*), follower_id LIMIT 2) \
         UNION ALL (SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = u.id) LIMIT 1)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(users.len() >= 4);
    let mut compared = 0;
    for user in users {
        for offset in [0i64, 20] {
            let seed = offset_page(&pool, FEED_SEED.sql, user, offset).await;
            let lateral = offset_page(&pool, FEED_LATERAL.sql, user, offset).await;
            assert_eq!(
                seed, lateral,
                "lateral differs for user {user} offset {offset}"
            );
            compared += seed.len();
        }
        // Keyset: the first page, then the page after its last row, equal the offset pages.
        let first: Page = sqlx::query_as::<_, (i32, chrono::NaiveDateTime)>(sqlx::AssertSqlSafe(
            format!("SELECT id, created_at FROM ({}) f", FEED_KEYSET.sql),
        ))
        .bind(user)
        .bind(chrono::NaiveDateTime::MAX)
        .bind(i32::MAX)
        .bind(20i64)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(first, offset_page(&pool, FEED_SEED.sql, user, 0).await);
        if let Some(&(id, at)) = first.last() {
            let second: Page =
                sqlx::query_as::<_, (i32, chrono::NaiveDateTime)>(sqlx::AssertSqlSafe(format!(
                    "SELECT id, created_at FROM ({}) f",
                    FEED_KEYSET.sql
                )))
                .bind(user)
                .bind(at)
                .bind(id)
                .bind(20i64)
                .fetch_all(&pool)
                .await
                .unwrap();
            assert_eq!(second, offset_page(&pool, FEED_SEED.sql, user, 20).await);
        }
    }
    assert!(compared > 0);
}

#[test]
fn indexes_report_has_its_fields() {
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::seeded_db());
    let out = std::env::temp_dir().join(format!("ib-indexes-{}", std::process::id()));
    let cli = Cli::parse_from([
        "intellacc-bench",
        "--database-url",
        &url,
        "indexes",
        "--strategies",
        "seed,composite",
        "--runs",
        "8",
        "--scale",
        &common::SCALE.to_string(),
        "--seed",
        &common::SEED.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        intellacc_bench::run(cli).unwrap(),
        std::process::ExitCode::SUCCESS
    );
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["kind"], "indexes");
    assert_eq!(r["baseline"], "seed");
    assert_eq!(r["manifest"]["seed"], common::SEED);
    let strategies = r["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 2);
    for s in strategies {
        assert!(s["total_size_bytes"].as_i64().unwrap() > 0);
        assert!(s["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["size_bytes"].as_i64().unwrap() > 0));
    }
    let reads = r["reads"].as_array().unwrap();
    let statements: Vec<&str> = reads
        .iter()
        .map(|x| x["statement"].as_str().unwrap())
        .collect();
    for s in [
        "feed.seed",
        "feed.lateral",
        "feed.keyset",
        "portfolio",
        "groups",
        "messages.fetch",
    ] {
        assert!(statements.contains(&s), "{s} not measured");
    }
    for x in reads {
        assert_eq!(x["runs"], 8);
        assert!(x["latency_us"]["p50"].as_u64().unwrap() > 0);
        assert!(x["latency_us"]["p99"].as_u64() >= x["latency_us"]["p50"].as_u64());
        assert!(!x["plan"]["shape"].as_str().unwrap().is_empty());
        let verdict = x["verdict"].as_str().unwrap();
        if x["strategy"] == "seed" {
            assert_eq!(verdict, "baseline");
        } else {
            assert!(
                ["faster", "no_difference", "slower"].contains(&verdict),
                "{verdict}"
            );
        }
    }
    // The composite strategy's feed reads posts through its new index.
    assert!(reads.iter().any(|x| x["strategy"] == "composite"
        && x["statement"] == "feed.lateral"
        && x["plan"]["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "idx_posts_author_created")));
    let writes = r["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 4);
    assert!(!r["best"].as_array().unwrap().is_empty());
    assert!(r["pg_stat_statements"].is_string());
    for f in ["report.md", "report.html"] {
        assert!(out.join(f).is_file());
    }
    assert!(std::fs::read_to_string(out.join("report.html"))
        .unwrap()
        .contains("<svg"));
    std::fs::remove_dir_all(&out).ok();
}
