//! The `clipbench` subcommands: each turns its arguments into a call of the library and the
//! library's answer into lines on stdout and an exit code.

pub mod batch;
pub mod data;
pub mod gates;
pub mod progress;
pub mod run;
pub mod validate;

use std::process::ExitCode;

use clipbench_engine::execute::{cancel_on_ctrl_c, CtrlC, EXIT_INTERRUPTED};
use clipbench_engine::CancelToken;

/// Exit code when a run failed, a regression was found or the target was missed.
const EXIT_FAILED: u8 = 1;

/// Ctrl-C: the first cancels (the running run is dropped, finished ones reported), the second
/// exits at once (runs.csv already holds every finished run).
const CTRL_C: CtrlC = CtrlC {
    drain: None,
    cancel: "interrupted: stopping the current run, writing the report of finished runs (Ctrl-C again to exit at once)",
};

/// A runtime for the harness with the Ctrl-C handling installed; keep it alive while measuring.
fn interruptible() -> anyhow::Result<(tokio::runtime::Runtime, CancelToken)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let cancel = CancelToken::new();
    cancel_on_ctrl_c(runtime.handle(), &cancel, CTRL_C);
    Ok((runtime, cancel))
}

/// The exit code of a measuring command: interrupted first, then failed, else success.
fn exit_code(interrupted: bool, failed: bool) -> ExitCode {
    if interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
