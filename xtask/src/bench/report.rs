//! `results.json`, `results.md`, and the SVG plots.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::{DbRun, Results, ScenarioResult};

/// The machine a run was on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// MemTotal in MiB.
    pub memory_mib: u64,
    /// `uname -sr`.
    pub kernel: String,
    /// 1-minute load average when the run ended (others share the machine).
    pub load_average: String,
    /// UTC time the run ended.
    pub finished: String,
}

impl Machine {
    /// Reads /proc and uname.
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024;
        let command = |program: &str, args: &[&str]| {
            std::process::Command::new(program)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_mib,
            kernel: command("uname", &["-sr"]),
            load_average: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            finished: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

/// Writes every output into `out` and prints the Markdown.
pub fn write(results: &Results, out: &Path) -> Result<(), String> {
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    let suffix = if results.tls { "-tls" } else { "" };
    let path = out.join(format!("results{suffix}.json"));
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    let markdown = markdown(results);
    let md_path = out.join(format!("results{suffix}.md"));
    std::fs::write(&md_path, &markdown).map_err(|e| format!("{}: {e}", md_path.display()))?;
    let mut plots = Vec::new();
    for run in &results.runs {
        let name = db_name(run);
        let latency = out.join(format!("latency-{name}{suffix}.svg"));
        latency_plot(run, &latency)?;
        let throughput = out.join(format!("throughput-{name}{suffix}.svg"));
        throughput_plot(run, &throughput)?;
        plots.push(latency);
        plots.push(throughput);
    }
    println!("\n{markdown}");
    println!("bench: wrote {}, {}", path.display(), md_path.display());
    for plot in plots {
        println!("bench: wrote {}", plot.display());
    }
    println!("next: copy the tables into docs/benchmarks.md with the machine they ran on");
    Ok(())
}

fn db_name(run: &DbRun) -> String {
    super::run_name(run.db, run.replicas)
}

/// The Markdown tables: per database, the scenarios, then memory, CPU and cold start per process.
fn markdown(results: &Results) -> String {
    let mut s = String::new();
    header(&mut s, results);
    for run in &results.runs {
        let _ = writeln!(s, "### {}\n", db_name(run));
        scenario_table(&mut s, run);
        if let Some(x) = &run.exchange {
            let _ = writeln!(
                s,
                "\nOne HTTP exchange and nothing else (`GET /upcheck` on node 2's Q2T, the same client and concurrency): {:.0}/s, p50 {:.2} ms; services {:.3} CPU ms, load generator {:.3} CPU ms per exchange. A send makes three exchanges (client to Q2T, Q2T to its enclave, Q2T to the peer's P2P), a receive two.",
                x.load.tps, x.load.latency_ms.p50, x.services_cpu_ms_per_op, x.client_cpu_ms_per_op
            );
        }
        if let Some(e) = run
            .scenarios
            .iter()
            .find_map(|r| r.load.first_error.as_ref())
        {
            let _ = writeln!(s, "\nFirst error: `{}`", e.replace('`', "'"));
        }
        per_process_table(
            &mut s,
            run,
            "Peak resident memory (VmHWM, MiB) of each service process during each scenario:",
            |r| &r.peak_rss_kib,
            |kib| format!("{:.1}", *kib as f64 / 1024.0),
        );
        per_process_table(
            &mut s,
            run,
            "CPU time (user + system, ms) of each service process per operation:",
            |r| &r.cpu_ms_per_op,
            |ms| format!("{ms:.3}"),
        );
        cold_start_table(&mut s, run);
        let _ = writeln!(s);
    }
    replicas_table(&mut s, results);
    s
}

/// With more than one replica count on a database: throughput and CPU per operation of each
/// scenario by replicas, side by side (the scaling curve).
fn replicas_table(s: &mut String, results: &Results) {
    let mut dbs: Vec<_> = results.runs.iter().map(|run| run.db).collect();
    dbs.dedup();
    for db in dbs {
        let runs: Vec<&DbRun> = results.runs.iter().filter(|run| run.db == db).collect();
        if runs.len() < 2 {
            continue;
        }
        let name = format!("{db:?}").to_lowercase();
        let _ = writeln!(
            s,
            "### {name}: by replicas of every interface (tx/s; services CPU ms/op; p99 ms)\n"
        );
        let mut head = String::from("| scenario |");
        let mut rule = String::from("|---|");
        for run in &runs {
            head.push_str(&format!(" {} replica(s) |", run.replicas));
            rule.push_str("---:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        let Some(first) = runs.first() else { continue };
        for (i, scenario) in first.scenarios.iter().enumerate() {
            let mut row = format!("| {} |", scenario.label);
            for run in &runs {
                match run.scenarios.get(i) {
                    Some(r) => row.push_str(&format!(
                        " {:.0}; {:.2}; {:.1} |",
                        r.load.tps, r.services_cpu_ms_per_op, r.load.latency_ms.p99
                    )),
                    None => row.push_str(" - |"),
                }
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(s);
    }
}

/// The machine and the load.
fn header(s: &mut String, results: &Results) {
    let m = &results.machine;
    let _ = writeln!(
        s,
        "Machine: {} ({} CPUs), {} MiB, {}; load average at the end {}; finished {}.",
        m.cpu, m.cpus, m.memory_mib, m.kernel, m.load_average, m.finished
    );
    let bound = match results.count {
        Some(count) => format!("{count} operations"),
        None => format!("{} s", results.seconds),
    };
    let _ = writeln!(
        s,
        "Load: {bound} per scenario, concurrency {}, payload {} bytes, {} builds, {}.\n",
        results.concurrency,
        results.payload_bytes,
        if results.debug {
            "debug (a smoke run: no figure here is a measure of speed)"
        } else {
            "release"
        },
        if results.tls {
            "mutual TLS (CA mode) on every interface, Q2T called over HTTPS"
        } else {
            "plain HTTP"
        }
    );
}

/// One row per scenario: the network's figures beside the floor's.
fn scenario_table(s: &mut String, run: &DbRun) {
    let _ = writeln!(
        s,
        "| scenario | ops | tx/s | p50 ms | p95 ms | p99 ms | max ms | errors | CPU ms/op | client CPU ms/op | floor tx/s | floor CPU ms/op | of floor (tx/s) |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &run.scenarios {
        let l = &r.load;
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.1}% |",
            r.label,
            l.ops,
            l.tps,
            l.latency_ms.p50,
            l.latency_ms.p95,
            l.latency_ms.p99,
            l.latency_ms.max,
            l.errors,
            r.services_cpu_ms_per_op,
            r.client_cpu_ms_per_op,
            r.floor.tps,
            r.floor.cpu_ms_per_op,
            r.fraction_of_floor * 100.0
        );
    }
}

/// One row per service process, one column per scenario, under `title`.
fn per_process_table<T>(
    s: &mut String,
    run: &DbRun,
    title: &str,
    figures: impl Fn(&ScenarioResult) -> &[(String, T)],
    cell: impl Fn(&T) -> String,
) {
    let _ = writeln!(s, "\n{title}\n");
    let header: Vec<String> = run.scenarios.iter().map(|r| r.label.clone()).collect();
    let _ = writeln!(s, "| process | {} |", header.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(header.len()));
    let processes: Vec<&String> = run
        .scenarios
        .first()
        .map(|r| figures(r).iter().map(|(n, _)| n).collect())
        .unwrap_or_default();
    for process in processes {
        let cells: Vec<String> = run
            .scenarios
            .iter()
            .map(|r| {
                figures(r)
                    .iter()
                    .find(|(n, _)| n == process)
                    .map_or("-".into(), |(_, value)| cell(value))
            })
            .collect();
        let _ = writeln!(s, "| {process} | {} |", cells.join(" | "));
    }
}

fn cold_start_table(s: &mut String, run: &DbRun) {
    let _ = writeln!(
        s,
        "\nCold start (spawn to first 200 on its health URL) of node 2's services:\n"
    );
    let _ = writeln!(s, "| service | ms |");
    let _ = writeln!(s, "|---|---:|");
    for (service, ms) in &run.cold_start_ms {
        let _ = writeln!(s, "| {service} | {ms:.0} |");
    }
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn plot_error(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// Share of operations per log-spaced latency bucket, one line per scenario.
fn latency_plot(run: &DbRun, path: &Path) -> Result<(), String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = run
        .scenarios
        .iter()
        .map(|r| {
            let total: u64 = r.load.histogram.iter().map(|(_, n)| n).sum::<u64>().max(1);
            let points = r
                .load
                .histogram
                .iter()
                .map(|(ms, n)| (*ms, *n as f64 * 100.0 / total as f64))
                .collect();
            (r.label.clone(), points)
        })
        .collect();
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(1.0, f64::max);
    let max_y = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Latency histogram ({})", db_name(run)),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0.1f64..max_x * 1.1).log_scale(), 0f64..max_y * 1.1)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("% of operations")
        .draw()
        .map_err(plot_error)?;
    for (i, (label, points)) in series.into_iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

/// Successful operations per second over the run, one line per scenario.
fn throughput_plot(run: &DbRun, path: &Path) -> Result<(), String> {
    let max_x = run
        .scenarios
        .iter()
        .map(|r| r.load.per_second.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let max_y = run
        .scenarios
        .iter()
        .flat_map(|r| r.load.per_second.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Throughput over time ({})", db_name(run)),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..max_x as f64, 0f64..max_y as f64 * 1.1)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("second of the scenario")
        .y_desc("tx/s")
        .draw()
        .map_err(plot_error)?;
    for (i, r) in run.scenarios.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = r
            .load
            .per_second
            .iter()
            .enumerate()
            .map(|(s, n)| (s as f64 + 0.5, *n as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(plot_error)?
            .label(r.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}
