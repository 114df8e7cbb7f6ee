//! What a benchmark tells its observer as it goes. The library never prints: the binary turns
//! these into a progress bar on a terminal or one line per run in a log.

/// Something that happened during a benchmark.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    /// A line worth showing: a sample being built, a target's dialect, a target skipped.
    Note(String),
    /// The order is fixed: this many runs (warm-ups included) will be made.
    Scheduled { runs: usize },
    /// A run starts.
    Started { run: &'a RunLabel<'a>, eta_s: f64 },
    /// A run ended (`outcome`: ok, invalid or failed).
    Finished {
        run: &'a RunLabel<'a>,
        outcome: &'static str,
        wall_s: f64,
        elapsed_s: f64,
        eta_s: f64,
    },
    /// A recorded run was not ok: why.
    Problem(String),
    /// Every run is made (or the benchmark was interrupted).
    Done,
}

/// Which run: its place in the order and what it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLabel<'a> {
    /// 0-based place in the order.
    pub position: usize,
    pub total: usize,
    pub target: &'a str,
    pub sample: &'a str,
    pub warmup: bool,
}
