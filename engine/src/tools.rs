//! Where the ffmpeg and ffprobe executables are, and how a short-lived tool is run: bounded
//! in time, and never outliving the engine.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The demuxers a source may be opened with: the containers users send (MP4/MOV/3GP,
/// Matroska/WebM, AVI, FLV, MPEG-TS/PS, ASF/WMV, Ogg, MXF). A downloaded file is hostile, so
/// nothing that reads other files or URLs (playlists, concat lists, image sequences) or draws
/// text (`tty`) is on the list.
pub const MEDIA_DEMUXERS: &str = "mov,matroska,avi,flv,mpegts,mpeg,asf,ogg,mxf";

/// Input options that open a file only as a local file, through a [`MEDIA_DEMUXERS`] demuxer
/// (ffprobe takes the same ones).
pub const SOURCE_INPUT_ARGS: [&str; 4] = [
    "-protocol_whitelist",
    "file",
    "-format_whitelist",
    MEDIA_DEMUXERS,
];

/// Paths of the external tools. Defaults to `ffmpeg`/`ffprobe` on `PATH`, overridable with the
/// `CLIPBENCH_FFMPEG` and `CLIPBENCH_FFPROBE` environment variables.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// Longest an ffprobe run may take before it is killed (a hostile file can make it slow).
    pub probe_timeout: Duration,
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
            probe_timeout: Duration::from_secs(120),
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

/// Makes a child die with the engine (Linux `PR_SET_PDEATHSIG`): a server killed with SIGKILL
/// leaves no ffmpeg, ffprobe or yt-dlp behind. The signal follows the thread that spawned the
/// child, which in the engine waits for it.
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe prctl.
    unsafe {
        command.pre_exec(|| {
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Runs `command` to completion with its output captured, killing it after `limit`:
/// `Ok(None)` when it was killed.
pub(crate) fn output_within(
    command: &mut Command,
    limit: Duration,
) -> std::io::Result<Option<Output>> {
    die_with_parent(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    Ok(status.map(|status| Output {
        status,
        stdout,
        stderr,
    }))
}
