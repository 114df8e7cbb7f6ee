//! Who may call the server and from where: the API key, the `Host` header (DNS rebinding), the
//! browser origins (CORS and cross-site POSTs) and the content type of a job request.
//!
//! The checks are pure functions of the request's headers ([`Access::check`]); one middleware
//! applies them before any handler runs.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::responses::error;

/// The server's access rules.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Required as `Authorization: Bearer KEY` on every route but `/health`.
    pub api_key: Option<String>,
    /// Browser origins allowed besides loopback ones (`--cors-origin`).
    pub cors_origins: Vec<String>,
    /// `Host` names answered besides loopback ones (`--allowed-host`); only checked when
    /// `check_host` is set.
    pub allowed_hosts: Vec<String>,
    /// Answer only loopback (and allowed) `Host` headers: set for a loopback bind.
    pub check_host: bool,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub message: &'static str,
}

/// Whether a host name or address is the machine itself: `localhost` (and `*.localhost`),
/// 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of a `Host` header value (`name`, `name:port`, `[v6]:port`).
fn host_part(value: &str) -> &str {
    if value.starts_with('[') {
        return value
            .split_once(']')
            .map_or(value, |(h, _)| &value[..h.len() + 1]);
    }
    value.rsplit_once(':').map_or(value, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            value
        }
    })
}

/// Whether a browser `Origin` (`scheme://host[:port]`) is allowed.
pub fn origin_allowed(origin: &str, extra: &[String]) -> bool {
    if extra
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    match url::Url::parse(origin) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(is_loopback_host)
        }
        Err(_) => false,
    }
}

/// Whether a `Content-Type` is JSON (`application/json` or `…+json`, any parameters).
pub fn is_json(content_type: &str) -> bool {
    let essence = clipbench_fetch::media_type(content_type);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl Access {
    /// Checks a request's headers; `path` decides what is open (`/health`) and what needs JSON
    /// (the generate routes).
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Refused> {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        if self.check_host {
            if let Some(host) = text(header::HOST) {
                let host = host_part(host);
                let allowed = is_loopback_host(host)
                    || self
                        .allowed_hosts
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(host));
                if !allowed {
                    return Err(Refused {
                        status: StatusCode::FORBIDDEN,
                        message: "this Host is not served here (the server answers loopback names; add others with --allowed-host)",
                    });
                }
            }
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state {
            if let Some(origin) = text(header::ORIGIN) {
                if !origin_allowed(origin, &self.cors_origins) {
                    return Err(Refused {
                        status: StatusCode::FORBIDDEN,
                        message: "requests from this web origin are refused (allow it with --cors-origin)",
                    });
                }
            }
        }
        if let Some(key) = &self.api_key {
            if path != "/health"
                && *method != Method::OPTIONS
                && !bearer_matches(text(header::AUTHORIZATION), key)
            {
                return Err(Refused {
                    status: StatusCode::UNAUTHORIZED,
                    message: "missing or wrong API key: send Authorization: Bearer <key>",
                });
            }
        }
        if *method == Method::POST
            && path.starts_with("/generate_shorts")
            && !text(header::CONTENT_TYPE).is_some_and(is_json)
        {
            return Err(Refused {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "send the job as JSON with Content-Type: application/json",
            });
        }
        Ok(())
    }

    /// The CORS layer: loopback origins and `--cors-origin` ones (`*` allows any).
    pub fn cors(&self) -> CorsLayer {
        let extra = self.cors_origins.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origin.to_str().is_ok_and(|o| origin_allowed(o, &extra))
            }))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(Any)
    }
}

/// Constant-time comparison of `Authorization: Bearer KEY` with the key.
fn bearer_matches(authorization: Option<&str>, key: &str) -> bool {
    let Some(given) = authorization.and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("bearer "))
    }) else {
        return false;
    };
    bool::from(given.trim().as_bytes().ct_eq(key.as_bytes()))
}

/// The middleware: refuses what [`Access::check`] refuses, in the dialect's error shape.
pub async fn enforce(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let checked = access.check(request.method(), request.uri().path(), request.headers());
    match checked {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            let mut response = error(refused.status, refused.message.to_owned());
            if refused.status == StatusCode::UNAUTHORIZED {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn hosts_and_origins() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "app.localhost",
        ] {
            assert!(
                is_loopback_host(host_part(&format!("{host}:5001"))),
                "{host}"
            );
            assert!(is_loopback_host(host_part(host)), "{host}");
        }
        for host in [
            "evil.example",
            "10.0.0.1",
            "localhost.evil.example",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(host_part(host)), "{host}");
        }
        assert!(origin_allowed("http://localhost:3000", &[]));
        assert!(origin_allowed("http://127.0.0.1:5173", &[]));
        assert!(!origin_allowed("https://evil.example", &[]));
        assert!(!origin_allowed("null", &[]));
        assert!(origin_allowed(
            "https://app.example",
            &["https://app.example".into()]
        ));
    }

    #[test]
    fn the_rules_in_order() {
        let access = Access {
            api_key: Some("s3cret".into()),
            check_host: true,
            ..Default::default()
        };
        let json = (header::CONTENT_TYPE, "application/json");
        let key = (header::AUTHORIZATION, "Bearer s3cret");
        let host = (header::HOST, "127.0.0.1:5001");
        let post = |h: &[(header::HeaderName, &str)]| {
            access
                .check(&Method::POST, "/generate_shorts", &headers(h))
                .map_err(|r| r.status)
        };
        assert_eq!(post(&[host.clone(), key.clone(), json.clone()]), Ok(()));
        assert_eq!(
            post(&[host.clone(), json.clone()]),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            post(&[
                host.clone(),
                (header::AUTHORIZATION, "Bearer s3cre"),
                json.clone()
            ]),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            post(&[
                host.clone(),
                key.clone(),
                (header::CONTENT_TYPE, "text/plain")
            ]),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            post(&[(header::HOST, "rebound.example"), key.clone(), json.clone()]),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            post(&[
                host.clone(),
                key.clone(),
                json.clone(),
                (header::ORIGIN, "https://evil.example")
            ]),
            Err(StatusCode::FORBIDDEN)
        );
        let health = access.check(
            &Method::GET,
            "/health",
            &headers(std::slice::from_ref(&host)),
        );
        assert_eq!(health, Ok(()));
        let clip = access.check(&Method::GET, "/x_clip_001.mp4", &headers(&[host]));
        assert_eq!(clip.map_err(|r| r.status), Err(StatusCode::UNAUTHORIZED));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/vnd.api+json"));
        assert!(!is_json("text/plain"));
    }
}
