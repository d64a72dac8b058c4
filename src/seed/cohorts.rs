//! Cohorts: the users and groups of interest (celebrities, power followers, heavy traders,
//! dormant and typical users, large groups), recorded in the manifest for benches and load.

use sqlx::PgPool;

use super::world::World;
use super::{sql, SeedError};

/// Users and groups of interest, by cohort, for benches and load scenarios to draw from.
pub(super) async fn cohorts(pool: &PgPool, world: &World) -> Result<serde_json::Value, SeedError> {
    let pick = |q: &'static str| async move {
        sqlx::query_scalar::<_, i32>(q)
            .fetch_all(pool)
            .await
            .map_err(sql("recording cohorts"))
    };
    let celebrities = pick(
        "SELECT following_id FROM follows GROUP BY following_id ORDER BY count(*) DESC, following_id LIMIT 10",
    )
    .await?;
    let power_followers = pick(
        "SELECT follower_id FROM follows GROUP BY follower_id ORDER BY count(*) DESC, follower_id LIMIT 10",
    )
    .await?;
    let heavy_traders = pick(
        "SELECT user_id FROM user_shares GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 10",
    )
    .await?;
    let large_groups: Vec<String> = sqlx::query_scalar(
        "SELECT group_id::text FROM mls_group_members GROUP BY group_id ORDER BY count(*) DESC, group_id LIMIT 10",
    )
    .fetch_all(pool)
    .await
    .map_err(sql("recording cohorts"))?;
    let dormant: Vec<u32> = (1..=world.users())
        .filter(|&id| world.is_dormant(id))
        .take(10)
        .collect();
    let typical: Vec<u32> = (1..=world.users())
        .filter(|&id| {
            !world.is_dormant(id)
                && !world.is_celebrity(id)
                && !world.is_power_follower(id)
                && !world.is_heavy_trader(id)
        })
        .take(10)
        .collect();
    Ok(serde_json::json!({
        "celebrities": celebrities,
        "power_followers": power_followers,
        "heavy_traders": heavy_traders,
        "dormant": dormant,
        "typical": typical,
        "large_groups": large_groups,
    }))
}
