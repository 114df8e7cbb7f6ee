//! A job's deadline: the run's executor gets a token of its own, cancelled when the caller's
//! is (drained when it drains) or when the deadline passes — then every child is killed and
//! every partial file removed, as for Ctrl-C — and the run says which limit ended it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// How often the watchdog looks.
const POLL: Duration = Duration::from_millis(20);

/// Watches a run until dropped.
pub(super) struct Deadline {
    /// The token the run's executor is given.
    pub token: CancelToken,
    expired: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl Deadline {
    /// A watchdog over `caller` that cancels at `at`.
    pub fn start(caller: &CancelToken, at: Instant) -> Deadline {
        let token = CancelToken::new();
        let (expired, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let watcher = {
            let (caller, token) = (caller.clone(), token.clone());
            let (expired, done) = (expired.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if caller.is_cancelled() {
                        token.cancel();
                    } else if caller.is_draining() {
                        token.drain();
                    }
                    if Instant::now() >= at && !token.is_cancelled() {
                        expired.store(true, Ordering::SeqCst);
                        token.cancel();
                    }
                    std::thread::sleep(POLL);
                }
            })
        };
        Deadline {
            token,
            expired,
            done,
            watcher: Some(watcher),
        }
    }

    /// Whether the deadline passed (and cancelled the run).
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}
