//! The house's rules, checked by `cargo test --workspace` (as rust-analyzer's and rustc's
//! `tidy` check theirs), so that the next feature cannot undo them silently:
//!
//! - each crate depends only on the workspace crates it may (read from `cargo metadata`);
//! - the harness's normal dependency tree holds no queue or store crate;
//! - no file under a `src/` passes 450 lines;
//! - no modules of one crate import each other, two or more in a circle (a parent and its
//!   child excepted);
//! - a library never prints or exits: the binaries own the terminal and the process.
//!
//! Each failure names the file or edge and what to do.

mod modules;

use modules::ModPath;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Each workspace package, its folder and the workspace crates it may depend on (any kind).
/// A new line here is the change that gets reviewed hardest.
const CRATES: &[(&str, &str, &[&str])] = &[
    ("clipbench-engine", "engine", &[]),
    ("clipbench-fetch", "fetch", &["clipbench-engine"]),
    (
        "clipbench-server",
        "server",
        &["clipbench-engine", "clipbench-fetch"],
    ),
    (
        "clipbench-engine-cli",
        "engine-cli",
        &["clipbench-engine", "clipbench-fetch", "clipbench-server"],
    ),
    (
        "clipbench",
        "compare",
        &["clipbench-engine", "clipbench-fetch"],
    ),
    ("clipbench-benches", "benches", &["clipbench-engine"]),
    ("clipbench-tidy", "tidy", &[]),
];

/// Crates of the queue and the store: the harness builds without them.
const QUEUE_AND_STORE: &[&str] = &[
    "apalis",
    "apalis-redis",
    "apalis-core",
    "redis",
    "object_store",
];

/// Longest a source file may be.
const MAX_LINES: usize = 450;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The platform this test runs on (`rustc -vV`'s host).
fn host() -> String {
    let output = Command::new("rustc").arg("-vV").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let host = text.lines().find_map(|l| l.strip_prefix("host: "));
    host.expect("rustc -vV names its host").to_owned()
}

/// `cargo metadata` of the workspace (`--no-deps`: the packages only), offline (the build
/// fetched what this platform needs).
fn metadata(no_deps: bool) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(["metadata", "--format-version", "1", "--offline"]);
    match no_deps {
        true => command.arg("--no-deps"),
        false => command.args(["--filter-platform", &host()]),
    };
    let output = command.current_dir(workspace()).output().unwrap();
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn each_crate_depends_only_on_the_workspace_crates_it_may() {
    let metadata = metadata(true);
    let packages = metadata["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let listed: BTreeSet<&str> = CRATES.iter().map(|c| c.0).collect();
    assert_eq!(
        members, listed,
        "the workspace's packages differ from tidy's CRATES: list each new crate there with the \
         workspace crates it may depend on"
    );
    for package in packages {
        let name = package["name"].as_str().unwrap();
        let allowed = CRATES.iter().find(|c| c.0 == name).unwrap().2;
        for dependency in package["dependencies"].as_array().unwrap() {
            let on = dependency["name"].as_str().unwrap();
            assert!(
                !members.contains(on) || allowed.contains(&on),
                "{name} depends on {on} ({} dependency), which tidy's CRATES does not allow: \
                 move what it needs into a crate it may use, or argue the new edge there",
                dependency["kind"].as_str().unwrap_or("normal")
            );
        }
    }
}

#[test]
fn the_harness_builds_without_the_queue_and_store_stack() {
    let metadata = metadata(false);
    let packages: BTreeMap<&str, &str> = (metadata["packages"].as_array().unwrap().iter())
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: BTreeMap<&str, &Value> = (metadata["resolve"]["nodes"].as_array().unwrap().iter())
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = packages.iter().find(|p| *p.1 == "clipbench").unwrap().0;
    // Normal dependencies only, from the harness down (what its binary links).
    let mut seen = BTreeSet::from([*root]);
    let mut pending = vec![(*root, vec!["clipbench"])];
    while let Some((id, trail)) = pending.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = (dep["dep_kinds"].as_array().unwrap().iter()).any(|k| k["kind"].is_null());
            let next = dep["pkg"].as_str().unwrap();
            if !normal || !seen.insert(next) {
                continue;
            }
            let name = packages[next];
            let mut trail = trail.clone();
            trail.push(name);
            assert!(
                !QUEUE_AND_STORE.contains(&name),
                "the harness links {name} through {}: it must depend on the engine and fetch \
                 crates only (the queue and store stack belongs to the server)",
                trail.join(" → ")
            );
            pending.push((next, trail));
        }
    }
}

/// Every `.rs` file under a `src/` of the workspace's crates.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for (_, dir, _) in CRATES {
        let src = workspace().join(dir).join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    files
}

fn shown(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn no_source_file_passes_450_lines() {
    let long: Vec<String> = sources()
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", shown(f)))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines: {}: split each by responsibility",
        long.join(", ")
    );
}

/// The root files of each crate's targets (`src/lib.rs`, `src/main.rs`).
fn roots() -> Vec<(&'static str, PathBuf)> {
    (CRATES.iter())
        .flat_map(|(name, dir, _)| {
            ["lib.rs", "main.rs"].map(|root| (*name, workspace().join(dir).join("src").join(root)))
        })
        .filter(|(_, path)| path.is_file())
        .collect()
}

#[test]
fn no_modules_of_a_crate_import_each_other_in_a_circle() {
    let mut circles = Vec::new();
    for (name, root) in roots() {
        let tree = modules::tree(&root);
        // Each import between modules that are not one inside the other, lifted to the two
        // sibling modules (the rooms) it runs between, with one import that shows it.
        let mut between: BTreeMap<(ModPath, ModPath), (&ModPath, &ModPath)> = BTreeMap::new();
        for (from, imports) in &tree.imports {
            for to in imports {
                let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
                if common == from.len() || common == to.len() {
                    continue; // a module and one inside it
                }
                let rooms = (from[..=common].to_vec(), to[..=common].to_vec());
                between.entry(rooms).or_insert((from, to));
            }
        }
        let edges: BTreeSet<(ModPath, ModPath)> = between.keys().cloned().collect();
        for circle in circles_of(&edges) {
            let shown_edges: Vec<String> = (circle.iter().zip(circle.iter().cycle().skip(1)))
                .map(|(a, b)| {
                    let (from, to) = between[&(a.clone(), b.clone())];
                    format!(
                        "{} imports {}",
                        shown(&tree.files[from]),
                        shown(&tree.files[to])
                    )
                })
                .collect();
            let rooms: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            circles.push(format!(
                "{name}: {} → {} ({})",
                rooms.join(" → "),
                rooms[0],
                shown_edges.join(", ")
            ));
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other in a circle: {}: move what the circle shares into a \
         leaf module they all import, so that every edge runs one way",
        circles.join("; ")
    );
}

/// One circle (its modules in import order) for each group of modules that reach each other
/// through `edges` (importer, imported), found by depth-first search.
fn circles_of(edges: &BTreeSet<(ModPath, ModPath)>) -> Vec<Vec<ModPath>> {
    let mut next: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (from, to) in edges {
        next.entry(from).or_default().push(to);
    }
    let mut circles: Vec<Vec<ModPath>> = Vec::new();
    let mut seen: BTreeSet<ModPath> = BTreeSet::new();
    fn walk<'a>(
        at: &'a ModPath,
        next: &BTreeMap<&'a ModPath, Vec<&'a ModPath>>,
        path: &mut Vec<&'a ModPath>,
        done: &mut BTreeSet<&'a ModPath>,
        found: &mut Vec<Vec<ModPath>>,
    ) {
        if let Some(open) = path.iter().position(|m| *m == at) {
            found.push(path[open..].iter().map(|m| (*m).clone()).collect());
            return;
        }
        if !done.insert(at) {
            return;
        }
        path.push(at);
        for to in next.get(at).into_iter().flatten() {
            walk(to, next, path, done, found);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        let mut found = Vec::new();
        walk(start, &next, &mut Vec::new(), &mut done, &mut found);
        for circle in found {
            // One circle per group: a circle whose modules were all in one already found
            // adds nothing.
            if circle.iter().any(|m| !seen.contains(m)) {
                seen.extend(circle.iter().cloned());
                circles.push(circle);
            }
        }
    }
    circles
}

#[test]
fn a_circle_of_three_modules_is_found_and_a_one_way_chain_is_not() {
    let module = |name: &str| vec!["crate".to_owned(), name.to_owned()];
    let edge = |a: &str, b: &str| (module(a), module(b));
    let chain: BTreeSet<_> = [edge("budget", "probe"), edge("probe", "error")].into();
    assert!(circles_of(&chain).is_empty());
    let mut circle = chain.clone();
    circle.insert(edge("error", "budget"));
    let found = circles_of(&circle);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 3, "{found:?}");
    let pair: BTreeSet<_> = [edge("a", "b"), edge("b", "a")].into();
    assert_eq!(circles_of(&pair), vec![vec![module("a"), module("b")]]);
}

/// What a library must not call: the binaries own the terminal and the process.
const PRINTS_OR_EXITS: &[&str] = &[
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
    "dbg!",
    "process::exit",
];

#[test]
fn libraries_never_print_or_exit() {
    let mut found = Vec::new();
    for (name, root) in roots().into_iter().filter(|(_, r)| r.ends_with("lib.rs")) {
        for (module, file) in modules::tree(&root).files {
            if module.last().is_some_and(|m| m == "tests") {
                continue;
            }
            let code = without_inline_tests(&modules::code_of(&file));
            for call in PRINTS_OR_EXITS {
                let called = code.match_indices(call).any(|(at, _)| {
                    !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    found.push(format!("{name}: {} calls {call}", shown(&file)));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "{}: a library returns what happened (a value, a typed error, an event) and the binary \
         prints it or exits",
        found.join("; ")
    );
}

/// `code` without its `#[cfg(test)]` inline modules.
fn without_inline_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let open = out[at..].find(['{', ';']).map(|o| at + o);
        let end = match open {
            Some(o) if out.as_bytes()[o] == b'{' => {
                let mut depth = 0;
                let mut end = out.len();
                for (i, c) in out[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            Some(o) => o + 1,
            None => out.len(),
        };
        out.replace_range(at..end, "");
    }
    out
}
