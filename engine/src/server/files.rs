//! `GET /<path>`: serves a generated clip from the outputs folder, with its content type and
//! HTTP Range support, and never anything outside that folder.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::responses::error;
use super::AppState;

/// Resolves a request path inside `root`: relative normal components only, and the real
/// (symlink-resolved) path must still be inside the real `root`. `None` means 404.
pub fn resolve_inside(root: &Path, request_path: &str) -> Option<PathBuf> {
    let relative = Path::new(request_path.trim_start_matches('/'));
    if request_path.contains('\\')
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let real_root = root.canonicalize().ok()?;
    let real = real_root.join(relative).canonicalize().ok()?;
    (real.starts_with(&real_root) && real.is_file()).then_some(real)
}

/// `GET /<path>`
pub async fn serve_clip(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The raw path, percent-decoded once; `..` in any spelling fails the component check.
    let raw = request.uri().path().to_owned();
    let decoded = percent_decode(&raw);
    if let Some(queue) = &state.queue {
        let range = request
            .headers()
            .get(axum::http::header::RANGE)
            .and_then(|v| v.to_str().ok());
        let name = decoded.as_deref().unwrap_or("").trim_start_matches('/');
        return super::queued::serve_clip(queue, name, range).await;
    }
    let Some(path) = decoded.and_then(|p| resolve_inside(&state.config.outputs(), &p)) else {
        return error(StatusCode::NOT_FOUND, format!("{raw} not found"));
    };
    match ServeFile::new(path).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
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
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        assert!(resolve_inside(&root, "/job-1/clip_001.mp4").is_some());
        for bad in [
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
