//! `--resume`: the ledger in the output folder says which clips an earlier run of the same
//! input and settings wrote; those still present and valid are kept, the rest are encoded. The
//! ledger is rewritten as each clip is committed, so an interrupted run resumes where it was.

use std::sync::Mutex;

use super::RunOptions;
use crate::error::Result;
use crate::execute::{clip_profile, ClipOutcome, ClipStatus, Event, Subject, TimedEvent};
use crate::ledger::{self, DoneClip, Ledger};
use crate::plan::Clip;
use crate::probe::MediaInfo;
use crate::validate::validate_file;

/// The clips kept from an earlier run, the clips left to encode and the ledger being kept.
pub(super) struct Resume {
    pub reused: Vec<ClipOutcome>,
    pub todo: Vec<Clip>,
    ledger: Mutex<Ledger>,
    output_dir: std::path::PathBuf,
}

impl Resume {
    /// Reads the earlier ledger (when resuming), keeps what is still valid and writes the new
    /// ledger.
    pub fn start(
        content_hash: u64,
        clips: &[Clip],
        media: &MediaInfo,
        options: &RunOptions,
    ) -> Result<Resume> {
        let key = ledger::key(content_hash, options.setup.profile, &options.setup.plan);
        let previous = options
            .resume
            .then(|| Ledger::load_matching(&options.output_dir, &key))
            .flatten()
            .filter(|l| l.plan == clips);
        let reused = reusable_clips(previous.as_ref(), clips, media, options);
        let todo = clips
            .iter()
            .filter(|c| !reused.iter().any(|r| r.clip.number == c.number))
            .copied()
            .collect();
        let done = reused
            .iter()
            .map(|o| DoneClip {
                number: o.clip.number,
                bytes: o.bytes,
            })
            .collect();
        let ledger = Ledger {
            schema_version: ledger::LEDGER_SCHEMA_VERSION,
            key,
            plan: clips.to_vec(),
            done,
        };
        ledger.save(&options.output_dir)?;
        Ok(Resume {
            reused,
            todo,
            ledger: Mutex::new(ledger),
            output_dir: options.output_dir.clone(),
        })
    }

    /// Records a committed clip in the ledger (a warning when it cannot be written).
    pub fn on_event(&self, event: &TimedEvent) {
        if let Event::Finished {
            subject: Subject::Clip(clip),
            bytes,
            ..
        } = event.event
        {
            let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
            ledger.done.push(DoneClip {
                number: clip,
                bytes,
            });
            if let Err(e) = ledger.save(&self.output_dir) {
                tracing::warn!("cannot update the resume ledger: {e}");
            }
        }
    }
}

/// The ledger's clips that are still in the output folder, the same size and still valid.
fn reusable_clips(
    previous: Option<&Ledger>,
    clips: &[Clip],
    media: &MediaInfo,
    options: &RunOptions,
) -> Vec<ClipOutcome> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    clips
        .iter()
        .filter_map(|clip| {
            let recorded = previous.done.iter().find(|d| d.number == clip.number)?;
            let path = options.output_dir.join(clip.file_name());
            let bytes = std::fs::metadata(&path).map(|m| m.len()).ok()?;
            if bytes != recorded.bytes {
                return None;
            }
            let profile = clip_profile(options.setup.profile, media, clip);
            let validation = validate_file(&options.tools, &path, clip, media, profile);
            validation.valid.then(|| ClipOutcome {
                status: ClipStatus::Resumed,
                bytes,
                path: Some(path),
                validation: Some(validation),
                ..ClipOutcome::pending(*clip)
            })
        })
        .collect()
}
