//! The `clipbench-engine` binary and its server with real ffmpeg, real servers on 127.0.0.1 and
//! a real redis-server, one test binary (one link) for all of them: the CLI, the backends'
//! contract, the corpus in every mode, hostile requests, the queue, the server.

#[path = "../common/mod.rs"]
mod common;

mod arriving;
mod budget;
mod cli;
mod contract;
mod corpus;
mod hostile;
mod queue;
mod server;
