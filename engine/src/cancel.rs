//! How the outside world stops a run ([`CancelToken`]: drain, then cancel), and the Ctrl-C
//! escalation the binaries install with it. A leaf: whatever waits or runs can hold a token
//! without depending on who made it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Stops a run from another thread, in two steps: [`drain`](CancelToken::drain) starts no new
/// clip but lets running ones finish; [`cancel`](CancelToken::cancel) also kills running ffmpeg
/// children and removes their temporary files. Clips not started are reported as not started.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicU8>);

const DRAINING: u8 = 1;
const CANCELLED: u8 = 2;

/// How often the async waiters look at the token.
const POLL: Duration = Duration::from_millis(50);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts no new clip; running clips finish.
    pub fn drain(&self) {
        self.0.fetch_max(DRAINING, Ordering::SeqCst);
    }

    /// Stops everything as soon as possible.
    pub fn cancel(&self) {
        self.0.store(CANCELLED, Ordering::SeqCst);
    }

    /// Whether no new clip may start (drained or cancelled).
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= DRAINING
    }

    /// Whether running clips must be killed.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst) == CANCELLED
    }

    /// Resolves once the token is drained or cancelled (for `tokio::select!`).
    pub async fn drained(&self) {
        while !self.is_draining() {
            tokio::time::sleep(POLL).await;
        }
    }

    /// Resolves once the token is cancelled (for `tokio::select!`).
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One step of a long command's Ctrl-C escalation ([`escalate_ctrl_c`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtrlCStep {
    /// No new clip starts; running ones finish.
    Drain,
    /// Running ffmpeg children are killed and their partial files removed.
    Cancel,
    /// The user insists: the binary exits at once ([`EXIT_INTERRUPTED`]).
    Exit,
}

/// Exit code of a process stopped by a last Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Escalates repeated Ctrl-C on `runtime`: the first drains `token` (when `drain_first`), the
/// next cancels it, the next is [`CtrlCStep::Exit`]. `on_step` hears each step as it happens:
/// the binary prints and, at `Exit`, exits — the library itself never prints or exits.
pub fn escalate_ctrl_c(
    runtime: &tokio::runtime::Handle,
    token: &CancelToken,
    drain_first: bool,
    on_step: impl Fn(CtrlCStep) + Send + 'static,
) {
    let token = token.clone();
    runtime.spawn(async move {
        if drain_first {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            on_step(CtrlCStep::Drain);
            token.drain();
        }
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        on_step(CtrlCStep::Cancel);
        token.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            on_step(CtrlCStep::Exit);
        }
    });
}
