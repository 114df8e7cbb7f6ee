//! The results database: every run of every `run`, `ab`, `validate` and `batch` (and every
//! imported `results.json`), with the commit it measured, the machine's fingerprint and a hash
//! of the target's settings — and the series read back from it, in commit order, with their
//! change points.
//!
//! [`Session`]s are built from what a command wrote (pure, here); [`store`] writes and reads
//! them (SQLite by default, PostgreSQL for a team); [`series`] turns the rows into one series
//! per (target, sample, machine, configuration) and finds its changes ([`crate::changepoint`]).

pub mod power;
pub mod series;
pub mod store;

use crate::machine::Machine;
use crate::record::{Results, RunRecord, RunStatus};

pub use store::{HistoryError, Store};

/// Where the history goes when `--history` is not given: `REPORTS_ROOT/history.sqlite`.
pub const DEFAULT_FILE: &str = "history.sqlite";

/// What one command adds to the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// A hash of what the command wrote: the same results appended twice (by the command, then
    /// by an import) are one session.
    pub id: String,
    /// run, ab, validate, batch or import.
    pub command: String,
    pub created_at: String,
    pub clipbench_version: String,
    pub machine: MachineKey,
    /// The report folder it wrote.
    pub source: String,
    pub interrupted: bool,
    pub measurements: Vec<Measurement>,
}

/// The hardware, by fingerprint: what same-machine comparisons key on.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineKey {
    /// Hash of the CPU model, the logical CPU count and the memory in GiB.
    pub id: String,
    pub description: String,
    /// The machine block, as JSON.
    pub json: String,
}

impl MachineKey {
    /// The fingerprint of `machine` (software versions left out: they are what changes).
    pub fn of(machine: &Machine) -> MachineKey {
        let gib = (machine.memory_bytes as f64 / (1u64 << 30) as f64).round();
        let identity = format!("{}|{}|{gib}", machine.cpu_model, machine.logical_cpus);
        MachineKey {
            id: short_hash(identity.as_bytes(), 12),
            description: format!(
                "{} ({} logical CPUs, {gib} GiB)",
                machine.cpu_model, machine.logical_cpus
            ),
            json: serde_json::to_string(machine).unwrap_or_default(),
        }
    }
}

/// One run as the history keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub target: String,
    pub sample: String,
    pub run: i64,
    pub commit: Option<String>,
    pub dirty: bool,
    pub config_hash: String,
    /// ok, invalid or failed.
    pub status: String,
    pub measured_at: String,
    pub wall_s: f64,
    pub work_cpu_s: Option<f64>,
    /// Every figure of the run, as JSON.
    pub figures: String,
}

/// Which series a run belongs to: its target, the build it measured and the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub target: String,
    pub commit: Option<String>,
    pub dirty: bool,
    pub config_hash: String,
}

/// The first `hex` hex digits of the BLAKE3 hash of `bytes`.
pub fn short_hash(bytes: &[u8], hex: usize) -> String {
    blake3::hash(bytes).to_hex()[..hex].to_owned()
}

/// A configuration's hash: of its JSON, whose keys serde_json keeps sorted.
pub fn config_hash(config: &serde_json::Value) -> String {
    short_hash(config.to_string().as_bytes(), 16)
}

/// The commit in a build's description (`abc1234567`, `abc1234567-dirty`), cut to 10 digits;
/// `None` for a build outside a git checkout.
pub fn parse_commit(described: &str) -> (Option<String>, bool) {
    let (sha, dirty) = match described.strip_suffix("-dirty") {
        Some(sha) => (sha, true),
        None => (described, false),
    };
    let is_sha = sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit());
    (is_sha.then(|| sha[..sha.len().min(10)].to_owned()), dirty)
}

/// The identity of runs measured by this clipbench build (`run`, `validate`, an import): the
/// commit recorded in the results, the target's settings as configured.
pub fn identify_by_build(results: &Results) -> impl Fn(&RunRecord) -> Identity + '_ {
    let (commit, dirty) = parse_commit(results.machine.git_commit.as_deref().unwrap_or(""));
    move |record| {
        let config = results
            .targets
            .iter()
            .find(|t| t["name"] == record.target.as_str())
            .cloned()
            .unwrap_or_else(|| serde_json::Value::String(record.target.clone()));
        Identity {
            target: record.target.clone(),
            commit: commit.clone(),
            dirty,
            config_hash: config_hash(&config),
        }
    }
}

/// The session a command's results make, each run placed by `identify`.
pub fn session(
    command: &str,
    results: &Results,
    source: &str,
    identify: impl Fn(&RunRecord) -> Identity,
) -> Session {
    // Strings only (floats may not survive a trip through JSON bit for bit): the same results
    // appended by the command and imported later are one session.
    let mut written = format!(
        "{}\n{}\n{}",
        results.created_at, results.seed, results.clipbench_version
    );
    for r in &results.runs {
        written.push_str(&format!(
            "\n{}\t{}\t{}\t{}",
            r.target, r.sample, r.run, r.started_at
        ));
    }
    let measurements = results
        .runs
        .iter()
        .map(|record| {
            let identity = identify(record);
            // A sample whose bytes changed starts its series afresh.
            let config_hash = match results.sample_version(&record.sample) {
                1 => identity.config_hash,
                v => short_hash(
                    format!("{}+sample-v{v}", identity.config_hash).as_bytes(),
                    16,
                ),
            };
            Measurement {
                target: identity.target,
                sample: record.sample.clone(),
                run: record.run as i64,
                commit: identity.commit,
                dirty: identity.dirty,
                config_hash,
                status: match record.status {
                    RunStatus::Ok => "ok",
                    RunStatus::Invalid => "invalid",
                    RunStatus::Failed => "failed",
                }
                .to_owned(),
                measured_at: record.started_at.clone(),
                wall_s: record.wall_s,
                work_cpu_s: record.work_cpu_s,
                figures: serde_json::to_string(record).unwrap_or_default(),
            }
        })
        .collect();
    Session {
        id: short_hash(written.as_bytes(), 32),
        command: command.to_owned(),
        created_at: results.created_at.clone(),
        clipbench_version: results.clipbench_version.clone(),
        machine: MachineKey::of(&results.machine),
        source: source.to_owned(),
        interrupted: results.interrupted,
        measurements,
    }
}

#[cfg(test)]
mod tests;
