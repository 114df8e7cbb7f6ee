//! Files that appear whole or not at all: everything the engine and the harness write is first
//! written under a temporary `.partial` name and renamed once complete, so a crash, a full disk
//! or Ctrl-C never leaves a half-written file under its final name.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// The temporary name a file is written under before it is complete (`clip_001.mp4.partial`).
pub fn partial_path(final_path: &Path) -> PathBuf {
    let mut name = final_path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` atomically, creating its folder: a uniquely named `.partial` file
/// in the same folder (so concurrent writers never share one), then a rename. Nothing is left
/// behind on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io("cannot create folder", dir, e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| EngineError::io("cannot write", path, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_data())
        .map_err(|e| EngineError::io("cannot write", path, e))?;
    temp.persist(path)
        .map_err(|e| EngineError::io("cannot write", path, e.error))?;
    Ok(())
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| EngineError::io("cannot write", path, std::io::Error::other(e)))?;
    write_atomic(path, &json)
}

/// Gives a complete `.partial` file its final name.
pub fn commit_partial(final_path: &Path) -> Result<()> {
    let partial = partial_path(final_path);
    std::fs::rename(&partial, final_path).map_err(|e| EngineError::io("cannot rename", partial, e))
}

/// Free bytes for an unprivileged writer on the file system holding `path` (`None` when it
/// cannot be read).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed struct the call fills in.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    (rc == 0).then(|| stats.f_bavail as u64 * stats.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names() {
        assert_eq!(
            partial_path(Path::new("/o/clip_001.mp4")),
            PathBuf::from("/o/clip_001.mp4.partial")
        );
    }

    #[test]
    fn atomic_writes_leave_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/report.json");
        write_json_atomic(&path, &serde_json::json!({"a": 1})).unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.json")]);
        // A folder where the file should be: an error, and no partial file left.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(write_atomic(&blocked, b"x").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
