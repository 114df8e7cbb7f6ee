//! # clipbench
//!
//! The comparison harness: runs clip-making targets (the engine in-process, HTTP backends, any
//! command) over sample videos and reports how fast each is. This crate holds the sample-video
//! builder ([`samples`]); the binary `clipbench` is a thin front end over it.

pub mod samples;
