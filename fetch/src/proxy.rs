//! A guarded forward proxy on loopback, for yt-dlp: yt-dlp fetches pages, manifests and media
//! from addresses the engine never sees, so it is pointed at this proxy (`--proxy`), which
//! resolves every host through the [`UrlGuard`] and connects only to the addresses it checked.
//!
//! It speaks just what HTTP clients send to a proxy: `CONNECT host:port` (https, tunnelled
//! as is) and absolute-form requests (`GET http://host/path`, forwarded with
//! `Connection: close`). A refused target gets `403` and is remembered, so the job can say why.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::guard::{Refusal, UrlGuard};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Longest wait for a request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait to connect upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy; stops when dropped.
pub struct GuardedProxy {
    address: SocketAddr,
    refused: Arc<Mutex<Option<Refusal>>>,
    task: tokio::task::JoinHandle<()>,
}

impl GuardedProxy {
    /// Listens on an ephemeral loopback port.
    pub async fn start(guard: Arc<UrlGuard>) -> std::io::Result<GuardedProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let refused = Arc::new(Mutex::new(None));
        let task = tokio::spawn({
            let refused = refused.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (guard, refused) = (guard.clone(), refused.clone());
                    tokio::spawn(async move {
                        if let Err(refusal) = serve(client, &guard).await {
                            *refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusal);
                        }
                    });
                }
            }
        });
        Ok(GuardedProxy {
            address,
            refused,
            task,
        })
    }

    /// The proxy's URL, for `--proxy`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The last target the guard refused, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for GuardedProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A parsed request head: where to connect and what to send there first.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    /// `None` for CONNECT (answer 200, then tunnel); else the rewritten head to forward.
    forward: Option<Vec<u8>>,
}

/// Serves one client connection; `Err` when the guard refused its target.
async fn serve(mut client: TcpStream, guard: &UrlGuard) -> Result<(), Refusal> {
    let Ok(Ok((head, rest))) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await
    else {
        return Ok(());
    };
    let target = match parse_head(&head) {
        Ok(target) => target,
        Err(refusal) => {
            answer(&mut client, "400 Bad Request", &refusal.to_string()).await;
            return Err(refusal);
        }
    };
    let upstream = match connect(&target, guard).await {
        Ok(Some(upstream)) => upstream,
        Ok(None) => {
            answer(&mut client, "502 Bad Gateway", "cannot connect").await;
            return Ok(());
        }
        Err(refusal) => {
            answer(&mut client, "403 Forbidden", &refusal.to_string()).await;
            return Err(refusal);
        }
    };
    let mut upstream = upstream;
    let sent = match &target.forward {
        None => {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
        }
        Some(head) => upstream.write_all(head).await,
    };
    if sent.is_ok() && upstream.write_all(&rest).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
    Ok(())
}

/// Reads up to the end of the head; returns it and whatever followed.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buffer.split_off(end + 4);
            return Ok((buffer, rest));
        }
        if buffer.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Where a request head asks to go (pure).
fn parse_head(head: &[u8]) -> Result<Target, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::NoHost)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::NoHost);
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        let url = Url::parse(&format!("https://{target}/")).map_err(|_| Refusal::NoHost)?;
        return Ok(Target {
            host: url.host_str().ok_or(Refusal::NoHost)?.to_owned(),
            port: url.port_or_known_default().unwrap_or(443),
            forward: None,
        });
    }
    let url = Url::parse(target).map_err(|_| Refusal::NoHost)?;
    if url.scheme() != "http" {
        return Err(Refusal::Scheme(url.scheme().to_owned()));
    }
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    let mut forward = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if ![
            "connection",
            "proxy-connection",
            "proxy-authorization",
            "keep-alive",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        {
            forward.push_str(line);
            forward.push_str("\r\n");
        }
    }
    forward.push_str("Connection: close\r\n\r\n");
    Ok(Target {
        host: url.host_str().ok_or(Refusal::NoHost)?.to_owned(),
        port: url.port_or_known_default().unwrap_or(80),
        forward: Some(forward.into_bytes()),
    })
}

/// Connects to the first checked address of the target; `Ok(None)` when none answers.
async fn connect(target: &Target, guard: &UrlGuard) -> Result<Option<TcpStream>, Refusal> {
    let host = target.host.trim_start_matches('[').trim_end_matches(']');
    let addresses = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            guard.check_ip("", ip)?;
            vec![SocketAddr::new(ip, target.port)]
        }
        Err(_) => guard.resolve(host, target.port).await?,
    };
    for address in addresses {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
        {
            return Ok(Some(stream));
        }
    }
    Ok(None)
}

async fn answer(client: &mut TcpStream, status: &str, message: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
        message.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        // Fuzzing of the proxy's request-head parser.
        #[test]
        fn fuzz_head_parser_never_panics(
            noise in prop::collection::vec(any::<u8>(), 0..256),
            method in "[A-Z]{0,8}",
            target in ".{0,60}",
        ) {
            let _ = parse_head(&noise);
            let _ = parse_head(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        }
    }

    /// A loopback server answering `inside` to every request.
    async fn inside() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(|| async { "inside" });
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    #[tokio::test]
    async fn the_proxy_refuses_what_the_guard_refuses_and_relays_the_rest() {
        let target = inside().await;
        for (guard, allowed) in [(UrlGuard::default(), false), (UrlGuard::allow_all(), true)] {
            let proxy = GuardedProxy::start(Arc::new(guard)).await.unwrap();
            let client = reqwest::Client::builder()
                .proxy(reqwest::Proxy::all(proxy.url()).unwrap())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let answer = client
                .get(format!("http://{target}/x"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().is_success(), allowed);
            assert_eq!(answer.text().await.unwrap() == "inside", allowed);
            assert_eq!(proxy.refusal().is_some(), !allowed);
            // CONNECT (what https goes through) to the same place.
            let mut tunnel = TcpStream::connect(proxy.address).await.unwrap();
            tunnel
                .write_all(
                    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes(),
                )
                .await
                .unwrap();
            let mut head = [0u8; 12];
            tunnel.read_exact(&mut head).await.unwrap();
            let expected: &[u8] = if allowed {
                b"HTTP/1.1 200"
            } else {
                b"HTTP/1.1 403"
            };
            assert_eq!(&head, expected);
        }
    }

    #[test]
    fn heads_are_parsed_and_rewritten() {
        let connect = parse_head(b"CONNECT example.org:8443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!((connect.host.as_str(), connect.port), ("example.org", 8443));
        assert_eq!(connect.forward, None);
        let get = parse_head(
            b"GET http://example.org/a/b?c=1 HTTP/1.1\r\nHost: example.org\r\nProxy-Connection: keep-alive\r\nUser-Agent: y\r\n\r\n",
        )
        .unwrap();
        assert_eq!((get.host.as_str(), get.port), ("example.org", 80));
        assert_eq!(
            String::from_utf8(get.forward.unwrap()).unwrap(),
            "GET /a/b?c=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: y\r\nConnection: close\r\n\r\n"
        );
        assert!(matches!(
            parse_head(b"GET file:///etc/passwd HTTP/1.1\r\n\r\n"),
            Err(Refusal::Scheme(_))
        ));
        assert!(parse_head(b"\xff\xfe").is_err());
        assert!(parse_head(b"GET\r\n\r\n").is_err());
    }
}
