//! Plan capture: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of a case, summarised as its node
//! shape (`Limit > Sort > Hash Join > Seq Scan posts`), the indexes used, rows removed by
//! filters and shared buffers hit/read — the *why* behind a latency.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::cases::Case;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Node types from the root down, depth-first; scans name their relation.
    pub shape: String,
    pub indexes: Vec<String>,
    pub rows_removed_by_filter: f64,
    pub shared_hit_blocks: i64,
    pub shared_read_blocks: i64,
    pub execution_ms: f64,
}

/// Runs the case under EXPLAIN ANALYZE and summarises the plan.
pub async fn capture(conn: &mut PgConnection, case: &Case) -> Result<PlanSummary, sqlx::Error> {
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", case.sql);
    let row = case.bind(&sql).fetch_one(conn).await?;
    let plan: Value = sqlx::Row::try_get(&row, 0)?;
    Ok(summarise(&plan))
}

pub fn summarise(explain: &Value) -> PlanSummary {
    let top = &explain[0];
    let root = &top["Plan"];
    let mut s = PlanSummary {
        execution_ms: top["Execution Time"].as_f64().unwrap_or(0.0),
        shared_hit_blocks: root["Shared Hit Blocks"].as_i64().unwrap_or(0),
        shared_read_blocks: root["Shared Read Blocks"].as_i64().unwrap_or(0),
        ..PlanSummary::default()
    };
    let mut nodes = Vec::new();
    walk(root, &mut nodes, &mut s);
    s.shape = nodes.join(" > ");
    s.indexes.sort();
    s.indexes.dedup();
    s
}

fn walk(node: &Value, nodes: &mut Vec<String>, s: &mut PlanSummary) {
    let kind = node["Node Type"].as_str().unwrap_or("?");
    let label = match node["Relation Name"].as_str() {
        Some(rel) => format!("{kind} {rel}"),
        None => kind.to_string(),
    };
    nodes.push(label);
    if let Some(ix) = node["Index Name"].as_str() {
        s.indexes.push(ix.to_string());
    }
    // Per-loop figure in the plan; multiply by loops for the total.
    let loops = node["Actual Loops"].as_f64().unwrap_or(1.0);
    s.rows_removed_by_filter += node["Rows Removed by Filter"].as_f64().unwrap_or(0.0) * loops;
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            walk(c, nodes, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_plan() {
        let plan = serde_json::json!([{
            "Plan": {"Node Type": "Limit", "Shared Hit Blocks": 12, "Shared Read Blocks": 3,
              "Plans": [{"Node Type": "Index Scan", "Relation Name": "posts", "Index Name": "idx_p",
                 "Rows Removed by Filter": 5, "Actual Loops": 2}]},
            "Execution Time": 0.42
        }]);
        let s = summarise(&plan);
        assert_eq!(s.shape, "Limit > Index Scan posts");
        assert_eq!(s.indexes, vec!["idx_p"]);
        assert_eq!(s.rows_removed_by_filter, 10.0);
        assert_eq!((s.shared_hit_blocks, s.shared_read_blocks), (12, 3));
    }
}
