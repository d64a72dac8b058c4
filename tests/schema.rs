//! The migrated catalog is the seed schema, exactly — and seeding (which drops and restores
//! foreign keys and secondary indexes) leaves it exactly so.

use crate::common;

const EXPECTED: &str = include_str!("fixtures/seed_schema.txt");
const CATALOG_SQL: &str = include_str!("fixtures/catalog.sql");

async fn catalog(url: &str) -> Vec<String> {
    let pool = common::pool(url).await;
    let mut lines = Vec::new();
    for stmt in CATALOG_SQL
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(stmt.to_string()))
            .fetch_all(&pool)
            .await
            .unwrap();
        lines.extend(rows);
    }
    pool.close().await;
    lines
}

fn expected() -> Vec<String> {
    EXPECTED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn assert_same(actual: &[String], what: &str) {
    let expected = expected();
    let missing: Vec<_> = expected.iter().filter(|l| !actual.contains(l)).collect();
    let extra: Vec<_> = actual.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: catalog differs from the seed schema\nmissing: {missing:#?}\nextra: {extra:#?}"
    );
}

#[tokio::test]
async fn migrated_catalog_is_the_seed_schema() {
    let (url, pool) = common::migrated_db().await;
    pool.close().await;
    let actual = catalog(&url).await;
    assert_eq!(actual.len(), expected().len());
    assert_same(&actual, "after migration");
}

#[tokio::test]
async fn seeding_restores_every_index_and_constraint() {
    let url = common::seeded_db().await;
    assert_same(&catalog(&url).await, "after seeding");
    // The harness's bookkeeping tables are not part of the load: their keys stay.
    let pool = common::pool(&url).await;
    let keyed: Vec<String> = sqlx::query_scalar(
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'p' \
         AND conrelid::regclass::text IN ('intellacc_bench_manifest', '_sqlx_migrations') \
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(keyed, ["_sqlx_migrations", "intellacc_bench_manifest"]);
    pool.close().await;
}

#[tokio::test]
async fn seeded_tables_are_analyzed_and_all_visible() {
    // Vacuumed after the load: every heap page is in the visibility map, so index-only
    // scans need no heap visits from the first query; and the planner has statistics.
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let rows: Vec<(String, i32, i32, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relpages, c.relallvisible, \
         EXISTS (SELECT FROM pg_statistic s WHERE s.starelid = c.oid) \
         FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' \
         AND c.relname = ANY($1) ORDER BY 1",
    )
    .bind(intellacc_bench::seed::TABLES)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), intellacc_bench::seed::TABLES.len());
    for (table, pages, visible, analyzed) in rows {
        assert!(pages > 0, "{table}: no pages");
        assert_eq!(visible, pages, "{table}: not all-visible");
        assert!(analyzed, "{table}: no planner statistics");
    }
    pool.close().await;
}
