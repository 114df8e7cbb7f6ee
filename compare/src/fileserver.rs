//! Serves the sample files on a 127.0.0.1 port, since HTTP backends take URLs.

use std::net::SocketAddr;
use std::path::Path;

use tower_http::services::ServeDir;

/// Starts a static file server for `dir` on an ephemeral loopback port of `runtime`.
pub fn start(runtime: &tokio::runtime::Runtime, dir: &Path) -> std::io::Result<SocketAddr> {
    let app = axum::Router::new().fallback_service(ServeDir::new(dir));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}
