//! Exit codes, and errors as one line.

use clipbench_engine::EngineError;
use clipbench_fetch::FetchError;
use clipbench_server::error::ServerError;

/// Exit code when clips failed.
pub const EXIT_CLIPS_FAILED: u8 = 1;
/// Exit code for bad input or set-up.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code after Ctrl-C.
pub use clipbench_engine::cancel::EXIT_INTERRUPTED;

/// The exit code for an error: interrupted runs 130, everything else is bad input or set-up.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    let engine = |e: &EngineError| matches!(e, EngineError::Cancelled);
    let fetch = |e: &FetchError| match e {
        FetchError::Engine(e) => engine(e),
        e => matches!(e, FetchError::Cancelled),
    };
    let cancelled = error.downcast_ref::<EngineError>().is_some_and(engine)
        || error.downcast_ref::<FetchError>().is_some_and(fetch)
        || error
            .downcast_ref::<ServerError>()
            .is_some_and(|e| match e {
                ServerError::Engine(e) => engine(e),
                ServerError::Fetch(e) => fetch(e),
                _ => false,
            });
    match cancelled {
        true => EXIT_INTERRUPTED,
        false => EXIT_BAD_INPUT,
    }
}

/// The error and its causes on one line.
pub fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}
