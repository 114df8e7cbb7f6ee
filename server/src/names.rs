//! The names a job publishes under: the video's title from its URL, and each clip's file name
//! in the dialect of the backend the server stands in for.

use std::path::{Component, Path, PathBuf};

use clipbench_engine::plan::Clip;
use reqwest::Url;

use clipbench_engine::extras::Compat;
use clipbench_fetch::file_name_for;

/// The video's name: the URL's file name without its extension, safe as a file name part.
pub fn title_for(url: &Url) -> String {
    let name = file_name_for(url);
    let stem = name
        .rsplit_once('.')
        .map_or(name.as_str(), |(stem, _)| stem);
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if safe.is_empty() {
        "video".into()
    } else {
        safe
    }
}

/// A clip's published file name: `STEM_clip_001.mp4`, and `STEM_clip_001_25s.mp4` for the
/// original backend.
pub fn clip_filename(stem: &str, clip: &Clip, compat: Compat) -> String {
    let number = clip.number;
    match compat {
        Compat::Original => format!("{stem}_clip_{number:03}_{}s.mp4", clip.start as u64),
        Compat::Optimized => format!("{stem}_clip_{number:03}.mp4"),
    }
}

/// The store key of a published clip.
pub fn clip_key(filename: &str) -> String {
    format!("clips/{filename}")
}

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
