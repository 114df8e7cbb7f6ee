//! The pipeline with real ffmpeg on tiny generated videos, one test binary (one link) for all
//! of them: runs, scheduling, smart cuts, the watchdog, and the MP4 reader and
//! ffprobe parser fuzzed from a fixed seed.

#[path = "../common/mod.rs"]
mod common;

mod arriving;
mod browsers;
mod conformance;
mod copy_source;
mod fuzz;
mod run;
mod schedule;
mod smart;
mod watchdog;
