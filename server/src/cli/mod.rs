//! The command-line front end: commands, progress display and summaries. Owns the terminal.

pub mod bars;
pub mod bench;
pub mod commands;
pub mod serve;
pub mod summary;

use clipbench_engine::EngineError;

/// Exit code when clips failed.
pub const EXIT_CLIPS_FAILED: u8 = 1;
/// Exit code for bad input or set-up.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code after Ctrl-C.
pub use clipbench_engine::execute::EXIT_INTERRUPTED;

/// The exit code for an error: interrupted runs 130, everything else is bad input or set-up.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<EngineError>() {
        Some(EngineError::Cancelled) => EXIT_INTERRUPTED,
        _ => EXIT_BAD_INPUT,
    }
}

/// The error and its causes on one line.
pub fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}
