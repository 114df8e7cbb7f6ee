//! # clipbench
//!
//! The comparison harness: runs clip-making targets — the engine in-process, HTTP backends
//! (the original on port 5000, the optimized on 5001, or the engine's own server) and any
//! command — over sample videos, repeats runs in a shuffled order, computes statistics and
//! writes CSV, JSON, Markdown, plots and an HTML report; gates regressions against a saved
//! baseline and validates the sub-one-minute target. The binary `clipbench` is a thin front end.
//!
//! HTTP targets are read through their [`dialect`], detected from what they answer (our own
//! server's `clipbench` extras are read as the engine's [`clipbench_engine::extras`] types).
//! The harness depends on the pipeline library and the fetch crate only (URLs over a shaped
//! link), never on the server crate: it talks to a server over HTTP, as to any backend
//! (`tidy/` holds it to that).
//!
//! Data flows one way: [`config`] → [`runner`] (measuring [`targets::Target`]s on [`samples`]) →
//! [`record::RunRecord`]s → [`summary`] / [`stats`] → [`export`]ers; [`baseline`] and
//! [`target_validation`] read the same [`record::Results`].

pub mod ab;
pub mod baseline;
pub mod changepoint;
pub mod config;
pub mod dialect;
pub mod export;
pub mod fileserver;
pub mod gate;
pub mod history;
pub mod link;
pub mod machine;
pub mod record;
pub mod runner;
pub mod samples;
pub mod stats;
pub mod stopping;
pub mod summary;
pub mod target_validation;
pub mod targets;
pub mod throughput;
