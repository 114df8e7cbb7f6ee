//! A source that is still downloading: how many bytes from its start are on disk, its index
//! once read, and how the download ended. The download advances it (through a
//! [`SourceWriter`]); the run waits on it before it probes and before each task, so no task
//! reads a byte that has not arrived.

mod writer;

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::index::SourceIndex;
pub use writer::{Next, SourceWriter};

/// What is known of the source's index.
#[derive(Debug, Clone)]
pub enum IndexState {
    /// Not yet read.
    Pending,
    /// Read: the run may start.
    Known(Arc<SourceIndex>),
    /// The file cannot be cut while it arrives (the reason, one line): it is downloaded first.
    Unmapped(String),
}

/// How the download stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Arriving,
    /// Every byte is on disk.
    Complete,
    /// The download stopped (one line, for the report): the bytes before it stay usable.
    Failed(String),
}

#[derive(Debug)]
struct State {
    /// Bytes from the file's start on disk.
    received: u64,
    index: IndexState,
    progress: Progress,
}

/// The shared state of one arriving source.
#[derive(Debug)]
pub struct Arrival {
    state: Mutex<State>,
    changed: Condvar,
}

/// Whether a task's bytes are there.
#[derive(Debug, Clone, PartialEq)]
pub enum Availability {
    Ready,
    NotYet,
    /// The download failed before them (its reason).
    Never(String),
}

impl Default for Arrival {
    fn default() -> Self {
        Arrival {
            state: Mutex::new(State {
                received: 0,
                index: IndexState::Pending,
                progress: Progress::Arriving,
            }),
            changed: Condvar::new(),
        }
    }
}

/// How long one wait sleeps before looking at the cancel token again.
const POLL: Duration = Duration::from_millis(50);

impl Arrival {
    /// A source with nothing received yet.
    pub fn new() -> Arc<Arrival> {
        Arc::new(Arrival::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    /// The first `bytes` of the file are on disk (written and visible to other processes).
    pub fn advance(&self, bytes: u64) {
        self.update(|s| s.received = s.received.max(bytes));
    }

    /// The index is read, or cannot be (then the file is downloaded first).
    pub fn set_index(&self, index: IndexState) {
        self.update(|s| s.index = index);
    }

    /// Every byte arrived; an index still pending was never found.
    pub fn complete(&self) {
        self.update(|s| {
            if matches!(s.index, IndexState::Pending) {
                s.index = IndexState::Unmapped("no index found in the file".into());
            }
            s.progress = Progress::Complete;
        });
    }

    /// The download stopped with `reason`; an index still pending will never come.
    pub fn fail(&self, reason: String) {
        self.update(|s| {
            if matches!(s.index, IndexState::Pending) {
                s.index = IndexState::Unmapped(reason.clone());
            }
            s.progress = Progress::Failed(reason);
        });
    }

    /// Bytes from the start on disk now.
    pub fn received(&self) -> u64 {
        self.lock().received
    }

    /// How the download stands now.
    pub fn progress(&self) -> Progress {
        self.lock().progress.clone()
    }

    /// Whether the first `bytes` are there, will be, or never will.
    pub fn has(&self, bytes: u64) -> Availability {
        let state = self.lock();
        match &state.progress {
            _ if state.received >= bytes => Availability::Ready,
            Progress::Complete => Availability::Ready,
            Progress::Failed(reason) => Availability::Never(reason.clone()),
            Progress::Arriving => Availability::NotYet,
        }
    }

    /// Waits until the index is read or known unreadable (`None` when cancelled).
    pub fn wait_for_index(&self, cancel: &CancelToken) -> Option<IndexState> {
        let mut state = self.lock();
        while matches!(state.index, IndexState::Pending) {
            if cancel.is_draining() {
                return None;
            }
            state = self.wait(state);
        }
        Some(state.index.clone())
    }

    /// Waits until the first `bytes` are there (or the download ended, or the run is
    /// cancelled): whether they are.
    pub fn wait_for(&self, bytes: u64, cancel: &CancelToken) -> Availability {
        loop {
            match self.has(bytes) {
                Availability::NotYet if !cancel.is_draining() => {
                    let state = self.lock();
                    if state.received < bytes && state.progress == Progress::Arriving {
                        drop(self.wait(state));
                    }
                }
                Availability::NotYet => return Availability::Never("cancelled".into()),
                other => return other,
            }
        }
    }

    /// Waits until the download ended: complete, or failed with its reason.
    pub fn wait_for_end(&self, cancel: &CancelToken) -> Progress {
        let mut state = self.lock();
        while state.progress == Progress::Arriving && !cancel.is_draining() {
            state = self.wait(state);
        }
        state.progress.clone()
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait_timeout(state, POLL)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }
}

/// A source being cut while it arrives: what the run needs to wait on it.
#[derive(Debug, Clone)]
pub struct Arriving {
    pub arrival: Arc<Arrival>,
    pub index: Arc<SourceIndex>,
    /// Where the file's timeline starts (clip times count from it); set by the run's probe.
    pub start_time: f64,
}

impl Arriving {
    /// A source whose `index` is read, arriving through `arrival`.
    pub fn new(arrival: Arc<Arrival>, index: Arc<SourceIndex>) -> Arriving {
        Arriving {
            arrival,
            index,
            start_time: 0.0,
        }
    }

    /// The bytes from the file's start a task reading the source up to `end_s` (seconds
    /// from the timeline's start, as clips count) needs on disk before it starts.
    pub fn bytes_for(&self, end_s: f64) -> u64 {
        let end = self.start_time + end_s;
        let needed = self.index.span_bytes(end, end).end;
        needed.max(self.index.probe_bytes())
    }

    /// Whether the bytes a task reading up to `end_s` needs are on disk.
    pub fn has_for(&self, end_s: f64) -> Availability {
        self.arrival.has(self.bytes_for(end_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_wait_for_their_arrival_and_a_failure_ends_the_wait() {
        let arrival = Arrival::new();
        let cancel = CancelToken::new();
        assert_eq!(arrival.has(10), Availability::NotYet);
        arrival.advance(10);
        assert_eq!(arrival.has(10), Availability::Ready);
        assert_eq!(arrival.has(11), Availability::NotYet);
        let waiter = {
            let (arrival, cancel) = (arrival.clone(), cancel.clone());
            std::thread::spawn(move || arrival.wait_for(100, &cancel))
        };
        arrival.advance(50);
        arrival.fail("the connection broke".into());
        assert_eq!(
            waiter.join().unwrap(),
            Availability::Never("the connection broke".into())
        );
        // What arrived before the failure is still there.
        assert_eq!(arrival.has(50), Availability::Ready);
        assert!(matches!(
            arrival.wait_for_index(&cancel),
            Some(IndexState::Unmapped(_))
        ));
    }

    #[test]
    fn a_complete_download_has_every_byte_and_a_cancel_stops_waiting() {
        let arrival = Arrival::new();
        let cancel = CancelToken::new();
        cancel.cancel();
        assert_eq!(
            arrival.wait_for(1, &cancel),
            Availability::Never("cancelled".into())
        );
        assert!(arrival.wait_for_index(&cancel).is_none());
        arrival.complete();
        assert_eq!(arrival.has(u64::MAX), Availability::Ready);
    }
}
