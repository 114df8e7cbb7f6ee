//! The resume ledger: `clipbench-ledger.json` in the output folder records the plan and every
//! validated clip, so `run --resume` encodes only what is missing or broken. One writer (the run,
//! under a lock) rewrites it atomically after each clip. The key ties it to the input's content
//! and the settings: a ledger with another key is ignored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::encode::Profile;
use crate::error::{EngineError, Result};
use crate::plan::{Clip, PlanOptions};

/// File name of the ledger inside the output folder.
pub const LEDGER_FILE: &str = "clipbench-ledger.json";
/// Version of the ledger layout.
pub const LEDGER_SCHEMA_VERSION: u32 = 1;

/// What the ledger holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub schema_version: u32,
    /// Content hash of the input and the settings that shape the clips.
    pub key: String,
    pub plan: Vec<Clip>,
    /// The clips written and validated.
    pub done: Vec<DoneClip>,
}

/// A clip the ledger vouches for: reused only while its file still has this size (a truncated
/// or rewritten file is encoded again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneClip {
    pub number: u32,
    pub bytes: u64,
}

/// The first 64 bits of the file's BLAKE3 hash (stable across Rust releases and machines).
pub fn content_hash(path: &Path) -> Result<u64> {
    let mut hasher = blake3::Hasher::new();
    std::fs::File::open(path)
        .and_then(|file| hasher.update_reader(file).map(drop))
        .map_err(|e| EngineError::io("cannot read", path, e))?;
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    Ok(u64::from_le_bytes(first))
}

/// The ledger key: input content, profile and plan options (pure).
pub fn key(content: u64, profile: Profile, plan: &PlanOptions) -> String {
    format!(
        "{content:016x}/{profile}/{}/{}/{}",
        plan.policy, plan.max_clips, plan.high_priority_clips
    )
}

/// Where the ledger of an output folder lives.
pub fn path_in(output_dir: &Path) -> PathBuf {
    output_dir.join(LEDGER_FILE)
}

impl Ledger {
    /// Reads the ledger of `output_dir` when it exists, has this layout and this key.
    pub fn load_matching(output_dir: &Path, key: &str) -> Option<Ledger> {
        let text = std::fs::read_to_string(path_in(output_dir)).ok()?;
        let ledger: Ledger = serde_json::from_str(&text).ok()?;
        (ledger.schema_version == LEDGER_SCHEMA_VERSION && ledger.key == key).then_some(ledger)
    }

    /// Writes the ledger atomically.
    pub fn save(&self, output_dir: &Path) -> Result<()> {
        crate::files::write_json_atomic(&path_in(output_dir), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Policy, Priority};

    #[test]
    fn keys_change_with_content_and_settings() {
        let plan = PlanOptions::default();
        let a = key(1, Profile::Optimized, &plan);
        assert_ne!(a, key(2, Profile::Optimized, &plan));
        assert_ne!(a, key(1, Profile::Copy, &plan));
        let adaptive = PlanOptions {
            policy: Policy::Adaptive,
            ..plan
        };
        assert_ne!(a, key(1, Profile::Optimized, &adaptive));
    }

    #[test]
    fn saved_ledgers_load_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger {
            schema_version: LEDGER_SCHEMA_VERSION,
            key: "k".into(),
            plan: vec![Clip {
                number: 1,
                start: 0.0,
                end: 2.0,
                priority: Priority::High,
            }],
            done: vec![DoneClip {
                number: 1,
                bytes: 10,
            }],
        };
        ledger.save(dir.path()).unwrap();
        assert_eq!(Ledger::load_matching(dir.path(), "k"), Some(ledger));
        assert_eq!(Ledger::load_matching(dir.path(), "other"), None);
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(content_hash(&file).unwrap(), content_hash(&file).unwrap());
    }
}
