//! Memory of one encoder, measured: every run records the largest peak resident memory
//! (`ru_maxrss`) of its ffmpeg children per profile and resolution in `encoder-memory.json`
//! under the cache folder, and the `auto` strategy sizes its pool from that measurement (plus a
//! margin) instead of from a constant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::allocate::encoder_memory_bytes;
use crate::encode::Profile;
use crate::error::Result;

/// Version of the `encoder-memory.json` layout.
pub const MEMORY_SCHEMA_VERSION: u32 = 1;

const FILE_NAME: &str = "encoder-memory.json";

/// Headroom over a measured peak: thread counts and content vary between runs.
const MEASURED_MARGIN: f64 = 1.25;

/// The cache folder: `$CLIPBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/clipbench`, else
/// `~/.cache/clipbench`; `None` when none of them is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("CLIPBENCH_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("clipbench")))
        .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache").join("clipbench")))
}

/// Measured peaks, keyed by `"<profile> <width>x<height>"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncoderMemory {
    pub schema_version: u32,
    pub peaks: BTreeMap<String, u64>,
}

fn key(profile: Profile, width: u32, height: u32) -> String {
    format!("{profile} {width}x{height}")
}

impl EncoderMemory {
    /// Reads the cache; a missing, unreadable or other-version file gives an empty one.
    pub fn load(dir: &Path) -> EncoderMemory {
        std::fs::read(dir.join(FILE_NAME))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<EncoderMemory>(&bytes).ok())
            .filter(|m| m.schema_version == MEMORY_SCHEMA_VERSION)
            .unwrap_or_default()
    }

    /// The measured peak of one encoder, when a run has recorded one.
    pub fn measured(&self, profile: Profile, width: u32, height: u32) -> Option<u64> {
        self.peaks.get(&key(profile, width, height)).copied()
    }

    /// Records a run's largest peak (the latest measurement replaces the previous one).
    pub fn record(&mut self, profile: Profile, width: u32, height: u32, peak_bytes: u64) {
        if peak_bytes > 0 {
            self.peaks.insert(key(profile, width, height), peak_bytes);
        }
    }

    /// Writes the cache atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let cache = EncoderMemory {
            schema_version: MEMORY_SCHEMA_VERSION,
            peaks: self.peaks.clone(),
        };
        crate::files::write_json_atomic(&dir.join(FILE_NAME), &cache)
    }
}

/// Memory to budget per encoder: the measured peak plus 25 %, or without a measurement the
/// conservative [`encoder_memory_bytes`] estimate. Also says which one it is.
pub fn per_encoder_bytes(measured: Option<u64>, width: u32, height: u32) -> (u64, &'static str) {
    match measured {
        Some(peak) if peak > 0 => ((peak as f64 * MEASURED_MARGIN) as u64, "measured"),
        _ => (encoder_memory_bytes(width, height), "estimated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_peaks_per_profile_and_resolution() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(EncoderMemory::load(dir.path()), EncoderMemory::default());
        let mut memory = EncoderMemory::default();
        memory.record(Profile::Optimized, 1280, 720, 100 << 20);
        memory.record(Profile::Optimized, 1920, 1080, 0);
        memory.save(dir.path()).unwrap();
        let loaded = EncoderMemory::load(dir.path());
        assert_eq!(
            loaded.measured(Profile::Optimized, 1280, 720),
            Some(100 << 20)
        );
        assert_eq!(loaded.measured(Profile::Optimized, 1920, 1080), None);
        assert_eq!(loaded.measured(Profile::Original, 1280, 720), None);
        std::fs::write(dir.path().join(FILE_NAME), "not json").unwrap();
        assert_eq!(EncoderMemory::load(dir.path()), EncoderMemory::default());
    }

    #[test]
    fn budget_is_measured_plus_margin_or_the_estimate() {
        assert_eq!(
            per_encoder_bytes(Some(100 << 20), 1280, 720),
            (125 << 20, "measured")
        );
        assert_eq!(
            per_encoder_bytes(None, 1280, 720),
            (encoder_memory_bytes(1280, 720), "estimated")
        );
    }
}
