//! `GET /<file>`: serves a published clip (a `.mp4` file at the top of the outputs folder, or
//! in the store), with its content type and HTTP Range support, and nothing else: no job
//! folder, no bookkeeping, no unfinished file, nothing outside.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::names::clip_key;
use crate::responses::{error, server_error};
use crate::store::Store;

/// Whether a requested name is a published clip's: one file name ending in `.mp4`.
pub fn is_clip_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none()
        && !name.contains(['\\', '/'])
        && name.ends_with(".mp4")
}

/// Resolves a published clip's name inside `root`; the real (symlink-resolved) path must be a
/// file directly in the real `root`. `None` means 404.
pub fn resolve_inside(root: &Path, request_path: &str) -> Option<PathBuf> {
    let name = request_path.trim_start_matches('/');
    if !is_clip_name(name) {
        return None;
    }
    let relative = Path::new(name);
    let real_root = root.canonicalize().ok()?;
    let real = real_root.join(relative).canonicalize().ok()?;
    (real.parent() == Some(real_root.as_path()) && real.is_file()).then_some(real)
}

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

/// `GET /<filename>` in queue mode: the clip from the store, with Range support.
pub async fn serve_from_store(
    store: &Store,
    filename: &str,
    range_header: Option<&str>,
) -> Response {
    let not_found = || error(StatusCode::NOT_FOUND, format!("/{filename} not found"));
    if filename.is_empty()
        || filename.contains('/')
        || filename.contains('\\')
        || filename.starts_with('.')
    {
        return not_found();
    }
    let key = clip_key(filename);
    let size = match store.size(&key).await {
        Ok(Some(size)) => size,
        Ok(None) => return not_found(),
        Err(e) => return server_error(e),
    };
    let range = match range_header.map(http_range_header::parse_range_header) {
        None => None,
        Some(parsed) => match parsed.and_then(|r| r.validate(size)) {
            Ok(ranges) if ranges.len() == 1 => {
                let r = &ranges[0];
                Some(*r.start()..*r.end() + 1)
            }
            _ => {
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                )
                    .into_response()
            }
        },
    };
    let fetched = match store.get(&key, range.clone()).await {
        Ok(Some(fetched)) => fetched,
        Ok(None) => return not_found(),
        Err(e) => return server_error(e),
    };
    let mut headers = vec![
        (header::CONTENT_TYPE, "video/mp4".to_owned()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
    ];
    let status = if range.is_some() {
        headers.push((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                fetched.range.start,
                fetched.range.end - 1,
                fetched.size
            ),
        ));
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = (status, fetched.bytes).into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
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
