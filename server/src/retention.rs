//! What the server keeps, and for how long: published clips and job folders are removed once
//! older than `--keep-for`, and oldest first while the outputs exceed `--max-disk`; a running
//! job's folder never. In queue mode the store's published clips likewise. At start, downloads
//! and `.partial` files of a previous life are removed.
//!
//! [`to_remove`] decides (pure); [`sweep`] looks at the folder and removes.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::admission::Admission;
use crate::store::Store;

/// How long and how much output is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Outputs older than this are removed (`--keep-for`).
    pub keep_for: Duration,
    /// Outputs beyond this many bytes are removed, oldest first (`--max-disk`).
    pub max_disk_bytes: u64,
}

impl Default for Retention {
    /// A day, and 20 GiB.
    fn default() -> Self {
        Retention {
            keep_for: Duration::from_secs(24 * 3600),
            max_disk_bytes: 20 * 1024 * 1024 * 1024,
        }
    }
}

/// One entry at the top of `outputs/`: a published clip or a job's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub modified: SystemTime,
    /// Its files as (inode, bytes): a published clip is a hard link to a file in its job's
    /// folder, so an inode is counted once however many entries hold it.
    pub files: Vec<(u64, u64)>,
    /// A running job's folder.
    pub in_use: bool,
}

/// The indexes of the entries to remove: every entry not in use older than `keep_for`, then
/// the oldest ones while the bytes still held exceed `max_disk_bytes`.
pub fn to_remove(entries: &[Entry], now: SystemTime, retention: &Retention) -> Vec<usize> {
    let mut holders: HashMap<u64, (u64, usize)> = HashMap::new();
    for entry in entries {
        for &(inode, bytes) in &entry.files {
            holders.entry(inode).or_insert((bytes, 0)).1 += 1;
        }
    }
    let mut held: u64 = holders.values().map(|(bytes, _)| bytes).sum();
    let mut order: Vec<usize> = (0..entries.len()).filter(|&i| !entries[i].in_use).collect();
    order.sort_by_key(|&i| (entries[i].modified, entries[i].name.clone()));
    let mut removed = Vec::new();
    for i in order {
        let age = now.duration_since(entries[i].modified).unwrap_or_default();
        if age <= retention.keep_for && held <= retention.max_disk_bytes {
            continue;
        }
        for (inode, _) in &entries[i].files {
            if let Some((bytes, count)) = holders.get_mut(inode) {
                *count -= 1;
                if *count == 0 {
                    held -= *bytes;
                }
            }
        }
        removed.push(i);
    }
    removed
}

/// The entries at the top of `outputs`.
fn entries(outputs: &Path, in_use: &HashSet<String>) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(outputs) else {
        return Vec::new();
    };
    read.flatten()
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut files = Vec::new();
            collect_files(&entry.path(), &mut files);
            Some(Entry {
                in_use: in_use.contains(&name),
                name,
                modified: metadata.modified().ok()?,
                files,
            })
        })
        .collect()
}

fn collect_files(path: &Path, files: &mut Vec<(u64, u64)>) {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            collect_files(&entry.path(), files);
        }
    } else {
        files.push((metadata.ino(), metadata.len()));
    }
}

/// Removes what [`to_remove`] picks from `outputs`; returns how many entries went.
pub fn sweep(outputs: &Path, in_use: &HashSet<String>, retention: &Retention) -> usize {
    let entries = entries(outputs, in_use);
    let removed = to_remove(&entries, SystemTime::now(), retention);
    for &i in &removed {
        let path = outputs.join(&entries[i].name);
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
    removed.len()
}

/// At start no job runs: every download and every `.partial` file under `outputs` is left
/// from a previous life.
pub fn sweep_at_start(downloads: &Path, outputs: &Path) {
    for entry in std::fs::read_dir(downloads).into_iter().flatten().flatten() {
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
    remove_partials(outputs);
}

fn remove_partials(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_partials(&path);
        } else if path.to_string_lossy().ends_with(".partial") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Removes what [`to_remove`] picks from the store's published clips (`clips/`, queue mode);
/// how many. Sources stay: another server's running job may be reading one.
pub async fn sweep_store(store: &Store, retention: &Retention) -> crate::error::Result<usize> {
    let objects = store.list("clips").await?;
    let entries: Vec<Entry> = objects
        .iter()
        .enumerate()
        .map(|(i, (key, bytes, modified))| Entry {
            name: key.clone(),
            modified: *modified,
            files: vec![(i as u64, *bytes)],
            in_use: false,
        })
        .collect();
    let removed = to_remove(&entries, SystemTime::now(), retention);
    for &i in &removed {
        store.delete(&entries[i].name).await?;
    }
    Ok(removed.len())
}

/// Sweeps `outputs` (but the folders admitted jobs hold) and a queue-backed server's published
/// clips in `store` every minute (more often when `--keep-for` is short), for as long as the
/// server runs.
pub async fn keep_sweeping(
    retention: Retention,
    outputs: PathBuf,
    admission: Arc<Admission>,
    store: Option<Store>,
) {
    let every = (retention.keep_for / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        if let Some(store) = &store {
            match sweep_store(store, &retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "retention: old clips removed from the store"),
                Err(e) => tracing::warn!("retention: {e}"),
            }
        }
        let in_use = admission.folders_in_use();
        let outputs = outputs.clone();
        let removed =
            tokio::task::spawn_blocking(move || sweep(&outputs, &in_use, &retention)).await;
        if let Ok(n @ 1..) = removed {
            tracing::info!(removed = n, "retention: old outputs removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, age_s: u64, files: &[(u64, u64)], in_use: bool) -> Entry {
        Entry {
            name: name.into(),
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1000 - age_s),
            files: files.to_vec(),
            in_use,
        }
    }

    #[test]
    fn old_entries_go_then_the_oldest_while_over_the_size() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let retention = Retention {
            keep_for: Duration::from_secs(100),
            max_disk_bytes: 250,
        };
        let entries = [
            entry("job-old", 500, &[(1, 100)], false),
            entry("old_clip_001.mp4", 500, &[(1, 100)], false),
            entry("job-a", 50, &[(2, 100)], false),
            entry("a_clip_001.mp4", 50, &[(2, 100)], false),
            entry("job-b", 40, &[(3, 100)], false),
            entry("job-running", 900, &[(4, 100)], true),
        ];
        // The old pair goes by age; 300 bytes remain for 250 allowed: job-a and its link go
        // (its inode is freed only when both are gone); the running job stays.
        assert_eq!(to_remove(&entries, now, &retention), vec![0, 1, 3, 2]);
        let roomy = Retention {
            max_disk_bytes: 10_000,
            ..retention
        };
        assert_eq!(to_remove(&entries, now, &roomy), vec![0, 1]);
    }

    #[test]
    fn a_sweep_removes_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path();
        std::fs::create_dir(outputs.join("job-1")).unwrap();
        std::fs::write(outputs.join("job-1/clip_001.mp4"), b"abc").unwrap();
        std::fs::hard_link(
            outputs.join("job-1/clip_001.mp4"),
            outputs.join("v_clip_001.mp4"),
        )
        .unwrap();
        std::fs::create_dir(outputs.join("job-2")).unwrap();
        std::fs::write(outputs.join("job-2/x.mp4.partial"), b"abc").unwrap();
        let keep_nothing = Retention {
            keep_for: Duration::ZERO,
            max_disk_bytes: 0,
        };
        sweep_at_start(&dir.path().join("none"), outputs);
        assert!(!outputs.join("job-2/x.mp4.partial").exists());
        let in_use = HashSet::from(["job-2".to_owned()]);
        assert_eq!(sweep(outputs, &in_use, &keep_nothing), 2);
        assert!(!outputs.join("job-1").exists() && !outputs.join("v_clip_001.mp4").exists());
        assert!(outputs.join("job-2").exists());
    }

    #[tokio::test]
    async fn the_stores_old_clips_go_and_its_sources_stay() {
        let dir = tempfile::tempdir().unwrap();
        let url = reqwest::Url::from_directory_path(dir.path().join("store")).unwrap();
        let store = Store::open(url.as_str()).unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"bytes").unwrap();
        for key in [
            "clips/a_clip_001.mp4",
            "clips/a_clip_002.mp4",
            "sources/abc.mp4",
        ] {
            store.put_file(key, &file).await.unwrap();
        }
        let keep = Retention::default();
        assert_eq!(sweep_store(&store, &keep).await.unwrap(), 0);
        let nothing = Retention {
            keep_for: Duration::ZERO,
            max_disk_bytes: 0,
        };
        assert_eq!(sweep_store(&store, &nothing).await.unwrap(), 2);
        assert!(store.list("clips").await.unwrap().is_empty());
        assert!(store.exists("sources/abc.mp4").await.unwrap());
    }
}
