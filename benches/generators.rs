//! Generator throughput without Postgres: rows/s of each table's generator, so a generator
//! regression shows up in `cargo bench` on its own. The COPY stream goes to a thread that
//! discards it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use intellacc_bench::seed::copy::{Chunk, TableSink, CHANNEL_CHUNKS};
use intellacc_bench::seed::world::World;
use intellacc_bench::seed::{copy_format, markets, mls, social, SeedError, Shape};
use tokio::sync::mpsc;

/// Scale of the benched world: 1,000 users.
const SCALE: f64 = 0.1;

type Generator = fn(&World, &mut TableSink) -> Result<(), SeedError>;

/// Runs one generator into a discarding sink; returns the rows it wrote.
fn run(world: &World, table: &'static str, generate: Generator) -> u64 {
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
    let mut sink = TableSink::with_format(table, copy_format(table), tx);
    generate(world, &mut sink).expect("generator");
    let rows = sink.finish().expect("finish");
    drain.join().expect("drain");
    rows
}

/// All MLS group tables at once (their generator fills four sinks); rows and bytes per table.
fn run_groups(world: &World) -> Vec<(u64, u64)> {
    let mut sinks = Vec::new();
    let mut drains = Vec::new();
    for &(table, _) in mls::TABLES {
        let (tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        drains.push(std::thread::spawn(move || {
            let (mut rows, mut bytes) = (0u64, 0u64);
            while let Some(chunk) = rx.blocking_recv() {
                rows += chunk.rows;
                bytes += chunk.bytes.len() as u64;
            }
            (rows, bytes)
        }));
        sinks.push(TableSink::with_format(table, copy_format(table), tx));
    }
    mls::groups(world, sinks).expect("groups");
    drains
        .into_iter()
        .map(|d| d.join().expect("drain"))
        .collect()
}

/// The four group tables are generated together, so each table's rows/s is its share of
/// the combined figure: print the shares.
fn describe_groups(label: &str, per_table: &[(u64, u64)]) -> u64 {
    let parts: Vec<String> = mls::TABLES
        .iter()
        .zip(per_table)
        .map(|(&(table, _), &(rows, bytes))| {
            #[allow(clippy::cast_precision_loss)]
            let mb = bytes as f64 / 1e6;
            format!("{table} {rows} rows / {mb:.1} MB")
        })
        .collect();
    println!("{label}: one pass writes {}", parts.join(", "));
    per_table.iter().map(|&(rows, _)| rows).sum()
}

fn generators(c: &mut Criterion) {
    let world = World::new(42, SCALE, Shape::default(), 2).expect("world");
    let tables: &[(&'static str, Generator)] = &[
        ("users", social::users),
        ("follows", social::follows),
        ("posts", social::posts),
        ("events", markets::events),
        ("user_shares", markets::user_shares),
        ("mls_key_packages", mls::key_packages),
    ];
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    for &(table, generate) in tables {
        let rows = run(&world, table, generate);
        group.throughput(Throughput::Elements(rows));
        group.bench_function(table, |b| b.iter(|| run(&world, table, generate)));
    }
    let rows = describe_groups("live groups", &run_groups(&world));
    group.throughput(Throughput::Elements(rows));
    group.bench_function("mls_groups+members+messages+welcomes", |b| {
        b.iter(|| run_groups(&world))
    });
    // The same worlds with every MLS row forged (what most rows are beyond scale 1).
    let forged = World::new(
        42,
        SCALE,
        Shape {
            mls_live_groups: 0,
            mls_live_key_packages: 0,
            mls_live_share: 0.0,
            ..Shape::default()
        },
        2,
    )
    .expect("world");
    let rows = run(&forged, "mls_key_packages", mls::key_packages);
    group.throughput(Throughput::Elements(rows));
    group.bench_function("mls_key_packages (forged)", |b| {
        b.iter(|| run(&forged, "mls_key_packages", mls::key_packages))
    });
    let rows = describe_groups("forged groups", &run_groups(&forged));
    group.throughput(Throughput::Elements(rows));
    group.bench_function("mls_groups+members+messages+welcomes (forged)", |b| {
        b.iter(|| run_groups(&forged))
    });
    group.finish();
}

criterion_group!(benches, generators);
criterion_main!(benches);
