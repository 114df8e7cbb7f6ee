//! Where the ffmpeg and ffprobe executables are.

use std::path::PathBuf;

/// Paths of the external tools. Defaults to `ffmpeg`/`ffprobe` on `PATH`, overridable with the
/// `CLIPBENCH_FFMPEG` and `CLIPBENCH_FFPROBE` environment variables.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Tools::from_env()
    }
}

impl Tools {
    /// Reads the tool paths from the environment, falling back to the names on `PATH`.
    pub fn from_env() -> Self {
        let pick = |var: &str, name: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(name))
        };
        Tools {
            ffmpeg: pick("CLIPBENCH_FFMPEG", "ffmpeg"),
            ffprobe: pick("CLIPBENCH_FFPROBE", "ffprobe"),
        }
    }
}

/// Maps a spawn error to [`crate::EngineError::ToolMissing`] when the executable is absent.
pub(crate) fn spawn_error(
    tool: &'static str,
    err: std::io::Error,
    path: &std::path::Path,
) -> crate::EngineError {
    if err.kind() == std::io::ErrorKind::NotFound {
        let env_var = if tool == "ffmpeg" {
            "CLIPBENCH_FFMPEG"
        } else {
            "CLIPBENCH_FFPROBE"
        };
        crate::EngineError::ToolMissing { tool, env_var }
    } else {
        crate::EngineError::io("cannot start", path, err)
    }
}
