//! report.html: the side-by-side p50 latencies as an inline SVG bar chart (one group of bars
//! per statement x cohort, one bar per strategy, log scale) and the Markdown tables.

use std::io::Write;

use super::report::IndexReport;

const COLORS: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render(r: &IndexReport, mut out: impl Write) -> std::io::Result<()> {
    let names: Vec<&str> = r.strategies.iter().map(|s| s.strategy.as_str()).collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    for x in &r.reads {
        let k = (x.statement.clone(), x.cohort.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let max = r
        .reads
        .iter()
        .map(|x| x.latency_us.p50)
        .max()
        .unwrap_or(1)
        .max(2);
    #[allow(clippy::cast_precision_loss)]
    let log_max = (max as f64).log10();
    let bar_h = 10usize;
    let group_h = bar_h * names.len() + 10;
    let height = 40 + group_h * keys.len();
    let (label_w, chart_w) = (330usize, 560usize);
    writeln!(out, "<!doctype html><html><head><meta charset=\"utf-8\"><title>intellacc-bench indexes {}</title>", esc(&r.run_id))?;
    writeln!(out, "<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}</style></head><body>")?;
    writeln!(out, "<h1>Index strategies side by side</h1><p>Seed {}, scale {}, PostgreSQL {}. Baseline <b>{}</b>. {} {}</p>",
        r.manifest.seed, r.manifest.scale, esc(&r.manifest.postgres_version), esc(&r.baseline), esc(&r.cache_state), esc(&r.method))?;
    write!(out, "<p>")?;
    for (i, n) in names.iter().enumerate() {
        write!(
            out,
            "<span style=\"background:{};color:#fff;padding:2px 6px;margin-right:4px\">{}</span>",
            COLORS[i % COLORS.len()],
            esc(n)
        )?;
    }
    writeln!(out, " — p50 latency, µs, log scale</p>")?;
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\">",
        label_w + chart_w + 80
    )?;
    for (gi, (statement, cohort)) in keys.iter().enumerate() {
        let y0 = 20 + gi * group_h;
        writeln!(
            out,
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{} / {}</text>",
            y0 + group_h / 2,
            esc(statement),
            esc(cohort)
        )?;
        for (si, n) in names.iter().enumerate() {
            let Some(x) = r
                .reads
                .iter()
                .find(|x| &x.statement == statement && &x.cohort == cohort && x.strategy == *n)
            else {
                continue;
            };
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let w = ((x.latency_us.p50.max(1) as f64).log10() / log_max * chart_w as f64).max(1.0)
                as usize;
            let y = y0 + si * bar_h;
            writeln!(out, "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{}\"><title>{}: {} µs</title></rect>", bar_h - 1, COLORS[si % COLORS.len()], esc(n), x.latency_us.p50)?;
            writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"9\">{}</text>",
                label_w + w + 4,
                y + bar_h - 2,
                x.latency_us.p50
            )?;
        }
    }
    writeln!(out, "</svg>")?;
    let mut md = Vec::new();
    r.markdown(&mut md)?;
    writeln!(
        out,
        "<h2>Tables</h2><pre>{}</pre>",
        esc(&String::from_utf8_lossy(&md))
    )?;
    writeln!(out, "</body></html>")
}
