//! Where each task's files go: clips in the output folder under their final names, and with
//! `reuse_overlaps` (or a smart cut) the chunks, separate audio, smart-cut pieces and concat
//! lists in [`CHUNK_DIR`] inside it.
//! Every file is written under its `.partial` name first ([`crate::files`]).

use std::path::PathBuf;

use super::graph::Task;
use crate::files::partial_path;
use crate::plan::Clip;
use crate::smart::Piece;
use crate::task::TaskKind;

/// Folder (inside the output folder) that holds the chunks of a `reuse_overlaps` run; removed
/// when the run ends.
pub const CHUNK_DIR: &str = ".clipbench-chunks";

/// The file names of one execution.
pub(super) struct Layout {
    pub output_dir: PathBuf,
    /// Absolute, so ffmpeg's concat lists resolve wherever ffmpeg runs.
    pub chunk_dir: PathBuf,
}

impl Layout {
    /// Where a clip (or a clip's separate audio) goes once valid.
    pub fn final_path(&self, task: &Task) -> PathBuf {
        match task.spec.kind {
            TaskKind::Audio => self.audio_path(task.spec.span.number),
            _ => self.output_dir.join(task.spec.span.file_name()),
        }
    }

    pub fn audio_path(&self, clip: u32) -> PathBuf {
        self.chunk_dir.join(format!("clip_{clip:03}.audio.mp4"))
    }

    /// Where one smart-cut piece of a clip goes once written.
    pub fn piece_path(&self, clip: u32, piece: Piece) -> PathBuf {
        self.chunk_dir
            .join(format!("clip_{clip:03}.{}.mp4", piece.name()))
    }

    /// Every piece path of a smart-cut pieces task, in order.
    pub fn piece_paths(&self, task: &Task) -> Vec<PathBuf> {
        let pieces = task.cut.map(|c| c.pieces()).unwrap_or_default();
        let clip = task.spec.span.number;
        pieces
            .iter()
            .map(|(piece, _, _)| self.piece_path(clip, *piece))
            .collect()
    }

    pub fn chunk_path(&self, chunk: &Clip) -> PathBuf {
        self.chunk_dir
            .join(format!("chunk_{:04}.mp4", chunk.number))
    }

    /// The concat list an assembly hands to ffmpeg.
    pub fn concat_list_path(&self, clip: u32) -> PathBuf {
        self.chunk_dir.join(format!("clip_{clip:03}.concat.txt"))
    }

    /// What a chunk group's ffmpeg writes: a file pattern (`%03d` numbers the pieces) and the
    /// muxer's CSV list of the pieces.
    pub fn group_outputs(&self, task: &Task) -> (PathBuf, PathBuf) {
        let n = task.spec.span.number;
        (
            self.chunk_dir.join(format!("group_{n:03}_%03d.mp4")),
            self.chunk_dir.join(format!("group_{n:03}.csv")),
        )
    }

    /// Removes what a failed attempt left behind.
    pub fn clean_up(&self, task: &Task) {
        if task.spec.kind == TaskKind::Cut {
            for path in self.piece_paths(task) {
                let _ = std::fs::remove_file(partial_path(&path));
            }
            let _ = std::fs::remove_file(partial_path(&self.audio_path(task.spec.span.number)));
            return;
        }
        if task.spec.kind != TaskKind::Chunk {
            let _ = std::fs::remove_file(partial_path(&self.final_path(task)));
            return;
        }
        let prefix = format!("group_{:03}_", task.spec.span.number);
        let _ = std::fs::remove_file(self.group_outputs(task).1);
        for entry in std::fs::read_dir(&self.chunk_dir).into_iter().flatten() {
            let Ok(entry) = entry else { continue };
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Parses the segment muxer's CSV list (`name,start,end` per line) into (file name, seconds).
pub(super) fn parse_segment_list(csv: &str) -> Vec<(String, f64)> {
    csv.lines()
        .filter_map(|line| {
            let mut fields = line.rsplitn(3, ',');
            let end: f64 = fields.next()?.trim().parse().ok()?;
            let start: f64 = fields.next()?.trim().parse().ok()?;
            let name = fields.next()?.trim().trim_matches('"').to_owned();
            Some((name, end - start))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_lists() {
        let csv = "group_001_000.mp4.partial,0.000000,4.960000\ngroup_001_001.mp4.partial,4.960000,25.000000\n";
        assert_eq!(
            parse_segment_list(csv),
            vec![
                ("group_001_000.mp4.partial".to_owned(), 4.96),
                ("group_001_001.mp4.partial".to_owned(), 20.04)
            ]
        );
    }
}
