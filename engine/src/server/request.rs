//! A job request as the backends take it (`{"url": …, "output_dir": …}`, checked strictly) and
//! a job's failure as the status and message they answer with.

use std::path::{Component, Path, PathBuf};

use axum::http::StatusCode;
use serde_json::Value;

use crate::error::EngineError;

/// A parsed job request.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub url: String,
    /// A folder name under `outputs/`, when the client chose one.
    pub output_dir: Option<PathBuf>,
}

/// Parses the JSON body; the error is the message for a 400 answer.
pub fn parse_request(body: &[u8]) -> Result<JobRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("URL is required".into());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("request body is not valid JSON ({e}): send {{\"url\": \"...\"}}"))?;
    let object = value
        .as_object()
        .ok_or("request body must be a JSON object: {\"url\": \"...\"}")?;
    let url = match object.get("url") {
        None | Some(Value::Null) => return Err("URL is required".into()),
        Some(Value::String(s)) if s.trim().is_empty() => return Err("URL is required".into()),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err("url must be a string".into()),
    };
    let output_dir = match object.get("output_dir") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(safe_folder_name(s)?),
        Some(_) => return Err("output_dir must be a string".into()),
    };
    Ok(JobRequest { url, output_dir })
}

/// An `output_dir` is a relative folder inside the server's `outputs/` (no `..`, no root).
fn safe_folder_name(dir: &str) -> Result<PathBuf, String> {
    let path = Path::new(dir);
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "output_dir {dir:?} must be a relative folder name inside the server's outputs folder"
        ))
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
            EngineError::UnsupportedScheme(_) | EngineError::PageNeedsYtDlp { .. } => {
                StatusCode::BAD_REQUEST
            }
            EngineError::Download { .. } => StatusCode::BAD_GATEWAY,
            EngineError::Queue { .. } | EngineError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::FileMissing(_)
            | EngineError::UrlRefused { .. }
            | EngineError::NotMedia { .. }
            | EngineError::NoVideoStream(_)
            | EngineError::ZeroDuration(_)
            | EngineError::InvalidOption(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::ToolMissing { .. }
            | EngineError::Io { .. }
            | EngineError::Internal(_)
            | EngineError::Cancelled => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // A file-system error names a server folder: the client gets what failed, not where.
        let message = match &e {
            EngineError::Io { action, cause, .. } => format!("the server {action}: {cause}"),
            _ => e.to_string(),
        };
        JobError { status, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_strictly() {
        assert_eq!(
            parse_request(br#"{"url": " http://h/v.mp4 ", "output_dir": "mine"}"#),
            Ok(JobRequest {
                url: "http://h/v.mp4".into(),
                output_dir: Some("mine".into())
            })
        );
        assert_eq!(parse_request(b""), Err("URL is required".into()));
        assert_eq!(parse_request(b"{}"), Err("URL is required".into()));
        assert_eq!(
            parse_request(br#"{"url": ""}"#),
            Err("URL is required".into())
        );
        assert_eq!(
            parse_request(br#"{"url": 5}"#),
            Err("url must be a string".into())
        );
        assert!(parse_request(b"{not json")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_request(b"[1]").unwrap_err().contains("JSON object"));
        for bad in ["../x", "/etc", "a/../../b"] {
            let body = format!(r#"{{"url": "http://h/v.mp4", "output_dir": "{bad}"}}"#);
            assert!(parse_request(body.as_bytes())
                .unwrap_err()
                .contains("relative folder"));
        }
    }
}
