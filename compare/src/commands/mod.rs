//! The `clipbench` subcommands: each turns its arguments into a call of the library and the
//! library's answer into lines on stdout and an exit code.

pub mod bars;
pub mod batch;
pub mod data;
pub mod gates;
pub mod history;
pub mod history_power;
pub mod run;
pub mod validate;

use std::process::ExitCode;

use clipbench_engine::cancel::{escalate_ctrl_c, CtrlCStep, EXIT_INTERRUPTED};
use clipbench_engine::CancelToken;

/// Exit code when a run failed, a regression was found or the target was missed.
const EXIT_FAILED: u8 = 1;

/// Ctrl-C: the first cancels (the running run is dropped, finished ones reported), the second
/// exits at once (runs.csv already holds every finished run).
fn on_ctrl_c(step: CtrlCStep) {
    match step {
        CtrlCStep::Drain => {}
        CtrlCStep::Cancel => eprintln!(
            "\ninterrupted: stopping the current run, writing the report of finished runs (Ctrl-C again to exit at once)"
        ),
        CtrlCStep::Exit => std::process::exit(i32::from(EXIT_INTERRUPTED)),
    }
}

/// A runtime for the harness with the Ctrl-C handling installed; keep it alive while measuring.
fn interruptible() -> anyhow::Result<(tokio::runtime::Runtime, CancelToken)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let cancel = CancelToken::new();
    escalate_ctrl_c(runtime.handle(), &cancel, false, on_ctrl_c);
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
