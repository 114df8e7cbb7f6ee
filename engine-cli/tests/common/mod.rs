//! The engine's test inputs (tiny real videos, the corpus) and real HTTP on loopback.
#![allow(dead_code)] // each test binary uses a different subset

#[path = "../../../engine/tests/common/mod.rs"]
mod media;

pub use media::*;
pub mod http;
