//! Calibration: the measurement against known latencies. A fixed server delay is reported at
//! its value; a one-second server stall shows in the open model's tail (latency from the
//! intended start) but not in the closed model's service time; merged runs equal one
//! histogram of all samples. The bounds are generous: these check arithmetic, not speed.

use intellacc_bench::load::{self, LoadPlan, Scenario};
use intellacc_bench::report::{self, decode_histogram, encode_histogram, merge};
use intellacc_bench::server::{self, AppState};
use rand::{RngExt, SeedableRng};

use crate::common;

async fn debug_server() -> String {
    let url = common::seeded_db().await;
    let pool = common::pool(&url).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(pool, b"calibration").with_debug_endpoints(true);
    tokio::spawn(server::serve(listener, state, std::future::pending()));
    host
}

fn scenario(users: usize, secs: u64, rate: Option<f64>, delay_ms: u64) -> Scenario {
    let rate = rate.map_or(String::new(), |r| format!("rate = {r}\n"));
    let text = format!(
        "users = {users}\nduration_secs = {secs}\nwarmup_secs = 0\n{rate}\
         [[persona]]\nkind = \"calibration\"\nweight = 1\nthink_time = {{ min_ms = 0, max_ms = 0 }}\ndelay_ms = {delay_ms}\n"
    );
    Scenario::parse(&text, None).unwrap()
}

async fn drive(host: &str, s: Scenario) -> load::LoadResult {
    let plan = LoadPlan {
        host: host.to_string(),
        scenario: s,
        seed: 1,
        goose_report: None,
    };
    load::drive(&plan).await.unwrap()
}

const DELAY: &str = "GET /debug/delay";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_delay_is_reported_at_its_value() {
    let host = debug_server().await;
    // The same requests without the delay: what the HTTP round trip itself costs here (a
    // debug build of client and server on a shared 2-core machine adds a millisecond or two).
    let bare = drive(&host, scenario(4, 3, Some(20.0), 0)).await;
    let base = bare.snapshot.endpoints[DELAY]
        .latency
        .value_at_quantile(0.5);
    let r = drive(&host, scenario(4, 3, Some(20.0), 20)).await;
    let e = &r.snapshot.endpoints[DELAY];
    let p50 = e.latency.value_at_quantile(0.5);
    println!(
        "fixed 20 ms delay at 20 req/s: {} samples, p50 {p50} µs (round trip without the delay: \
         p50 {base} µs), p99 {} µs, service p50 {} µs",
        e.count(),
        e.latency.value_at_quantile(0.99),
        e.service.value_at_quantile(0.5)
    );
    assert!(e.count() >= 30, "only {} samples", e.count());
    // Never less than the delay itself...
    assert!(
        p50 >= 20_000,
        "p50 {p50} µs is below the 20 ms the server waited"
    );
    // ...and the delay is reported at its value, within 10%, above the bare round trip.
    let added = p50.saturating_sub(base);
    assert!(
        (18_000..=22_000).contains(&added),
        "p50 {p50} µs - round trip {base} µs = {added} µs is not within 10% of 20 ms"
    );
}

/// Stalls the server for a second, 1.5 s into the run.
fn stall_later(host: &str) -> tokio::task::JoinHandle<()> {
    let url = format!("{host}/debug/stall?ms=1000");
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let status = reqwest::Client::new()
            .post(url)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_open_models_tail_but_not_in_closed_service_time() {
    let host = debug_server().await;

    let stall = stall_later(&host);
    let open = drive(&host, scenario(30, 5, Some(120.0), 1)).await;
    stall.await.unwrap();
    let o = &open.snapshot.endpoints[DELAY];
    let open_p99 = o.latency.value_at_quantile(0.99);
    let open_service_p99 = o.service.value_at_quantile(0.99);

    let stall = stall_later(&host);
    let closed = drive(&host, scenario(4, 5, None, 1)).await;
    stall.await.unwrap();
    let c = &closed.snapshot.endpoints[DELAY];
    let closed_p99 = c.service.value_at_quantile(0.99);

    println!(
        "1 s stall: open model ({} req) latency p99 {open_p99} µs (service p99 {open_service_p99} µs, \
         {} late); closed model ({} req) service p99 {closed_p99} µs, max {} µs",
        o.count(),
        open.snapshot.late,
        c.count(),
        c.service.max()
    );
    assert!(
        open_p99 >= 300_000,
        "open p99 {open_p99} µs misses the stall"
    );
    assert!(closed_p99 < 300_000, "closed p99 {closed_p99} µs");
    // The closed model did see the stall, in its few stalled requests: that is the omission.
    assert!(
        c.service.max() >= 500_000,
        "closed max {} µs",
        c.service.max()
    );
    assert!(open.snapshot.late > 0);
}

#[test]
fn merged_histograms_equal_one_histogram_of_all_samples() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut a = load::record::new_histogram();
    let mut b = load::record::new_histogram();
    let mut all = load::record::new_histogram();
    for i in 0..20_000u32 {
        // A long-tailed mix, as latencies are.
        let v: u64 = if rng.random_bool(0.02) {
            rng.random_range(50_000..2_000_000)
        } else {
            rng.random_range(200..5_000)
        };
        if i % 3 == 0 { &mut a } else { &mut b }.record(v).unwrap();
        all.record(v).unwrap();
    }
    // Through the report's serialized form, as `merge` reads it.
    let mut merged = decode_histogram(&encode_histogram(&a)).unwrap();
    merged
        .add(decode_histogram(&encode_histogram(&b)).unwrap())
        .unwrap();
    assert_eq!(merged.len(), all.len());
    for q in (1..=100)
        .map(|p| f64::from(p) / 100.0)
        .chain([0.999, 0.9999])
    {
        assert_eq!(
            merged.value_at_quantile(q),
            all.value_at_quantile(q),
            "quantile {q}"
        );
    }
    assert_eq!(merged.max(), all.max());
    assert_eq!(merged.min(), all.min());

    // And through `merge` on whole reports.
    let endpoint = |h: &hdrhistogram::Histogram<u64>| report::EndpointReport {
        name: "GET /api/feed".into(),
        count: h.len(),
        errors: 0,
        status: [("200".to_string(), h.len())].into(),
        transport_errors: 0,
        warmup_count: 0,
        throughput: 0.0,
        latency_us: report::Percentiles::of(h),
        service_us: report::Percentiles::of(h),
        histogram: encode_histogram(h),
        service_histogram: encode_histogram(h),
    };
    let run = |h: &hdrhistogram::Histogram<u64>, id: &str| report::Report {
        schema_version: report::SCHEMA_VERSION,
        run_id: id.into(),
        tool_version: "test".into(),
        generated_at: String::new(),
        config: serde_json::Value::Null,
        database: None,
        manifest: None,
        seeding: None,
        load: report::LoadSummary {
            load_model: "open".into(),
            target_rate: Some(100.0),
            arrival: Some("constant".into()),
            achieved_rate: 100.0,
            schedule_lag_us: None,
            late_requests: 0,
            unsent_slots: 0,
            host: "http://127.0.0.1:1".into(),
            scenario: "mixed".into(),
            users: 2,
            duration_secs: 10,
            warmup_secs: 0,
            measured_secs: 10.0,
            total_requests: h.len(),
            total_errors: 0,
            throughput: 100.0,
            interrupted: false,
        },
        endpoints: vec![endpoint(h)],
        feed_by_cohort: Vec::new(),
        client_vs_server: Vec::new(),
        files: Vec::new(),
    };
    let m = merge::merge(&[run(&a, "a"), run(&b, "b")]).unwrap();
    let e = &m.endpoints[0];
    assert_eq!(e.count, all.len());
    assert_eq!(e.status["200"], all.len());
    let p = report::Percentiles::of(&all);
    assert_eq!(
        (
            e.latency_us.p50,
            e.latency_us.p90,
            e.latency_us.p99,
            e.latency_us.p999,
            e.latency_us.max
        ),
        (p.p50, p.p90, p.p99, p.p999, p.max)
    );
    assert_eq!(m.load.target_rate, Some(200.0));
    assert_eq!(m.load.users, 4);
}
