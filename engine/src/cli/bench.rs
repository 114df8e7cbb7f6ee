//! `bench`: several strategies on one file plus one W_ref run (one clip at a time, one thread
//! for decoding and one for encoding), compared against the floor `max(W_ref / N, longest clip)`.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use clipbench_engine::{
    CancelToken, Policy, Profile, RunOptions, RunReport, Strategy, ThreadSetting,
};
use serde::Serialize;

use super::commands::{cancel_on_ctrl_c, run_local, write_json_atomic};

#[derive(Args)]
pub struct BenchArgs {
    /// The video to cut.
    input: PathBuf,
    /// Strategies to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "serial,python-optimized,auto"
    )]
    strategies: Vec<Strategy>,
    #[arg(long, default_value = "optimized")]
    profile: Profile,
    #[arg(long, default_value = "fixed:15")]
    policy: Policy,
    /// Skip the W_ref run (efficiency is then against each run's own work).
    #[arg(long)]
    no_reference: bool,
    /// Folder for the clips (removed after each run) and `bench.json`.
    #[arg(long, default_value = "reports/bench-engine")]
    out: PathBuf,
}

/// One row of the comparison.
#[derive(Serialize)]
struct Row {
    name: String,
    wall_s: f64,
    time_to_first_clip_s: Option<f64>,
    work_cpu_s: f64,
    floor_s: f64,
    efficiency: f64,
    utilisation: f64,
    tail_idle_s: f64,
    realtime_factor: f64,
    memory_peak_bytes: u64,
    clips_valid: usize,
    clips_failed: usize,
}

#[derive(Serialize)]
struct BenchFile {
    schema_version: u32,
    w_ref_cpu_s: Option<f64>,
    floor_s: Option<f64>,
    rows: Vec<Row>,
    reports: Vec<RunReport>,
}

/// Runs the comparison and prints it.
pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let cancel = CancelToken::new();
    cancel_on_ctrl_c(&runtime, &cancel);
    let mut runs: Vec<(String, RunReport)> = Vec::new();
    let mut plans: Vec<(String, Strategy, Option<ThreadSetting>)> = Vec::new();
    if !args.no_reference {
        plans.push((
            "W_ref (serial, 1+1 threads)".into(),
            Strategy::Serial,
            Some(ThreadSetting::Fixed(1)),
        ));
    }
    plans.extend(args.strategies.iter().map(|s| (s.to_string(), *s, None)));
    for (name, strategy, threads) in plans {
        let clips_dir = args.out.join("clips");
        let _ = std::fs::remove_dir_all(&clips_dir);
        let mut options = RunOptions::new(&clips_dir);
        options.strategy = strategy;
        options.threads = threads;
        options.profile = args.profile;
        options.plan.policy = args.policy;
        eprintln!("running {name} …");
        let report = run_local(&args.input, &options, &cancel)?;
        let _ = std::fs::remove_dir_all(&clips_dir);
        if report.cancelled {
            return Err(clipbench_engine::EngineError::Cancelled.into());
        }
        runs.push((name, report));
    }
    let reference = (!args.no_reference).then(|| &runs[0].1);
    let w_ref = reference.map(|r| r.metrics.work_cpu_s);
    let floor = reference.map(|r| {
        (r.metrics.work_cpu_s / r.system.logical_cpus.max(1) as f64).max(r.metrics.longest_clip_s)
    });
    let rows: Vec<Row> = runs
        .iter()
        .map(|(name, r)| {
            let m = &r.metrics;
            let floor_s = floor.unwrap_or(m.floor_s);
            Row {
                name: name.clone(),
                wall_s: m.wall_s,
                time_to_first_clip_s: m.time_to_first_clip_s,
                work_cpu_s: m.work_cpu_s,
                floor_s,
                efficiency: if m.wall_s > 0.0 {
                    floor_s / m.wall_s
                } else {
                    0.0
                },
                utilisation: m.utilisation,
                tail_idle_s: m.tail_idle_s,
                realtime_factor: m.realtime_factor,
                memory_peak_bytes: r.monitor.memory_peak_bytes,
                clips_valid: m.clips_done,
                clips_failed: m.clips_failed,
            }
        })
        .collect();
    print!("{}", table(&rows));
    let all_valid = runs.iter().all(|(_, r)| r.all_valid());
    let file = BenchFile {
        schema_version: 1,
        w_ref_cpu_s: w_ref,
        floor_s: floor,
        rows,
        reports: runs.into_iter().map(|(_, r)| r).collect(),
    };
    let path = args.out.join("bench.json");
    write_json_atomic(&path, &file)?;
    println!("full reports: {}", path.display());
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_CLIPS_FAILED)
    })
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30} {:>8} {:>8} {:>9} {:>8} {:>6} {:>6} {:>7} {:>6} {:>8} {:>7}",
        "strategy",
        "wall s",
        "TTFC s",
        "W CPU-s",
        "floor s",
        "eff",
        "util",
        "tail s",
        "RTF",
        "mem MiB",
        "clips"
    );
    for r in rows {
        let ttfc = r
            .time_to_first_clip_s
            .map_or("-".into(), |t| format!("{t:.2}"));
        let _ = writeln!(
            out,
            "{:<30} {:>8.2} {:>8} {:>9.1} {:>8.2} {:>6.2} {:>6.2} {:>7.2} {:>6.1} {:>8.0} {:>4}/{}",
            r.name,
            r.wall_s,
            ttfc,
            r.work_cpu_s,
            r.floor_s,
            r.efficiency,
            r.utilisation,
            r.tail_idle_s,
            r.realtime_factor,
            r.memory_peak_bytes as f64 / 1048576.0,
            r.clips_valid,
            r.clips_valid + r.clips_failed
        );
    }
    out
}
