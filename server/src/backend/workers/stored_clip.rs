//! A published clip served from the store (queue mode's `GET /<file>`), with its content type
//! and HTTP Range support.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::names::clip_key;
use crate::responses::{error, server_error};
use crate::store::Store;

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
