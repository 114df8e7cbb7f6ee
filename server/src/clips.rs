//! `GET /<file>`: serves a published clip (a `.mp4` file at the top of the outputs folder, or
//! in the store: the backend's [`crate::backend::JobBackend::clip`]), with its content type
//! and HTTP Range support, and nothing else: no job folder, no bookkeeping, no unfinished
//! file, nothing outside.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::AppState;
use crate::names::is_clip_name;
use crate::responses::error;

/// `GET /<path>`
pub async fn serve_clip(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The raw path, percent-decoded once; `..` in any spelling fails the component check.
    let raw = request.uri().path().to_owned();
    let decoded = percent_decode(&raw);
    let name = decoded.as_deref().unwrap_or("").trim_start_matches('/');
    if !is_clip_name(name) {
        return error(StatusCode::NOT_FOUND, "no such clip".into());
    }
    state.backend.clip(name, request).await
}

/// Decodes `%XX` escapes; `None` for malformed escapes or non-UTF-8 results.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::resolve_inside;

    #[test]
    fn nothing_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("outputs");
        std::fs::create_dir_all(root.join("job-1")).unwrap();
        std::fs::write(root.join("job-1/clip_001.mp4"), b"x").unwrap();
        std::fs::write(root.join("v_clip_001.mp4"), b"x").unwrap();
        std::fs::write(root.join("v_clip_002.mp4.partial"), b"x").unwrap();
        std::fs::write(root.join("clipbench-ledger.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("secret.mp4"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.mp4"), root.join("link.mp4")).unwrap();
        assert!(resolve_inside(&root, "/v_clip_001.mp4").is_some());
        for bad in [
            "/job-1/clip_001.mp4",
            "/v_clip_002.mp4.partial",
            "/clipbench-ledger.json",
            "/link.mp4",
            "/../secret",
            "/job-1/../../secret",
            "//etc/passwd",
            "/link",
            "/job-1",
            "/a\\..\\secret",
        ] {
            assert_eq!(resolve_inside(&root, bad), None, "{bad}");
        }
        assert_eq!(
            percent_decode("/%2e%2e/secret").as_deref(),
            Some("/../secret")
        );
        assert_eq!(percent_decode("/%zz"), None);
    }
}
