//! `history` (the series and their change points), `history import DIR…`, and the
//! `--history` option every measuring command appends through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;
use clipbench::ab::AbSides;
use clipbench::changepoint::Settings;
use clipbench::history::series::{self, Series};
use clipbench::history::store::Filter;
use clipbench::history::{self, Session, Store};
use clipbench::record::Results;

/// Where a measuring command appends what it measured.
#[derive(clap::Args, Clone)]
pub struct HistoryArgs {
    /// The results database: a SQLite file, or postgres://USER@HOST/DB for one a team shares
    /// [default: OUT/history.sqlite].
    #[arg(long, env = "CLIPBENCH_HISTORY")]
    history: Option<String>,
    /// Do not append to the results database.
    #[arg(long, conflicts_with = "history")]
    no_history: bool,
}

impl HistoryArgs {
    /// The database to use with reports under `reports_root`.
    fn location(&self, reports_root: &Path) -> String {
        location_or_default(&self.history, reports_root)
    }

    /// Appends `session` (unless `--no-history`) and returns the store; the report is already
    /// written, so a failure says how to add it later.
    pub fn append(&self, reports_root: &Path, session: &Session) -> anyhow::Result<Option<Store>> {
        if self.no_history {
            return Ok(None);
        }
        let appended = Store::open(&self.location(reports_root))
            .and_then(|store| store.append(session).map(|_| store));
        match appended {
            Ok(store) => {
                eprintln!(
                    "history: {} runs appended to {}",
                    session.measurements.len(),
                    store.location()
                );
                Ok(Some(store))
            }
            Err(e) if Path::new(&session.source).join("results.json").is_file() => {
                Err(anyhow::anyhow!(
                    "{e}; the report is written: add it later with `clipbench history import {}`",
                    session.source
                ))
            }
            Err(e) => Err(anyhow::anyhow!("{e}; the report is written")),
        }
    }

    /// Appends what `results` (reported in `dir`) measured and, when these targets have a
    /// history of two or more commits on this machine, re-renders the report with their
    /// trends; returns the history's lines for the terminal.
    pub fn record(
        &self,
        reports_root: &Path,
        session: &Session,
        results: &Results,
        dir: &Path,
    ) -> anyhow::Result<Vec<String>> {
        let Some(store) = self.append(reports_root, session)? else {
            return Ok(Vec::new());
        };
        rerender_with_trends(&store, session, results, dir)
    }
}

/// The series `session`'s runs belong to (same target, sample, configuration and machine).
fn trends_of(store: &Store, session: &Session) -> anyhow::Result<Vec<Series>> {
    let mut rows = store.read(&Filter::default())?;
    rows.retain(|r| {
        let m = &r.measurement;
        r.machine_id == session.machine.id
            && session.measurements.iter().any(|s| {
                (&s.target, &s.sample, &s.config_hash) == (&m.target, &m.sample, &m.config_hash)
            })
    });
    Ok(series::build(&rows, &git_order(), &Settings::default()))
}

/// Re-renders the report of `results` in `dir` with the trends of `session`'s series when any
/// has two commits or more; the history's lines for the terminal.
fn rerender_with_trends(
    store: &Store,
    session: &Session,
    results: &Results,
    dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let trends = trends_of(store, session)?;
    if !trends.iter().any(|s| s.points.len() >= 2) {
        return Ok(Vec::new());
    }
    clipbench::export::write_all(results, dir, &trends)?;
    Ok(clipbench::export::markdown::history_lines(&trends))
}

/// `report DIR --history LOCATION`: the report re-rendered with its targets' trends.
pub fn report_with_history(dir: &Path, location: &str) -> anyhow::Result<Vec<String>> {
    let results = Results::read(&dir.join("results.json"))?;
    let session = session_of(dir)?;
    let store = open_existing(location)?;
    let lines = rerender_with_trends(&store, &session, &results, dir)?;
    if lines.is_empty() {
        clipbench::export::write_all(&results, dir, &[])?;
    }
    Ok(lines)
}

/// Opens a history to read it, refusing a file that is not there (reading never creates one).
fn open_existing(location: &str) -> anyhow::Result<Store> {
    anyhow::ensure!(
        location.contains("://") || location.starts_with("sqlite:") || Path::new(location).is_file(),
        "no history at {location}: `clipbench run` (or ab, validate, batch) appends there, `clipbench history import reports/*/` loads old reports; or pass --history"
    );
    Ok(Store::open(location)?)
}

/// `history` unless it is absent or empty (an unset CI secret): `REPORTS_ROOT/history.sqlite`.
fn location_or_default(history: &Option<String>, reports_root: &Path) -> String {
    match history.as_deref().filter(|h| !h.is_empty()) {
        Some(location) => location.to_owned(),
        None => reports_root
            .join(history::DEFAULT_FILE)
            .display()
            .to_string(),
    }
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryCommand {
    #[command(subcommand)]
    action: Option<HistoryAction>,
    #[command(flatten)]
    query: QueryArgs,
}

#[derive(clap::Subcommand)]
enum HistoryAction {
    /// Load report folders (each holding a results.json; an `ab` folder's ab.json names its
    /// builds) or results.json files into the database; one already loaded adds nothing.
    Import {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The results database [default: reports/history.sqlite].
        #[arg(long, env = "CLIPBENCH_HISTORY")]
        history: Option<String>,
    },
}

#[derive(clap::Args)]
struct QueryArgs {
    /// The results database [default: reports/history.sqlite].
    #[arg(long, env = "CLIPBENCH_HISTORY")]
    history: Option<String>,
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    sample: Option<String>,
    /// A machine: its fingerprint (or its start) or part of its description.
    #[arg(long)]
    machine: Option<String>,
    /// Only measurements from this time on (RFC 3339, or a date: 2026-12-01).
    #[arg(long)]
    since: Option<String>,
    /// Exit 1 when the newest change of a series is a slowdown larger than this (5%, 0.05).
    #[arg(long, default_value = "5%", value_parser = parse_share)]
    threshold: f64,
    /// Print the series as JSON.
    #[arg(long)]
    json: bool,
}

/// `5%` or `0.05` → 0.05.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: write a share such as 5% or 0.05"))?;
    let share = value * scale;
    (0.0..1.0)
        .contains(&share)
        .then_some(share)
        .ok_or_else(|| format!("{text:?}: between 0% and 100%"))
}

/// `history` and `history import`.
pub fn history(command: HistoryCommand) -> anyhow::Result<ExitCode> {
    match command.action {
        Some(HistoryAction::Import { dirs, history }) => {
            import(&dirs, &location_or_default(&history, Path::new("reports")))
        }
        None => show(&command.query),
    }
}

/// The session a report folder (or a results.json file) holds: an `ab` one when ab.json is
/// beside results.json.
fn session_of(path: &Path) -> anyhow::Result<Session> {
    let (dir, file) = if path.is_file() {
        (path.parent().unwrap_or(Path::new(".")), path.to_path_buf())
    } else {
        (path, path.join("results.json"))
    };
    let results = Results::read(&file)?;
    let source = path.display().to_string();
    let ab_file = dir.join("ab.json");
    if path.is_dir() && ab_file.is_file() {
        let text = std::fs::read_to_string(&ab_file)
            .with_context(|| format!("cannot read {}", ab_file.display()))?;
        let sides: AbSides = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an ab.json", ab_file.display()))?;
        let sides = [sides.base, sides.candidate];
        let identify = clipbench::ab::identify(&results, &sides);
        return Ok(history::session("ab", &results, &source, identify));
    }
    Ok(history::session(
        "run",
        &results,
        &source,
        history::identify_by_build(&results),
    ))
}

fn import(dirs: &[PathBuf], location: &str) -> anyhow::Result<ExitCode> {
    let store = Store::open(location)?;
    let (mut added, mut known) = (0, 0);
    for dir in dirs {
        let session = session_of(dir)?;
        if store.append(&session)? {
            added += 1;
            println!("{}: {} runs", dir.display(), session.measurements.len());
        } else {
            known += 1;
            println!("{}: already in the history", dir.display());
        }
    }
    println!(
        "history: {added} folder(s) added, {known} already there, in {}",
        store.location()
    );
    Ok(ExitCode::SUCCESS)
}

/// Each known commit's place in this repository (0: oldest), by its first 10 hex digits; empty
/// outside a git checkout.
fn git_order() -> HashMap<String, usize> {
    let listed = Command::new("git")
        .args(["rev-list", "--topo-order", "--reverse", "--all"])
        .output();
    let Some(output) = listed.ok().filter(|o| o.status.success()) else {
        return HashMap::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .enumerate()
        .map(|(i, sha)| (sha[..sha.len().min(10)].to_owned(), i))
        .collect()
}

fn show(query: &QueryArgs) -> anyhow::Result<ExitCode> {
    let store = open_existing(&location_or_default(&query.history, Path::new("reports")))?;
    let filter = Filter {
        target: query.target.clone(),
        sample: query.sample.clone(),
        since: query.since.clone(),
    };
    let mut rows = store.read(&filter)?;
    if let Some(machine) = &query.machine {
        let wanted = machine.to_lowercase();
        rows.retain(|r| {
            r.machine_id.starts_with(&wanted) || r.machine.to_lowercase().contains(&wanted)
        });
    }
    anyhow::ensure!(
        !rows.is_empty(),
        "no measurement in {} matches: run `clipbench run` (it appends there) or `clipbench history import reports/*/`",
        store.location()
    );
    let all = series::build(&rows, &git_order(), &Settings::default());
    let regressions: usize = all
        .iter()
        .map(|s| s.newest_regressions(query.threshold).len())
        .sum();
    if query.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for s in &all {
            print!("{}", describe(s, query.threshold));
        }
    }
    Ok(super::exit_code(false, regressions > 0))
}

/// A series in a few lines: what it is, its newest point, every change.
fn describe(s: &Series, threshold: f64) -> String {
    let mut out = format!(
        "{} on {} · {} [{}] · config {} · {} commit(s) ({} order)\n",
        s.target,
        s.sample,
        s.machine,
        &s.machine_id,
        &s.config_hash[..8],
        s.points.len(),
        match s.order {
            series::Order::Git => "git",
            series::Order::Time => "measured",
        }
    );
    if let Some(last) = s.points.last() {
        let cpu = last
            .cpu_s
            .map(|w| format!(", W {w:.2} s"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  newest {}: {:.2} s{cpu} ({} runs)\n",
            last.commit, last.wall_s, last.runs
        ));
    }
    if s.changes.is_empty() {
        out.push_str("  no change point\n");
    }
    let flagged = s.newest_regressions(threshold);
    for c in &s.changes {
        let mark = if flagged.contains(&c) {
            "  REGRESSION"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} {:+.1}% between {} and {}: {:.2} s → {:.2} s, confidence {:.1}%{mark}\n",
            c.metric.label(),
            100.0 * c.change,
            c.last_before,
            c.first_after,
            c.before_s,
            c.after_s,
            100.0 * c.confidence()
        ));
    }
    let l = &s.left_out;
    if l.dirty + l.not_valid + l.unknown_build > 0 {
        out.push_str(&format!(
            "  left out: {} on a dirty tree, {} failed or invalid, {} of an unknown build\n",
            l.dirty, l.not_valid, l.unknown_build
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_share;

    #[test]
    fn shares_read_as_percent_or_fraction() {
        assert_eq!(parse_share("5%"), Ok(0.05));
        assert_eq!(parse_share("0.1"), Ok(0.1));
        assert!(parse_share("150%").is_err());
        assert!(parse_share("five").is_err());
    }
}
