//! Embeds the commit the engine is built from (`CLIPBENCH_BUILD_COMMIT`, with `-dirty` when
//! tracked files differ from it), so every report names its build wherever the binary runs.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=10", "HEAD"]);
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let described = match commit {
        Some(c) if dirty => format!("{c}-dirty"),
        Some(c) => c,
        None => "built outside a git checkout".to_owned(),
    };
    println!("cargo:rustc-env=CLIPBENCH_BUILD_COMMIT={described}");
    // Edits to the engine's sources refresh the `-dirty` mark too.
    println!("cargo:rerun-if-changed=src");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{reference}");
        }
    }
}
