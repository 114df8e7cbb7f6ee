//! The two sides of an A/B: a git revision (its engine built once in its own worktree and
//! cached per commit), the working tree, or `http:URL`; and the targets each side runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::config::{HttpDialect, TargetConfig};
use crate::history;
use crate::record::{Results, RunRecord};

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Side {
    /// An engine binary built from a commit (`sha`) or from the working tree (`sha: None`).
    Build {
        label: String,
        sha: Option<String>,
        binary: PathBuf,
    },
    /// A server over HTTP.
    Http { url: String },
}

impl Side {
    /// The name its targets carry in the report.
    pub fn label(&self) -> &str {
        match self {
            Side::Build { label, .. } => label,
            Side::Http { url } => url,
        }
    }

    /// The commit it was built from (10 digits) and whether the tree was dirty.
    fn commit(&self) -> (Option<String>, bool) {
        match self {
            Side::Build { sha: Some(sha), .. } => history::parse_commit(sha),
            Side::Build { label, .. } => {
                history::parse_commit(label.strip_prefix("worktree-").unwrap_or(label))
            }
            Side::Http { .. } => (None, false),
        }
    }
}

/// Where `ab`'s runs go in the history: each under its engine target's name (the side's label
/// taken off), at its side's commit, configured as its command without the binary's path (so
/// one target's series spans every commit).
pub fn identify<'a>(
    results: &'a Results,
    sides: &'a [Side; 2],
) -> impl Fn(&RunRecord) -> history::Identity + 'a {
    move |record| {
        let side = sides
            .iter()
            .find(|s| record.target.starts_with(&format!("{} ", s.label())));
        let (target, (commit, dirty)) = match side {
            Some(side @ Side::Build { label, .. }) => {
                (record.target[label.len() + 1..].to_owned(), side.commit())
            }
            _ => (record.target.clone(), (None, false)),
        };
        let configured = results
            .targets
            .iter()
            .find(|t| t["name"] == record.target.as_str());
        let config = match configured.map(|t| &t["command"]) {
            Some(serde_json::Value::Array(command)) => {
                serde_json::Value::Array(command.iter().skip(1).cloned().collect())
            }
            _ => configured.cloned().unwrap_or(serde_json::Value::Null),
        };
        history::Identity {
            target,
            commit,
            dirty,
            config_hash: history::config_hash(&config),
        }
    }
}

pub(super) fn git(workspace: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(workspace)
        .stderr(Stdio::piped())
        .output()
        .context("cannot run git: install git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn cargo_build(dir: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            // The binary's name, not its package: it moved from `clipbench-engine` to
            // `clipbench-server` and then to `clipbench-engine-cli`, and older revisions are built too.
            "--bin",
            "clipbench-engine",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .context("cannot run cargo")?;
    anyhow::ensure!(
        status.success(),
        "building the engine in {} failed",
        dir.display()
    );
    Ok(())
}

/// Resolves one side: `http:URL`, `worktree`, or a git revision (built once and cached).
pub fn resolve(spec: &str, workspace: &Path, say: &dyn Fn(String)) -> anyhow::Result<Side> {
    if let Some(url) = spec.strip_prefix("http:") {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "{spec:?}: write http:http://HOST:PORT"
        );
        return Ok(Side::Http {
            url: url.to_owned(),
        });
    }
    let cache = workspace.join("target/clipbench-ab");
    if spec == "worktree" {
        let head = git(workspace, &["rev-parse", "--short=10", "HEAD"])?;
        let dirty = !git(
            workspace,
            &["status", "--porcelain", "--untracked-files=no"],
        )?
        .is_empty();
        let label = format!("worktree-{head}{}", if dirty { "-dirty" } else { "" });
        say(format!("building {label} (the working tree)"));
        cargo_build(workspace, &cache.join("target"))?;
        let built = cache.join("target/release/clipbench-engine");
        let binary = cache.join(&label).join("clipbench-engine");
        std::fs::create_dir_all(binary.parent().unwrap_or(&cache))?;
        std::fs::copy(&built, &binary).context("cannot keep the built engine")?;
        return Ok(Side::Build {
            label,
            sha: None,
            binary,
        });
    }
    let sha = git(
        workspace,
        &["rev-parse", "--verify", &format!("{spec}^{{commit}}")],
    )
    .with_context(|| format!("{spec:?} is not a git revision of {}", workspace.display()))?;
    let label = sha[..10].to_owned();
    let binary = cache.join(&sha).join("clipbench-engine");
    if binary.is_file() {
        say(format!("using the cached build of {label} ({spec})"));
    } else {
        say(format!(
            "building {label} ({spec}) in its own worktree; cached for next time"
        ));
        let source = cache.join(format!("src-{sha}"));
        let _ = git(
            workspace,
            &["worktree", "remove", "--force", &source.to_string_lossy()],
        );
        git(
            workspace,
            &[
                "worktree",
                "add",
                "--detach",
                &source.to_string_lossy(),
                &sha,
            ],
        )?;
        let built = cargo_build(&source, &cache.join("target"));
        let _ = git(
            workspace,
            &["worktree", "remove", "--force", &source.to_string_lossy()],
        );
        built?;
        std::fs::create_dir_all(binary.parent().unwrap_or(&cache))?;
        let partial = clipbench_engine::files::partial_path(&binary);
        std::fs::copy(cache.join("target/release/clipbench-engine"), &partial)
            .context("cannot keep the built engine")?;
        clipbench_engine::files::commit_partial(&binary)?;
    }
    Ok(Side::Build {
        label,
        sha: Some(sha),
        binary,
    })
}

/// The targets one side runs: each chosen engine target as a command on that side's binary,
/// or the HTTP server once.
pub fn targets_for(side: &Side, engine_targets: &[TargetConfig]) -> Vec<TargetConfig> {
    match side {
        Side::Http { url } => vec![TargetConfig::Http {
            name: format!("{url} http"),
            dialect: HttpDialect {
                base_url: Some(url.clone()),
                ..Default::default()
            },
        }],
        Side::Build { label, binary, .. } => engine_targets
            .iter()
            .filter_map(|t| match t {
                TargetConfig::Engine { name, setup, .. } => {
                    let mut command: Vec<String> = vec![
                        binary.display().to_string(),
                        "run".into(),
                        "{input}".into(),
                        "-o".into(),
                        "{outdir}".into(),
                        format!("--strategy={}", setup.strategy),
                        format!("--profile={}", setup.profile),
                        format!("--policy={}", setup.plan.policy),
                        format!("--max-clips={}", setup.plan.max_clips),
                        format!("--priority-clips={}", setup.plan.high_priority_clips),
                    ];
                    command.extend(setup.threads.map(|t| format!("--threads={t}")));
                    let reuse = setup.reuse_overlaps.then(|| "--reuse-overlaps".to_owned());
                    command.extend(reuse);
                    Some(TargetConfig::Command {
                        name: format!("{label} {name}"),
                        command,
                        shell: false,
                        timeout_s: 1800.0,
                    })
                }
                _ => None,
            })
            .collect(),
    }
}
