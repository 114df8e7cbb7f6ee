//! `history-power`: how often `history` finds a step, how late, and how many false change
//! points it reports, on histories resampled from recorded runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clipbench::changepoint::Settings;
use clipbench::record::Results;

use super::history::parse_share;

#[derive(clap::Args)]
pub struct HistoryPowerArgs {
    /// results.json files holding many valid runs of the target on the sample, each in the
    /// order measured (e.g. `clipbench run --targets auto --runs 40`).
    #[arg(required = true)]
    results: Vec<PathBuf>,
    #[arg(long, default_value = "auto")]
    target: String,
    #[arg(long, default_value = "bbb-720p-60s")]
    sample: String,
    #[arg(long, default_value_t = 40)]
    commits: usize,
    #[arg(long, default_value_t = 3)]
    runs_per_commit: usize,
    /// The slowdown injected.
    #[arg(long, default_value = "5%", value_parser = parse_share)]
    step: f64,
    /// Histories per row.
    #[arg(long, default_value_t = 1000)]
    histories: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `history-power`: how often `history` finds a step, how late, and how many false change
/// points it reports, on histories resampled from real runs.
pub fn history_power(args: &HistoryPowerArgs) -> anyhow::Result<ExitCode> {
    use clipbench::history::power::{self, Design};
    println!(
        "{} commits, {} consecutive recorded runs per commit, {} histories per row, a step counts as found within 3 commits\n",
        args.commits, args.runs_per_commit, args.histories
    );
    println!("| recording | metric | spread | step | found | commits late (median, worst) | false change points per 100 commits | an oracle knowing the commit |");
    println!("|---|---|---|---|---|---|---|---|");
    for file in &args.results {
        let results = Results::read(file)?;
        let mut runs: Vec<_> =
            clipbench::summary::valid_walls(&results.runs, &args.target, &args.sample).collect();
        runs.sort_by_key(|r| r.order);
        anyhow::ensure!(
            runs.len() >= 2 * args.runs_per_commit,
            "{} holds {} valid runs of {} on {}: record 40 (clipbench run --targets {} --samples {} --runs 40)",
            file.display(), runs.len(), args.target, args.sample, args.target, args.sample
        );
        let wall: Vec<f64> = runs.iter().map(|r| r.wall_s.ln()).collect();
        let cpu: Option<Vec<f64>> = runs.iter().map(|r| r.work_cpu_s.map(f64::ln)).collect();
        let name = file.display().to_string();
        for (metric, logs) in [("wall", Some(wall)), ("W", cpu)] {
            let Some(logs) = logs else { continue };
            let spread = clipbench::stats::std_dev(&logs);
            for step in [args.step, 0.0] {
                let design = Design {
                    commits: args.commits,
                    runs_per_commit: args.runs_per_commit,
                    step,
                    within: 3,
                    histories: args.histories,
                    seed: args.seed,
                };
                let Some(row) = power::history_power(&logs, &design, &Settings::default()) else {
                    continue;
                };
                let late = if row.lateness.is_empty() {
                    "–".to_owned()
                } else {
                    let mut late = row.lateness.clone();
                    late.sort_unstable();
                    let worst = late.iter().map(|d| d.abs()).max().unwrap_or(0);
                    format!("{}, {worst}", late[late.len() / 2])
                };
                let share = |n: usize| {
                    if step == 0.0 {
                        "–".to_owned()
                    } else {
                        format!("{:.1}%", 100.0 * n as f64 / row.histories.max(1) as f64)
                    }
                };
                println!(
                    "| {name} | {metric} | {:.1}% | {:+.0}% | {} | {late} | {:.2} | {} |",
                    100.0 * spread,
                    100.0 * step,
                    share(row.found),
                    row.false_per_100_commits(),
                    share(row.oracle_found)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
