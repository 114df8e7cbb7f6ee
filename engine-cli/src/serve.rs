//! `serve` (its flags: [`crate::args::ServeArgs`]): the command owns the signals: SIGTERM or
//! Ctrl-C stops it cleanly, a second one exits at once.

use std::process::ExitCode;

use anyhow::Context;

use crate::args::ServeArgs;
use crate::exit::EXIT_INTERRUPTED;

/// `serve`: binds, prints the address on stdout, serves until SIGTERM or Ctrl-C, then cancels
/// every job and exits 0 within --shutdown-timeout; a second signal exits 130 at once.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let bind = args.bind.clone();
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {bind}: is another server using it? pick another with --bind"
                )
            })?;
        let address = listener.local_addr()?;
        let config = args.config(address)?;
        if config.download.guard.allow_private {
            tracing::warn!("--allow-private-urls: jobs may fetch loopback and private addresses");
        }
        println!(
            "listening on http://{address} (work folder {})",
            config.workdir.display()
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        clipbench_server::serve_until(listener, config, stop_signal())
            .await
            .context("server stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves at the first SIGTERM or SIGINT; the second one exits the process at once.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => {},
        _ = interrupt.recv() => {},
    }
    eprintln!("stopping: cancelling jobs (send the signal again to exit at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    });
}
