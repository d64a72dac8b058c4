//! Seeding: deterministic checksums, realistic shapes, real MLS, and the safety rules.

use intellacc_bench::seed::world::World;
use intellacc_bench::seed::{self, manifest, verify, SeedOptions, Shape, TABLES};

use crate::common;

fn world(seed: u64, scale: f64, shape: Shape) -> std::sync::Arc<World> {
    std::sync::Arc::new(World::new(seed, scale, shape, 1).unwrap())
}

#[tokio::test]
async fn same_seed_gives_same_checksums_whatever_the_threads_and_another_seed_differs() {
    let (a, b, c) = (
        common::fresh_db().await,
        common::fresh_db().await,
        common::fresh_db().await,
    );
    let ma = common::seed_with_jobs(&a, 11, 0.05, 1).await.manifest;
    let mb = common::seed_with_jobs(&b, 11, 0.05, 3).await.manifest;
    let mc = common::seed_into(&c, 12, 0.05).await.manifest;
    assert_eq!(ma.tables.len(), TABLES.len());
    for t in &ma.tables {
        assert!(t.rows > 0, "table {} is empty", t.name);
    }
    assert_eq!(ma.tables, mb.tables, "same seed, different data");
    for (x, y) in ma.tables.iter().zip(&mc.tables) {
        assert_ne!(x.checksum, y.checksum, "table {} ignores the seed", x.name);
    }
    assert_eq!((ma.seed, ma.scale), (11, 0.05));
    assert!(ma.postgres_version.chars().next().unwrap().is_ascii_digit());
    // The manifest is stored in the database too.
    let pool = common::pool(&a).await;
    let stored = manifest::stored(&pool).await.unwrap().unwrap();
    assert_eq!(stored, ma);
}

#[tokio::test]
async fn scale_sets_the_user_count() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 200);
}

#[tokio::test]
async fn follow_graph_and_activity_are_skewed() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    // The most-followed 1% of users hold a large share of all follows.
    let top_share: f64 = sqlx::query_scalar(
        "WITH c AS (SELECT following_id, count(*) AS n FROM follows GROUP BY following_id), \
         r AS (SELECT n, row_number() OVER (ORDER BY n DESC) AS rk FROM c) \
         SELECT (SELECT sum(n) FROM r WHERE rk <= (SELECT greatest(count(*) / 100, 1) FROM users))::float8 \
              / (SELECT count(*) FROM follows)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // At this test's 200 users a celebrity saturates at 199 followers, so the share is far
    // below the ~23% of scale 1; still several times the 1% a uniform graph would give.
    assert!(
        top_share > 0.04,
        "top 1% hold only {top_share:.3} of follows"
    );
    // The biggest celebrity is followed by a sizeable fraction of all users.
    let celebrity: f64 = sqlx::query_scalar(
        "SELECT (SELECT max(n) FROM (SELECT count(*) AS n FROM follows GROUP BY following_id) c)::float8 \
              / (SELECT count(*) FROM users)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        celebrity > 0.2,
        "top celebrity reaches only {celebrity:.3} of users"
    );
    // Dormant users exist: a good share of users never post.
    let silent: f64 = sqlx::query_scalar(
        "SELECT avg((NOT EXISTS (SELECT 1 FROM posts p WHERE p.author_id = u.id))::int)::float8 FROM users u",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(silent > 0.2, "only {silent:.3} of users never post");
    // Posts are recent-heavy: the last quarter of the year of history holds far more than a
    // quarter of the posts.
    let recent: f64 = sqlx::query_scalar(
        "SELECT avg((created_at > '2026-01-01'::timestamp - interval '91 days')::int)::float8 FROM posts",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        recent > 0.4,
        "only {recent:.3} of posts in the last quarter"
    );
    // Hot markets: the most-held 10% of markets carry well over 10% of positions.
    let hot: f64 = sqlx::query_scalar(
        "WITH c AS (SELECT count(*) AS n FROM user_shares GROUP BY event_id ORDER BY 1 DESC) \
         SELECT (SELECT sum(n) FROM (SELECT n FROM c LIMIT greatest((SELECT count(*) FROM events) / 10, 1)) t)::float8 \
              / (SELECT count(*) FROM user_shares)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // (46% at scale 1; here 10 markets, and a user holds each at most once.)
    assert!(
        hot > 0.15,
        "top 10% of markets hold only {hot:.3} of positions"
    );
    // Cohorts are recorded in the manifest.
    let m = intellacc_bench::seed::manifest::stored(&pool)
        .await
        .unwrap()
        .unwrap();
    for cohort in [
        "celebrities",
        "power_followers",
        "heavy_traders",
        "dormant",
        "typical",
        "large_groups",
    ] {
        assert!(
            !m.cohorts[cohort].as_array().unwrap().is_empty(),
            "cohort {cohort} is empty"
        );
    }
    // Statuses are mixed and open markets close in the future.
    let statuses: i64 = sqlx::query_scalar("SELECT count(DISTINCT status) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(statuses >= 2);
    let bad_open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE status = 'open' AND closing_date < '2026-01-01'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(bad_open, 0);
    // Groups range from DMs to bigger groups.
    let (min, max): (i64, i64) = sqlx::query_as(
        "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM mls_group_members GROUP BY group_id) g",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(min, 2);
    assert!(max > 2);
}

#[tokio::test]
async fn mls_rows_are_real_openmls_traffic() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    // Some members are invited after creation, in later add commits.
    let late = count(
        "SELECT count(*) FROM mls_group_members m JOIN mls_groups g ON g.group_id = m.group_id \
         WHERE m.joined_at > g.created_at + interval '1 second'",
    )
    .await;
    assert!(late > 0, "no member joined after creation");
    // Every member but the creator has exactly one Welcome, sent with the commit that added
    // it, a second before it joined; and nobody else has one.
    let missing = count(
        "SELECT count(*) FROM mls_group_members m JOIN mls_groups g ON g.group_id = m.group_id \
         WHERE m.user_id <> g.created_by AND (SELECT count(*) FROM mls_welcome_messages w \
         WHERE w.group_id = m.group_id AND w.receiver_id = m.user_id \
         AND w.created_at = m.joined_at - interval '1 second') <> 1",
    )
    .await;
    assert_eq!(missing, 0);
    let welcomes = count("SELECT count(*) FROM mls_welcome_messages").await;
    let members = count("SELECT count(*) FROM mls_group_members").await;
    let groups = count("SELECT count(*) FROM mls_groups").await;
    assert_eq!(welcomes, members - groups);
    // Each Welcome's commit is stored at that moment, sent by the creator.
    let orphan = count(
        "SELECT count(*) FROM mls_welcome_messages w JOIN mls_groups g ON g.group_id = w.group_id \
         WHERE NOT EXISTS (SELECT 1 FROM mls_group_messages c WHERE c.group_id = w.group_id \
         AND c.content_type = 'commit' AND c.created_at = w.created_at AND c.sender_id = g.created_by)",
    )
    .await;
    assert_eq!(orphan, 0);
    // Nobody is in a group before their account exists.
    let early = count(
        "SELECT count(*) FROM mls_group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.joined_at < u.created_at",
    )
    .await;
    assert_eq!(early, 0);
    // Epochs advance with every commit: each row carries the number of commits before it.
    let off = count(
        "SELECT count(*) FROM (SELECT epoch, coalesce(sum((content_type = 'commit')::int) OVER \
         (PARTITION BY group_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before \
         FROM mls_group_messages) t WHERE epoch <> before",
    )
    .await;
    assert_eq!(off, 0);
    let past_one =
        count("SELECT count(DISTINCT group_id) FROM mls_group_messages WHERE epoch >= 2").await;
    assert!(past_one > 0, "no group went past epoch 1");
    // Replay every group as a member: join from its Welcome, process the commits, decrypt.
    let groups: Vec<String> =
        sqlx::query_scalar("SELECT group_id::text FROM mls_groups ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(!groups.is_empty());
    let world = world(common::SEED, common::SCALE, Shape::default());
    let (mut decrypted, mut commits, mut cross, mut replays) = (0, 0, 0, 0);
    for g in &groups {
        let v = verify::verify_group(&pool, &world, g).await.unwrap();
        // Up to scale 1 every group is generated with real cryptography.
        assert!(v.real_crypto);
        decrypted += v.decrypted;
        commits += v.commits;
        cross += v.cross_checked;
        replays += v.verifiers.len();
        let stored_max: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(epoch), 0) FROM mls_group_messages WHERE group_id = $1 AND content_type = 'commit'",
        )
        .bind(g)
        .fetch_one(&pool)
        .await
        .unwrap();
        // The last commit was sent in epoch `stored_max` and moved the group one further.
        assert_eq!(v.final_epoch, u64::try_from(stored_max).unwrap() + 1);
    }
    let apps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mls_group_messages WHERE content_type = 'application'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        decrypted > 0 && commits > 0,
        "{decrypted} decrypted, {commits} commits"
    );
    // Every application message was decrypted by a member who did not send it.
    assert_eq!(cross as i64, apps);
    // Groups with later additions were also replayed as their last invitee.
    assert!(replays > groups.len());
}

#[tokio::test]
async fn mls_replay_with_the_wrong_seed_fails() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let g: String = sqlx::query_scalar("SELECT group_id::text FROM mls_groups ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let wrong = world(common::SEED + 1, common::SCALE, Shape::default());
    assert!(verify::verify_group(&pool, &wrong, &g).await.is_err());
}

#[tokio::test]
async fn forged_mls_share_is_deterministic_replayable_and_told_apart() {
    // Half the groups and key packages live, half forged (the default makes everything
    // up to scale 1 live, so this test lowers the floors).
    let shape = Shape {
        mls_live_groups: 0,
        mls_live_key_packages: 0,
        mls_live_share: 0.5,
        ..Shape::default()
    };
    let seed_with = |jobs: usize| {
        let shape = shape.clone();
        async move {
            let url = common::fresh_db().await;
            let pool = common::pool(&url).await;
            let opts = SeedOptions {
                jobs,
                shape,
                ..SeedOptions::new(5, 0.03)
            };
            let out = seed::seed(&pool, "test", &opts).await.expect("seeding");
            (pool, out.manifest)
        }
    };
    let (pool, a) = seed_with(1).await;
    let (_other, b) = seed_with(3).await;
    assert_eq!(a.tables, b.tables, "forged rows depend on the thread count");
    // The manifest records the live share, so `verify` knows which groups are real.
    assert_eq!(a.shape["mls_live_share"], 0.5);

    let groups: Vec<String> =
        sqlx::query_scalar("SELECT group_id::text FROM mls_groups ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let (mut real, mut forged) = (0, 0);
    let w = world(5, 0.03, shape.clone());
    let all_live = world(
        5,
        0.03,
        Shape {
            mls_live_share: 1.0,
            ..shape.clone()
        },
    );
    for g in &groups {
        let v = verify::verify_group(&pool, &w, g).await.unwrap();
        if v.real_crypto {
            real += 1;
        } else {
            forged += 1;
            // A forged group does not pass as real cryptography.
            assert!(verify::verify_group(&pool, &all_live, g).await.is_err());
        }
    }
    assert!(real > 0 && forged > 0, "{real} real, {forged} forged");

    // Real key packages pass signature validation; forged ones parse but do not.
    let kps: Vec<(i32, Vec<u8>)> =
        sqlx::query_as("SELECT user_id, package_data FROM mls_key_packages ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for (user, bytes) in &kps {
        let live = seed::mls::key_package_is_live(&shape, 5, u32::try_from(*user).unwrap());
        assert_eq!(
            intellacc_bench::mls::key_package_valid(bytes),
            live,
            "user {user}"
        );
        if live {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(valid > 0 && invalid > 0);
}

#[tokio::test]
async fn refuses_a_database_it_did_not_create() {
    let url = common::fresh_db().await;
    let pool = common::pool(&url).await;
    sqlx::query("CREATE TABLE precious (v int)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO precious VALUES (1), (2)")
        .execute(&pool)
        .await
        .unwrap();
    for reset in [false, true] {
        let opts = SeedOptions {
            reset,
            ..SeedOptions::new(1, 0.01)
        };
        let err = seed::seed(&pool, "mine", &opts).await.unwrap_err();
        assert!(err.to_string().contains("did not create"), "{err}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM precious")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 2, "the foreign table was touched");
}

#[tokio::test]
async fn reseeding_needs_reset() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let mut opts = SeedOptions::new(99, 0.01);
    let err = seed::seed(&pool, "s", &opts).await.unwrap_err();
    assert!(err.to_string().contains("--reset"), "{err}");
    // Nothing changed.
    assert_eq!(
        manifest::stored(&pool).await.unwrap().unwrap().seed,
        common::SEED
    );
    opts.reset = true;
    let out = seed::seed(&pool, "s", &opts).await.unwrap();
    assert_eq!(out.manifest.seed, 99);
    assert_eq!(manifest::stored(&pool).await.unwrap().unwrap().seed, 99);
}

#[tokio::test]
async fn bad_scale_is_an_error_before_anything_is_touched() {
    let url = common::fresh_db().await;
    let pool = common::pool(&url).await;
    for scale in [0.0, -1.0, f64::NAN, 0.0001] {
        let opts = SeedOptions::new(1, scale);
        assert!(seed::seed(&pool, "t", &opts).await.is_err());
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn changes_after_seeding_are_detected() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let m = manifest::stored(&pool).await.unwrap().unwrap();
    assert!(m.seeded_xid.is_some() && m.cluster_id.is_some());
    assert!(!manifest::modified_since(&pool, &m).await.unwrap());
    // An update keeps the row count but gives the row a younger xmin.
    sqlx::query("UPDATE users SET rp_balance = rp_balance + 1 WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
    assert!(manifest::modified_since(&pool, &m).await.unwrap());

    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    sqlx::query("DELETE FROM follows WHERE ctid = (SELECT ctid FROM follows LIMIT 1)")
        .execute(&pool)
        .await
        .unwrap();
    assert!(manifest::modified_since(&pool, &m).await.unwrap());
}

#[tokio::test]
async fn refuses_the_maintenance_database() {
    let pool = common::pool(&common::cluster().url("postgres")).await;
    let err = seed::seed(&pool, "postgres", &SeedOptions::new(1, 0.01))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("maintenance database"), "{err}");
    let marker: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'intellacc_bench_marker')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!marker);
}

/// Ctrl-C in the middle of `seed`: the process exits 130 on its own, the database is left
/// marked as seeding (never complete), nothing reuses it, and only `--reset` re-seeds it.
#[tokio::test]
async fn interrupted_seeding_is_never_marked_complete() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let url = common::fresh_db().await;
    let pool = common::pool(&url).await;
    let bin = env!("CARGO_BIN_EXE_intellacc-bench");
    let mut child = Command::new(bin)
        .args(["--database-url", &url, "seed", "--scale", "1", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = || async {
        sqlx::query_scalar::<_, String>("SELECT state FROM intellacc_bench_manifest WHERE id = 1")
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while state().await.as_deref() != Some("seeding") {
        assert!(child.try_wait().unwrap().is_none(), "seed ended early");
        assert!(Instant::now() < deadline, "seeding never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the loaders start streaming, then interrupt.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("seed did not stop after Ctrl-C");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(130), "{stderr}");

    assert_eq!(state().await.as_deref(), Some("seeding"));
    assert!(manifest::stored(&pool).await.unwrap().is_none());
    // Neither `seed` nor `run`'s reuse takes it as seeded; only --reset starts over.
    let opts = SeedOptions::new(3, 0.01);
    let err = seed::seed(&pool, "interrupted", &opts).await.unwrap_err();
    assert!(
        err.to_string().contains("seeding") && err.to_string().contains("--reset"),
        "{err}"
    );
    let opts = SeedOptions {
        reset: true,
        ..opts
    };
    let out = seed::seed(&pool, "interrupted", &opts).await.unwrap();
    assert_eq!(out.manifest.seed, 3);
    assert_eq!(state().await.as_deref(), Some("complete"));
}

/// A harness database that someone added their own table to is still read, but `--reset`
/// refuses it instead of dropping the schema with the table in it.
#[tokio::test]
async fn reset_refuses_a_marked_database_holding_someone_elses_table() {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    sqlx::raw_sql("CREATE TABLE notes (v int); INSERT INTO notes VALUES (42)")
        .execute(&pool)
        .await
        .unwrap();
    let opts = SeedOptions {
        reset: true,
        ..SeedOptions::new(5, 0.01)
    };
    let err = seed::seed(&pool, "extras", &opts).await.unwrap_err();
    assert!(err.to_string().contains("notes"), "{err}");
    let v: i32 = sqlx::query_scalar("SELECT v FROM notes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v, 42);
    // The seeded data is untouched too.
    assert_eq!(
        manifest::stored(&pool).await.unwrap().unwrap().seed,
        common::SEED
    );
    // Without the extra table, a reset drops exactly the harness's tables and re-seeds.
    sqlx::query("DROP TABLE notes")
        .execute(&pool)
        .await
        .unwrap();
    let out = seed::seed(&pool, "extras", &opts).await.unwrap();
    assert_eq!(out.manifest.seed, 5);
}

/// Objects other than tables (a type, a function) make a database someone else's.
#[tokio::test]
async fn a_database_with_only_types_or_functions_is_not_empty() {
    for ddl in [
        "CREATE TYPE mood AS ENUM ('ok')",
        "CREATE TYPE pair AS (a int, b int)",
        "CREATE DOMAIN positive AS int CHECK (VALUE > 0)",
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA elsewhere",
    ] {
        let url = common::fresh_db().await;
        let pool = common::pool(&url).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&pool)
            .await
            .unwrap();
        if ddl.contains("SCHEMA") {
            // An empty schema of its own is harmless; a table in it is not.
            sqlx::query("CREATE TABLE elsewhere.t (v int)")
                .execute(&pool)
                .await
                .unwrap();
        }
        let err = seed::seed(&pool, "typed", &SeedOptions::new(1, 0.01))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not create"), "{ddl}: {err}");
    }
}

/// A changed byte in a stored message, or a message moved to another epoch, fails the
/// replay of its group.
#[tokio::test]
async fn tampered_mls_rows_fail_verification() {
    let world = world(common::SEED, common::SCALE, Shape::default());
    for tamper in [
        "UPDATE mls_group_messages SET data = set_byte(data, 40, get_byte(data, 40) # 1) \
         WHERE id = (SELECT max(id) FROM mls_group_messages WHERE content_type = 'application' AND group_id = $1)",
        "UPDATE mls_group_messages SET epoch = epoch + 1 \
         WHERE id = (SELECT max(id) FROM mls_group_messages WHERE content_type = 'application' AND group_id = $1)",
        "UPDATE mls_welcome_messages SET data = set_byte(data, length(data) - 10, get_byte(data, length(data) - 10) # 1) \
         WHERE id = (SELECT max(id) FROM mls_welcome_messages WHERE group_id = $1)",
    ] {
        let url = common::seeded_db().await;
        let pool = common::pool(&url).await;
        let g: String = sqlx::query_scalar(
            "SELECT group_id::text FROM mls_groups g WHERE EXISTS (SELECT 1 FROM mls_group_messages m \
             WHERE m.group_id = g.group_id AND m.content_type = 'application') ORDER BY id LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        verify::verify_group(&pool, &world, &g).await.unwrap();
        let changed = sqlx::query(sqlx::AssertSqlSafe(tamper))
            .bind(&g)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(changed, 1);
        assert!(
            verify::verify_group(&pool, &world, &g).await.is_err(),
            "{tamper}"
        );
    }
}

#[tokio::test]
async fn rows_written_into_a_migrated_database_are_never_emptied() {
    // A database the harness migrated but never seeded, where someone stored a row: the
    // load truncates each table in its COPY transaction, so seeding refuses up front.
    let (_, pool) = common::migrated_db().await;
    sqlx::query("INSERT INTO posts (content) VALUES ('mine')")
        .execute(&pool)
        .await
        .unwrap();
    let err = seed::seed(&pool, "m", &SeedOptions::new(1, 0.01))
        .await
        .unwrap_err();
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(chain.contains("posts already holds rows"), "{chain}");
    assert!(chain.contains("--reset"), "{chain}");
    // Untouched: still only migrated, the constraints still in place.
    let state: String = sqlx::query_scalar("SELECT state FROM intellacc_bench_manifest")
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or_else(|| "migrated".into());
    assert_eq!(state, "migrated");
    let fks: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(fks > 0);
    let kept: Vec<String> = sqlx::query_scalar("SELECT content FROM posts")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept, ["mine"]);
    pool.close().await;
}

/// Measured share of `sql` (a single float8) in the database behind `pool`.
async fn share(pool: &sqlx::PgPool, sql: &'static str) -> f64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn shapes_match_their_documented_parameters() {
    // A larger world than the shared one (5,000 users), so the ratios settle near the
    // parameters; each check is tied to its `Shape` field.
    let shape = Shape::default();
    let url = common::fresh_db().await;
    common::seed_into(&url, 42, 0.5).await;
    let pool = common::pool(&url).await;

    // dormant_share: users with no posts, positions or group memberships. Active users may
    // also happen to have none of them, so the measured share is at least the parameter.
    let idle = share(
        &pool,
        "SELECT avg((NOT EXISTS (SELECT FROM posts p WHERE p.author_id = u.id) \
         AND NOT EXISTS (SELECT FROM user_shares s WHERE s.user_id = u.id) \
         AND NOT EXISTS (SELECT FROM mls_group_members m WHERE m.user_id = u.id))::int)::float8 \
         FROM users u",
    )
    .await;
    assert!(
        idle >= shape.dormant_share - 0.02 && idle < shape.dormant_share + 0.15,
        "idle users {idle:.3}, dormant_share {}",
        shape.dormant_share
    );

    // open_share / closed_share: statuses in their ratios (250 markets), open ones close
    // in the future, closed and resolved ones in the past; only resolved ones have outcomes.
    for (status, want) in [
        ("open", shape.open_share),
        ("closed", shape.closed_share),
        ("resolved", 1.0 - shape.open_share - shape.closed_share),
    ] {
        let got: f64 = sqlx::query_scalar("SELECT avg((status = $1)::int)::float8 FROM events")
            .bind(status)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!((got - want).abs() < 0.08, "{status}: {got:.3}, want {want}");
    }
    let misplaced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE \
         (status = 'open') <> (closing_date > '2026-01-01'::timestamp) \
         OR (status = 'resolved') <> (resolved_outcome IS NOT NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(misplaced, 0);

    // power_follower_share / power_follower_min: a few users follow over a thousand.
    let power: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT follower_id FROM follows GROUP BY follower_id \
         HAVING count(*) >= $1) p",
    )
    .bind(i64::try_from(shape.power_follower_min).unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    let expected_power = 5000.0 * (1.0 - shape.dormant_share) * shape.power_follower_share;
    #[allow(clippy::cast_precision_loss)]
    let power_f = power as f64;
    assert!(
        power >= 3 && power_f < 3.0 * expected_power,
        "{power} power followers, about {expected_power:.0} expected"
    );
    // follow_median: typical users follow tens, not thousands.
    let median_following = share(
        &pool,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY n)::float8 \
         FROM (SELECT count(*) AS n FROM follows GROUP BY follower_id) c",
    )
    .await;
    assert!(
        (5.0..=2.0 * shape.follow_median).contains(&median_following),
        "median following {median_following}"
    );

    // heavy_trader_min and closed_out_share.
    let heavy: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT user_id FROM user_shares GROUP BY user_id \
         HAVING count(*) >= $1) h",
    )
    .bind(i64::try_from(shape.heavy_trader_min).unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(heavy >= 20, "only {heavy} heavy traders");
    let closed_out = share(
        &pool,
        "SELECT avg((yes_shares = 0 AND no_shares = 0)::int)::float8 FROM user_shares",
    )
    .await;
    assert!(
        (closed_out - shape.closed_out_share).abs() < 0.02,
        "closed-out positions {closed_out:.3}"
    );

    // dm_share / large_group_share / large_group_min: group sizes.
    let (dms, large, biggest): (f64, i64, i64) = sqlx::query_as(
        "SELECT avg((n = 2)::int)::float8, count(*) FILTER (WHERE n >= $1), max(n) \
         FROM (SELECT count(*) AS n FROM mls_group_members GROUP BY group_id) g",
    )
    .bind(i64::from(shape.large_group_min))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!((dms - shape.dm_share).abs() < 0.08, "DM share {dms:.3}");
    assert!(large >= 5, "only {large} large groups");
    assert!(biggest <= i64::from(shape.large_group_max));
    // messages_per_group: the mean of application messages per group, within a factor
    // (log-normal, large groups talk 3x more).
    let per_group = share(
        &pool,
        "SELECT (SELECT count(*) FROM mls_group_messages WHERE content_type = 'application')::float8 \
         / (SELECT count(*) FROM mls_groups)",
    )
    .await;
    assert!(
        per_group > shape.messages_per_group * 0.5 && per_group < shape.messages_per_group * 3.0,
        "{per_group:.1} messages per group"
    );
    pool.close().await;
}

#[tokio::test]
async fn a_stream_that_stops_without_its_end_is_rolled_back() {
    // What a failing generator leaves: rows sent, then the channel closed without the
    // final chunk. The COPY is aborted, so no partial table is ever committed.
    use intellacc_bench::seed::copy::{self, Chunk, Format, LoadFailure};
    let (_, pool) = common::migrated_db().await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(Chunk {
        bytes: b"1\t\\N\thello\t0\t0\t2025-06-01 00:00:00\n".to_vec(),
        rows: 1,
        end: false,
    })
    .await
    .unwrap();
    drop(tx);
    let outcome = copy::load(
        pool.clone(),
        "posts",
        "id, author_id, content, like_count, comment_count, created_at",
        Format::Text,
        rx,
        &indicatif::ProgressBar::hidden(),
    )
    .await;
    assert!(
        matches!(outcome, Err(LoadFailure::Stopped)),
        "{:?}",
        outcome.err()
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM posts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    pool.close().await;
}

#[tokio::test]
async fn seeds_a_server_that_writes_full_wal_the_same() {
    // A server as users run one (wal_level = replica: no WAL skipping for the load's
    // TRUNCATE + COPY FREEZE) gets the same rows as the throwaway cluster.
    use intellacc_bench::db::{Cluster, PgBinaries};
    let bins = PgBinaries::locate(
        std::env::var_os("INTELLACC_PG_BIN")
            .map(std::path::PathBuf::from)
            .as_deref(),
    )
    .unwrap();
    let extra = [
        ("wal_level".to_string(), "replica".to_string()),
        ("max_wal_senders".to_string(), "2".to_string()),
    ];
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(bins, &extra))
        .await
        .unwrap()
        .unwrap();
    let admin = common::pool(&cluster.url("postgres")).await;
    sqlx::query("CREATE DATABASE full_wal")
        .execute(&admin)
        .await
        .unwrap();
    let wal_level: String = sqlx::query_scalar("SHOW wal_level")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(wal_level, "replica");
    admin.close().await;
    let out = common::seed_into(&cluster.url("full_wal"), common::SEED, common::SCALE).await;
    let shared = common::seeded_db().await;
    let pool = common::pool(&shared).await;
    let reference = manifest::stored(&pool).await.unwrap().unwrap();
    pool.close().await;
    assert_eq!(out.manifest.tables, reference.tables);
    drop(cluster);
}
