//! The benchmark configuration: `clipbench.toml`, or the embedded default (`default.toml`).

use std::path::Path;

use clipbench_engine::{Policy, Profile, Strategy, ThreadSetting};
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
    pub runs: usize,
    pub warmup: usize,
    /// Seed of the shuffled order; random (and recorded) when absent.
    pub seed: Option<u64>,
    pub baseline: Option<String>,
    pub poll_interval_ms: u64,
    pub monitor_interval_ms: u64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            samples: vec!["bbb-720p-60s".into()],
            runs: 3,
            warmup: 0,
            seed: None,
            baseline: None,
            poll_interval_ms: 100,
            monitor_interval_ms: 100,
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
        #[serde(default = "default_strategy")]
        strategy: Strategy,
        #[serde(default = "default_profile")]
        profile: Profile,
        #[serde(default = "default_policy")]
        policy: Policy,
        #[serde(default)]
        threads: Option<ThreadSetting>,
        /// Encode each moment once (`run --reuse-overlaps`).
        #[serde(default)]
        reuse_overlaps: bool,
        /// Set by `--sweep workers=…`.
        #[serde(default)]
        sweep_workers: Option<usize>,
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

fn default_strategy() -> Strategy {
    Strategy::Auto
}
fn default_profile() -> Profile {
    Profile::Optimized
}
fn default_policy() -> Policy {
    Policy::OPTIMIZED
}
fn default_timeout_s() -> f64 {
    1800.0
}

/// An HTTP backend's API: every part overridable, with presets for the existing backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpDialect {
    /// `original` or `optimized`: the defaults for the fields not given.
    pub preset: Option<String>,
    pub base_url: Option<String>,
    pub generate_path: Option<String>,
    pub progress_path: Option<String>,
    pub health_path: Option<String>,
    pub cleanup_path: Option<String>,
    /// JSON body with `{url}` replaced by the sample's URL.
    pub body_template: Option<String>,
    pub timeout_s: Option<f64>,
}

/// A dialect with every field decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedDialect {
    pub base_url: String,
    pub generate_path: String,
    pub progress_path: Option<String>,
    pub health_path: Option<String>,
    pub cleanup_path: Option<String>,
    pub body_template: String,
    pub timeout_s: f64,
}

impl HttpDialect {
    /// Applies the preset under the explicit fields. An empty string disables an optional path.
    pub fn resolve(&self) -> Result<ResolvedDialect, String> {
        let (base, generate, health, cleanup) = match self.preset.as_deref() {
            None | Some("original") => ("http://127.0.0.1:5000", "/generate_shorts", None, None),
            Some("optimized") => (
                "http://127.0.0.1:5001",
                "/generate_shorts_optimized",
                Some("/health"),
                Some("/cleanup"),
            ),
            Some(other) => {
                return Err(format!(
                    "unknown HTTP preset {other:?}: use original or optimized"
                ))
            }
        };
        let optional = |given: &Option<String>, default: Option<&str>| match given {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p.clone()),
            None => default.map(str::to_owned),
        };
        Ok(ResolvedDialect {
            base_url: self
                .base_url
                .clone()
                .unwrap_or_else(|| base.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            generate_path: self
                .generate_path
                .clone()
                .unwrap_or_else(|| generate.to_owned()),
            progress_path: optional(&self.progress_path, Some("/progress")),
            health_path: optional(&self.health_path, health),
            cleanup_path: optional(&self.cleanup_path, cleanup),
            body_template: self
                .body_template
                .clone()
                .unwrap_or_else(|| r#"{"url": "{url}"}"#.to_owned()),
            timeout_s: self.timeout_s.unwrap_or(1800.0),
        })
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

    /// Parses a target given on the command line: `engine:STRATEGY[:PROFILE]`,
    /// `http:PRESET[@BASE_URL]`, or a target name defined in the configuration.
    pub fn from_spec(spec: &str) -> Result<Option<TargetConfig>, String> {
        if let Some(rest) = spec.strip_prefix("engine:") {
            let (strategy, profile) = match rest.rsplit_once('@') {
                Some((s, p)) => (s, Some(p)),
                None => (rest, None),
            };
            return Ok(Some(TargetConfig::Engine {
                name: spec.to_owned(),
                strategy: strategy.parse()?,
                profile: profile
                    .map(str::parse)
                    .transpose()?
                    .unwrap_or(Profile::Optimized),
                policy: Policy::OPTIMIZED,
                threads: None,
                reuse_overlaps: false,
                sweep_workers: None,
            }));
        }
        if let Some(rest) = spec.strip_prefix("http:") {
            let (preset, base) = match rest.split_once('@') {
                Some((p, b)) => (p, Some(b.to_owned())),
                None => (rest, None),
            };
            let dialect = HttpDialect {
                preset: Some(preset.to_owned()),
                base_url: base,
                ..Default::default()
            };
            dialect.resolve()?;
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

    fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for target in &self.targets {
            if !names.insert(target.name()) {
                return Err(format!("target name {:?} is used twice", target.name()));
            }
            if let TargetConfig::Http { dialect, .. } = target {
                dialect.resolve()?;
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
        if self.run.runs == 0 {
            return Err("runs must be at least 1".into());
        }
        Ok(())
    }

    /// `--sweep workers=A..B`: one engine target `workers-N` (strategy `fixed:N`, one ffmpeg
    /// thread each) per N, with the profile and policy of `like` (the first engine target) when
    /// there is one.
    pub fn sweep(spec: &str, like: Option<&TargetConfig>) -> Result<Vec<TargetConfig>, String> {
        let (profile, policy) = match like {
            Some(TargetConfig::Engine {
                profile, policy, ..
            }) => (*profile, *policy),
            _ => (Profile::Optimized, Policy::OPTIMIZED),
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
                strategy: Strategy::Fixed(n),
                profile,
                policy,
                threads: Some(ThreadSetting::Fixed(1)),
                reuse_overlaps: false,
                sweep_workers: Some(n),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_parses() {
        let config = Config::load(None).unwrap();
        let names: Vec<&str> = config.targets.iter().map(|t| t.name()).collect();
        assert_eq!(
            names,
            [
                "serial",
                "python-optimized",
                "adaptive",
                "auto",
                "auto-reuse",
                "original",
                "optimized"
            ]
        );
        assert!(matches!(
            config.targets[4],
            TargetConfig::Engine {
                reuse_overlaps: true,
                ..
            }
        ));
        assert_eq!(config.run.samples, ["bbb-720p-60s", "bbb-720p-10m"]);
        assert_eq!(config.run.baseline.as_deref(), Some("serial"));
    }

    #[test]
    fn presets_and_overrides() {
        let original = HttpDialect {
            preset: Some("original".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(original.base_url, "http://127.0.0.1:5000");
        assert_eq!(original.generate_path, "/generate_shorts");
        assert_eq!((original.health_path, original.cleanup_path), (None, None));
        assert_eq!(original.progress_path.as_deref(), Some("/progress"));
        let custom = HttpDialect {
            preset: Some("optimized".into()),
            base_url: Some("http://127.0.0.1:9000/".into()),
            cleanup_path: Some(String::new()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(custom.base_url, "http://127.0.0.1:9000");
        assert_eq!(custom.generate_path, "/generate_shorts_optimized");
        assert_eq!(custom.health_path.as_deref(), Some("/health"));
        assert_eq!(custom.cleanup_path, None);
        assert!(HttpDialect {
            preset: Some("nope".into()),
            ..Default::default()
        }
        .resolve()
        .is_err());
    }

    #[test]
    fn sweeps_and_specs() {
        let targets = Config::sweep("workers=1..3", None).unwrap();
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[2].sweep_workers(), Some(3));
        assert!(Config::sweep("workers=3..1", None).is_err());
        assert!(Config::sweep("threads=1..2", None).is_err());
        let t = TargetConfig::from_spec("engine:fixed:2@copy")
            .unwrap()
            .unwrap();
        assert!(matches!(
            t,
            TargetConfig::Engine {
                strategy: Strategy::Fixed(2),
                profile: Profile::Copy,
                ..
            }
        ));
        assert!(TargetConfig::from_spec("http:optimized@http://127.0.0.1:1")
            .unwrap()
            .is_some());
        assert_eq!(TargetConfig::from_spec("serial").unwrap(), None);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let twice = "[[target]]\nname='a'\nkind='engine'\n[[target]]\nname='a'\nkind='engine'\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, twice).unwrap();
        assert!(Config::load(Some(&path))
            .unwrap_err()
            .to_string()
            .contains("used twice"));
        std::fs::write(&path, "[[target]]\nname='a'\nkind='teleport'\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
    }
}
