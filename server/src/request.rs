//! A job request as the backends take it (`{"url": …, "output_dir": …}`, checked strictly) and
//! a job's failure as the status and message they answer with.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::Value;

use crate::error::ServerError;
use clipbench_engine::error::EngineError;
use clipbench_fetch::FetchError;

/// A parsed job request.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub url: String,
    /// A folder name under `outputs/`, when the client chose one.
    pub output_dir: Option<PathBuf>,
}

/// Why a job request is refused (400; its `Display` is the message the backends answer with).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadRequest {
    #[error("URL is required")]
    NoUrl,
    #[error("request body is not valid JSON ({0}): send {{\"url\": \"...\"}}")]
    NotJson(String),
    #[error("request body must be a JSON object: {{\"url\": \"...\"}}")]
    NotAnObject,
    #[error("url must be a string")]
    UrlNotAString,
    #[error("output_dir must be a string")]
    OutputDirNotAString,
    #[error("output_dir must be one folder name of at most {MAX_FOLDER_NAME} letters, digits, '-', '_' or '.'")]
    OutputDirName,
}

/// Parses the JSON body.
pub fn parse_request(body: &[u8]) -> Result<JobRequest, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest::NoUrl);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BadRequest::NotJson(e.to_string()))?;
    let object = value.as_object().ok_or(BadRequest::NotAnObject)?;
    let url = match object.get("url") {
        None | Some(Value::Null) => return Err(BadRequest::NoUrl),
        Some(Value::String(s)) if s.trim().is_empty() => return Err(BadRequest::NoUrl),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(BadRequest::UrlNotAString),
    };
    let output_dir = match object.get("output_dir") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(safe_folder_name(s)?),
        Some(_) => return Err(BadRequest::OutputDirNotAString),
    };
    Ok(JobRequest { url, output_dir })
}

/// Longest `output_dir` accepted, characters.
pub const MAX_FOLDER_NAME: usize = 64;

/// An `output_dir` is one folder name inside the server's `outputs/`: letters, digits, `-`,
/// `_` and `.` (not only dots), at most [`MAX_FOLDER_NAME`] characters. Nothing else can reach
/// a path, a file list for ffmpeg or a published file name.
fn safe_folder_name(dir: &str) -> Result<PathBuf, BadRequest> {
    let ok = !dir.is_empty()
        && dir.chars().count() <= MAX_FOLDER_NAME
        && dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !dir.chars().all(|c| c == '.');
    if ok {
        Ok(PathBuf::from(dir))
    } else {
        Err(BadRequest::OutputDirName)
    }
}

/// A job's failure: its HTTP status and message.
#[derive(Debug)]
pub struct JobError {
    pub status: StatusCode,
    pub message: String,
}

impl From<EngineError> for JobError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::DownloadStopped(_) => StatusCode::BAD_GATEWAY,
            EngineError::OverBudget(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::DeadlinePassed { .. } => StatusCode::GATEWAY_TIMEOUT,
            EngineError::FileMissing(_)
            | EngineError::NotMedia { .. }
            | EngineError::NoVideoStream(_)
            | EngineError::ZeroDuration(_)
            | EngineError::InvalidOption(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::ToolMissing { .. }
            | EngineError::ToolHangs { .. }
            | EngineError::Io(_)
            | EngineError::Internal(_)
            | EngineError::Cancelled => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // A file-system error names a server folder: the client gets what failed.
        let message = match &e {
            EngineError::Io(io) => format!("the server {}", io.without_path()),
            _ => e.to_string(),
        };
        JobError { status, message }
    }
}

impl From<FetchError> for JobError {
    fn from(e: FetchError) -> Self {
        let e = match e {
            FetchError::Engine(e) => return JobError::from(e),
            e => e,
        };
        let status = match &e {
            FetchError::UnsupportedScheme(_) | FetchError::PageNeedsYtDlp { .. } => {
                StatusCode::BAD_REQUEST
            }
            FetchError::UrlForbidden { .. } => StatusCode::FORBIDDEN,
            FetchError::NoSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
            FetchError::Download { .. } => StatusCode::BAD_GATEWAY,
            FetchError::UrlRefused { .. } | FetchError::NotAVideo { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            // (an engine failure is answered above)
            FetchError::Io(_)
            | FetchError::Internal(_)
            | FetchError::Cancelled
            | FetchError::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // A file-system error names a server folder: the client gets what failed.
        let message = match &e {
            FetchError::Io(io) => format!("the server {}", io.without_path()),
            _ => e.to_string(),
        };
        JobError { status, message }
    }
}

impl From<ServerError> for JobError {
    fn from(e: ServerError) -> Self {
        // A file-system error names a server folder, a queue or store error an internal
        // address: the client gets what failed, the log says where.
        let (status, message) = match e {
            ServerError::Fetch(e) => return JobError::from(e),
            ServerError::Engine(e) => return JobError::from(e),
            ServerError::Queue { .. } => {
                tracing::warn!("{e}");
                (StatusCode::SERVICE_UNAVAILABLE, "the job queue is not answering: start it (`redis-server`) or fix --queue (the server's log has the details)".to_owned())
            }
            ServerError::Store(_) => {
                tracing::warn!("{e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is not answering: check --store (the server's log has the details)"
                        .to_owned(),
                )
            }
            ServerError::Io(io) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the server {}", io.without_path()),
            ),
            ServerError::InvalidOption(_) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            ServerError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        JobError { status, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        // Fuzzing of the request parser: any bytes, and JSON objects with hostile fields.
        #[test]
        fn fuzz_request_parser_never_panics_and_keeps_names_safe(
            noise in prop::collection::vec(any::<u8>(), 0..256),
            url in ".{0,64}",
            dir in ".{0,80}",
        ) {
            let _ = parse_request(&noise);
            let body = serde_json::json!({"url": url, "output_dir": dir}).to_string();
            if let Ok(JobRequest { output_dir: Some(dir), .. }) = parse_request(body.as_bytes()) {
                let name = dir.to_string_lossy();
                prop_assert!(name.len() <= MAX_FOLDER_NAME);
                prop_assert!(!name.contains(['/', '\\', '\n', '\r', '\'']) && name != "..");
            }
        }
    }

    #[test]
    fn requests_are_parsed_strictly() {
        assert_eq!(
            parse_request(br#"{"url": " http://h/v.mp4 ", "output_dir": "mine"}"#),
            Ok(JobRequest {
                url: "http://h/v.mp4".into(),
                output_dir: Some("mine".into())
            })
        );
        assert_eq!(parse_request(b""), Err(BadRequest::NoUrl));
        assert_eq!(parse_request(b"{}"), Err(BadRequest::NoUrl));
        assert_eq!(parse_request(br#"{"url": ""}"#), Err(BadRequest::NoUrl));
        assert_eq!(
            parse_request(br#"{"url": 5}"#),
            Err(BadRequest::UrlNotAString)
        );
        assert!(matches!(
            parse_request(b"{not json"),
            Err(BadRequest::NotJson(_))
        ));
        assert_eq!(parse_request(b"[1]"), Err(BadRequest::NotAnObject));
        // The messages are the backends' (`contract/peers/`).
        assert_eq!(BadRequest::NoUrl.to_string(), "URL is required");
        let long = "a".repeat(MAX_FOLDER_NAME + 1);
        for bad in [
            "../x",
            "/etc",
            "a/../../b",
            "a/b",
            "..",
            "a\\nb",
            "a\\u0007",
            "é",
            &long,
        ] {
            let body = format!(r#"{{"url": "http://h/v.mp4", "output_dir": "{bad}"}}"#);
            assert_eq!(
                parse_request(body.as_bytes()),
                Err(BadRequest::OutputDirName),
                "{bad}"
            );
        }
        let body = br#"{"url": "http://h/v.mp4", "output_dir": "job.2026-12_a"}"#;
        assert!(parse_request(body).is_ok());
    }
}
