//! The benchmark configuration: `clipbench.toml`, or the embedded default (`default.toml`).

use std::path::Path;

use clipbench_engine::run::Setup;
use clipbench_engine::{Strategy, ThreadSetting};

use crate::dialect::{ClipCounter, Flavor};
use serde::{Deserialize, Serialize};

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// A whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub run: RunSettings,
    #[serde(rename = "target")]
    pub targets: Vec<TargetConfig>,
}

/// How runs are made.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    pub samples: Vec<String>,
    /// Runs per (target, sample); the most, with `stop_when_decided`.
    pub runs: usize,
    /// Stop each cell's runs once its part of the answer is decided (at least 2, at most
    /// `runs`; [`crate::stopping`]).
    pub stop_when_decided: bool,
    pub warmup: usize,
    /// Seed of the shuffled order; random (and recorded) when absent.
    pub seed: Option<u64>,
    pub baseline: Option<String>,
    pub poll_interval_ms: u64,
    pub monitor_interval_ms: u64,
    /// Samples that only some targets run on: sample name → those targets' names (a long
    /// sample measured only where it answers a question). Other samples run every target.
    pub targets_on: std::collections::BTreeMap<String, Vec<String>>,
    /// A shaped link every target gets the samples over (`fibre`, `100mbit,20ms`); loopback
    /// when absent.
    #[serde(deserialize_with = "link_spec")]
    pub link: Option<crate::link::Link>,
}

/// A `link = "…"` setting, parsed (a bad one is a configuration error naming the presets).
fn link_spec<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<crate::link::Link>, D::Error> {
    let spec: Option<String> = Option::deserialize(deserializer)?;
    spec.map(|s| crate::link::Link::parse(&s).map_err(serde::de::Error::custom))
        .transpose()
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            samples: vec!["bbb-720p-60s".into()],
            runs: 3,
            stop_when_decided: false,
            warmup: 0,
            seed: None,
            baseline: None,
            poll_interval_ms: 100,
            monitor_interval_ms: 100,
            targets_on: Default::default(),
            link: None,
        }
    }
}

/// One target: how to run one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetConfig {
    /// The engine library in-process.
    Engine {
        name: String,
        /// The engine's choices (`strategy`, `profile`, `policy`, `threads`,
        /// `reuse_overlaps`…), each optional with the engine's default.
        #[serde(flatten)]
        setup: Setup,
        /// Set by `--sweep workers=…`.
        #[serde(default)]
        sweep_workers: Option<usize>,
        /// Over a shaped link, download the whole sample before cutting, as the Python
        /// backends do (by default the engine cuts while the sample arrives).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        download_first: bool,
    },
    /// A backend over HTTP.
    Http {
        name: String,
        #[serde(flatten)]
        dialect: HttpDialect,
    },
    /// Any command; `{input}`, `{outdir}` and `{sample}` are substituted in each argument.
    Command {
        name: String,
        command: Vec<String>,
        /// Run `sh -c` on the arguments joined by spaces instead of executing them directly.
        #[serde(default)]
        shell: bool,
        #[serde(default = "default_timeout_s")]
        timeout_s: f64,
    },
}

fn default_timeout_s() -> f64 {
    1800.0
}

/// An HTTP backend's API as configured. Everything left out is detected from what the server
/// answers (see [`crate::dialect`]); a preset says which server is expected there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpDialect {
    /// `original`, `optimized` or `clipbench`: the server expected (a different one is skipped
    /// with the reason). Without a base URL, the preset looks on ports 5000 and 5001.
    pub preset: Option<String>,
    pub base_url: Option<String>,
    /// Paths; an empty string disables an optional one. Detected when left out.
    pub generate_path: Option<String>,
    pub progress_path: Option<String>,
    pub health_path: Option<String>,
    pub cleanup_path: Option<String>,
    /// What `/progress`'s `current_clip` counts on a server that is none of the known three.
    pub current_clip: Option<ClipCounter>,
    /// JSON body with `{url}` replaced by the sample's URL.
    pub body_template: Option<String>,
    pub timeout_s: Option<f64>,
    /// The environment variable holding the server's API key (`serve --api-key`), sent as
    /// `Authorization: Bearer` on every request; the key itself is never configured or recorded.
    pub api_key_env: Option<String>,
}

impl HttpDialect {
    /// The expected server, when a preset names one.
    pub fn expected(&self) -> Result<Option<Flavor>, String> {
        self.preset.as_deref().map(Flavor::from_preset).transpose()
    }

    /// Where to look for the server: the base URL, or the preset's usual ports.
    pub fn candidate_base_urls(&self) -> Result<Vec<String>, String> {
        if let Some(base) = &self.base_url {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(format!(
                    "base_url {base:?} must start with http:// or https://"
                ));
            }
            return Ok(vec![base.trim_end_matches('/').to_owned()]);
        }
        match self.expected()? {
            Some(flavor) => Ok(flavor
                .candidate_base_urls()
                .iter()
                .map(|s| (*s).to_owned())
                .collect()),
            None => Err("an HTTP target needs a base_url or a preset".into()),
        }
    }
}

impl TargetConfig {
    pub fn name(&self) -> &str {
        match self {
            TargetConfig::Engine { name, .. }
            | TargetConfig::Http { name, .. }
            | TargetConfig::Command { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TargetConfig::Engine { .. } => "engine",
            TargetConfig::Http { .. } => "http",
            TargetConfig::Command { .. } => "command",
        }
    }

    pub fn sweep_workers(&self) -> Option<usize> {
        match self {
            TargetConfig::Engine { sweep_workers, .. } => *sweep_workers,
            _ => None,
        }
    }

    /// Parses a target given on the command line: `engine:STRATEGY[@PROFILE]`,
    /// `http:BASE_URL` (dialect detected), `http:PRESET[@BASE_URL]`, or a target name defined
    /// in the configuration.
    pub fn from_spec(spec: &str) -> Result<Option<TargetConfig>, String> {
        if let Some(rest) = spec.strip_prefix("engine:") {
            let (strategy, profile) = match rest.rsplit_once('@') {
                Some((s, p)) => (s, Some(p)),
                None => (rest, None),
            };
            let defaults = Setup::default();
            return Ok(Some(TargetConfig::Engine {
                name: spec.to_owned(),
                setup: Setup {
                    strategy: strategy.parse()?,
                    profile: profile
                        .map(str::parse)
                        .transpose()?
                        .unwrap_or(defaults.profile),
                    ..defaults
                },
                sweep_workers: None,
                download_first: false,
            }));
        }
        if let Some(rest) = spec.strip_prefix("http:") {
            let (preset, base) = if rest.starts_with("http://") || rest.starts_with("https://") {
                (None, Some(rest.to_owned()))
            } else {
                match rest.split_once('@') {
                    Some((p, b)) => (Some(p.to_owned()), Some(b.to_owned())),
                    None => (Some(rest.to_owned()), None),
                }
            };
            let dialect = HttpDialect {
                preset,
                base_url: base,
                ..Default::default()
            };
            dialect.candidate_base_urls()?;
            return Ok(Some(TargetConfig::Http {
                name: spec.to_owned(),
                dialect,
            }));
        }
        Ok(None)
    }
}

impl Config {
    /// Reads `path`, or the embedded default when `path` is `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
                p.display().to_string(),
            ),
            None => (DEFAULT_CONFIG.to_owned(), "the embedded default".to_owned()),
        };
        let config: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid configuration in {origin}: {e}"))?;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration in {origin}: {e}"))?;
        Ok(config)
    }

    /// `--config PATH` when given, else `./clipbench.toml` when present, else the embedded
    /// default.
    pub fn load_chosen(path: Option<&Path>) -> anyhow::Result<Config> {
        let local = Path::new("clipbench.toml");
        match path {
            Some(p) => Config::load(Some(p)),
            None if local.exists() => Config::load(Some(local)),
            None => Config::load(None),
        }
    }

    /// A target named on the command line: a spec (`engine:…`, `http:…`), or a configured name.
    pub fn target(&self, spec: &str) -> anyhow::Result<TargetConfig> {
        match TargetConfig::from_spec(spec).map_err(anyhow::Error::msg)? {
            Some(target) => Ok(target),
            None => self
                .targets
                .iter()
                .find(|t| t.name() == spec)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("unknown target {spec:?}: name one from the configuration or write engine:STRATEGY, http:URL or http:PRESET")),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for target in &self.targets {
            if !names.insert(target.name()) {
                return Err(format!("target name {:?} is used twice", target.name()));
            }
            if let TargetConfig::Http { dialect, .. } = target {
                dialect
                    .candidate_base_urls()
                    .map_err(|e| format!("target {:?}: {e}", target.name()))?;
            }
            if let TargetConfig::Command { command, .. } = target {
                if command.is_empty() {
                    return Err(format!(
                        "command target {:?} has an empty command",
                        target.name()
                    ));
                }
            }
        }
        for (sample, targets) in &self.run.targets_on {
            if let Some(unknown) = targets.iter().find(|t| !names.contains(t.as_str())) {
                return Err(format!(
                    "targets_on.{sample} names {unknown:?}, which is no target"
                ));
            }
        }
        if self.run.runs == 0 {
            return Err("runs must be at least 1".into());
        }
        Ok(())
    }

    /// `--sweep workers=A..B`: one engine target `workers-N` (strategy `fixed:N`, one ffmpeg
    /// thread each) per N, with the profile and policy of `like` (the first engine target) when
    /// there is one.
    pub fn sweep(spec: &str, like: Option<&TargetConfig>) -> Result<Vec<TargetConfig>, String> {
        let like = match like {
            Some(TargetConfig::Engine { setup, .. }) => *setup,
            _ => Setup::default(),
        };
        let range = spec
            .strip_prefix("workers=")
            .ok_or_else(|| format!("--sweep {spec:?}: only workers=A..B is supported"))?;
        let (from, to) = range
            .split_once("..")
            .ok_or_else(|| format!("--sweep {spec:?}: write workers=A..B"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("--sweep {spec:?}: {v:?} is not a number"))
        };
        let (from, to) = (parse(from)?, parse(to)?);
        if from == 0 || to < from || to > 256 {
            return Err(format!("--sweep {spec:?}: need 1 <= A <= B <= 256"));
        }
        Ok((from..=to)
            .map(|n| TargetConfig::Engine {
                name: format!("workers-{n}"),
                setup: Setup {
                    strategy: Strategy::Fixed(n),
                    threads: Some(ThreadSetting::Fixed(1)),
                    reuse_overlaps: false,
                    ..like
                },
                sweep_workers: Some(n),
                download_first: false,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
