//! `bench`'s flags.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use clipbench_engine::{Policy, Profile, Strategy};

/// An extra row besides the strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExtraRow {
    /// `auto` with `--reuse-overlaps`: each moment encoded once.
    ReuseOverlaps,
    /// `auto`, `--profile copy --policy adaptive`: keyframe-snapped stream copies.
    Copy,
    /// `auto`, `--profile smart` on the same plan as the strategies: exact cuts, only the
    /// frames around the keyframes re-encoded.
    Smart,
    /// One ffmpeg encodes the whole file with its own threads (no clips).
    WholeFile,
}

#[derive(Args)]
pub struct BenchArgs {
    /// The video to cut.
    pub input: PathBuf,
    /// Strategies to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "serial,python-optimized,auto"
    )]
    pub strategies: Vec<Strategy>,
    /// Extra rows, comma-separated: reuse-overlaps, copy, smart, whole-file (`--modes`
    /// alone: none).
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 0..,
        default_value = "reuse-overlaps,copy,smart,whole-file"
    )]
    pub modes: Vec<ExtraRow>,
    #[arg(long, default_value = "optimized")]
    pub profile: Profile,
    #[arg(long, default_value = "fixed:15")]
    pub policy: Policy,
    /// Skip the W_ref run (the floor is then each run's own).
    #[arg(long)]
    pub no_reference: bool,
    /// Folder for the clips (removed after each run) and `bench.json`.
    #[arg(long, default_value = "reports/bench-engine")]
    pub out: PathBuf,
}
