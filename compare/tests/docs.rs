//! The docs are tested: every `clipbench …`, `clipbench-engine …` and `just …` command shown
//! in a shell block of the README or `docs/` must parse with the real CLI (or name a recipe the
//! justfile has), and every relative link must point at a file that exists. A renamed flag or
//! a moved page fails here, not in a newcomer's terminal.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The README and every page under `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![workspace().join("README.md")];
    let docs = workspace().join("docs");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    found.sort();
    pages.extend(found);
    pages
}

/// The commands of a page's `sh` blocks (a `$ ` prompt taken off, continued lines joined,
/// comments dropped), with their line numbers.
fn commands(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_shell = false;
    let mut pending: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(fence) = trimmed.strip_prefix("```") {
            in_shell = !in_shell && matches!(fence.trim(), "sh" | "bash" | "console");
            continue;
        }
        if !in_shell {
            continue;
        }
        let line = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let (start, mut joined) = pending.take().unwrap_or((number + 1, String::new()));
        let line = line.split(" # ").next().unwrap_or_default();
        if line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                found.push((start, joined));
            }
        }
    }
    found
}

/// Shell words, quotes taken off (enough for the docs' commands).
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// What runs a command: the binary and its arguments, or a just recipe; `None` for a command
/// of another program (curl, redis-server, …).
enum Invocation {
    Binary(&'static str, Vec<String>),
    Just(String),
}

/// The invocations of a command line: one per part between `&&`, `||`, `;` and `|` (a
/// redirection ends its part).
fn invocations(command: &str) -> Vec<Invocation> {
    let words = words(command);
    words
        .split(|w| ["&&", "||", ";", "|"].contains(&w.as_str()))
        .filter_map(|part| {
            let end = (part.iter()).position(|w| [">", "2>", "&", ">>"].contains(&w.as_str()));
            invocation(part[..end.unwrap_or(part.len())].to_vec())
        })
        .collect()
}

fn invocation(mut words: Vec<String>) -> Option<Invocation> {
    // Environment assignments before the program (`KEY=$(…) clipbench-engine serve …`).
    while words
        .first()
        .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
    {
        words.remove(0);
    }
    let (program, rest) = words.split_first()?;
    let binary =
        |name: &'static str, args: &[String]| Some(Invocation::Binary(name, args.to_vec()));
    match program.as_str() {
        "clipbench" => binary("clipbench", rest),
        "clipbench-engine" => binary("clipbench-engine", rest),
        "just" => Some(Invocation::Just(rest.first().cloned().unwrap_or_default())),
        "cargo" if rest.first().is_some_and(|w| w == "run") => {
            let split = rest.iter().position(|w| w == "--")?;
            let options = rest[..split].join(" ");
            let args = &rest[split + 1..];
            if options.contains("clipbench-engine") {
                binary("clipbench-engine", args)
            } else {
                binary("clipbench", args)
            }
        }
        _ => None,
    }
}

/// The recipes of the justfile (and `""`: `just` alone runs the first, the default).
fn recipes() -> Vec<String> {
    let justfile = std::fs::read_to_string(workspace().join("justfile")).unwrap();
    let mut names = vec![String::new()];
    for line in justfile.lines() {
        let first = line.chars().next();
        if first.is_some_and(|c| c.is_ascii_lowercase()) && !line.contains(":=") {
            if let Some(head) = line.split(':').next() {
                names.extend(head.split_whitespace().next().map(str::to_owned));
            }
        }
    }
    names
}

/// Where the binaries are: beside this test's `clipbench` (`cargo test --workspace` builds
/// `clipbench-engine` there too).
fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_clipbench")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// Whether `args` parse: the real binary with `--help` after them exits 0 having checked every
/// subcommand, flag and value before it (and runs nothing).
fn parses(name: &str, args: &[String]) -> Result<(), String> {
    let output = Command::new(binary(name))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    match output.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
    }
}

#[test]
fn every_command_the_docs_show_parses_with_the_real_cli() {
    let recipes = recipes();
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let shown = page
            .strip_prefix(workspace())
            .unwrap()
            .display()
            .to_string();
        for (line, command) in commands(&text) {
            for invocation in invocations(&command) {
                let problem = match invocation {
                    Invocation::Just(recipe) => (!recipes.contains(&recipe))
                        .then(|| format!("the justfile has no recipe {recipe:?}")),
                    Invocation::Binary(name, args) => parses(name, &args).err(),
                };
                checked += 1;
                if let Some(problem) = problem {
                    broken.push(format!("{shown}:{line}: `{command}`: {problem}"));
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} commands found: is the parser reading the blocks?"
    );
    assert!(
        broken.is_empty(),
        "commands in the docs that no longer work (fix the page or the CLI):\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_relative_link_in_the_docs_points_at_a_file() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        let shown = page
            .strip_prefix(workspace())
            .unwrap()
            .display()
            .to_string();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            let external = ["http://", "https://", "mailto:", "#"]
                .iter()
                .any(|p| target.starts_with(p));
            if external || target.contains(' ') {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            if !dir.join(file).exists() {
                broken.push(format!("{shown}: ({target})"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing (move the page back or fix the link): {}",
        broken.join(", ")
    );
}
