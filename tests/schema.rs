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
    let url = common::fresh_db().await;
    let pool = common::pool(&url).await;
    intellacc_bench::db::marker::claim_and_migrate(&pool, "t")
        .await
        .unwrap();
    pool.close().await;
    let actual = catalog(&url).await;
    assert_eq!(actual.len(), expected().len());
    assert_same(&actual, "after migration");
}

#[tokio::test]
async fn seeding_restores_every_index_and_constraint() {
    let url = common::seeded_db().await;
    assert_same(&catalog(&url).await, "after seeding");
}
