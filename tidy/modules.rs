//! A crate's modules and the imports between them, read from its source: the module tree from
//! its roots' `mod` declarations, and each module's references to `crate::`, `super::` and
//! `self::` paths (in `use` trees and in code), resolved to the module they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path from the crate root (`[]` is the root).
pub type ModPath = Vec<String>;

/// One crate target's modules: each module's file, and the modules it imports.
pub struct Tree {
    pub files: BTreeMap<ModPath, PathBuf>,
    pub imports: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

/// The source of `path` with comments, string and character literals blanked (their
/// delimiters kept), so that no text in them reads as code.
pub fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.push_str("\"\"");
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            out.extend(rest[..j.min(rest.len())].chars().filter(|c| *c == '\n'));
            i += (j + 1).min(rest.len());
        } else if let Some(len) = char_literal(rest) {
            out.push_str("' '");
            i += len;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, …: the number of hashes of a raw string starting here.
fn raw_string_start(rest: &str) -> Option<usize> {
    let after = rest.strip_prefix('r').or_else(|| rest.strip_prefix("br"))?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..]
        .starts_with('"')
        .then_some(hashes + (rest.len() - after.len()) - 1)
}

/// The length of a character literal starting here (`'a'`, `'\n'`), not a lifetime.
fn char_literal(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    if b.first() != Some(&b'\'') {
        return None;
    }
    if b.get(1) == Some(&b'\\') {
        return rest[2..].find('\'').map(|e| e + 3);
    }
    let c = rest[1..].chars().next()?;
    (rest[1 + c.len_utf8()..].starts_with('\'')).then_some(2 + c.len_utf8())
}

/// The files of the modules declared by `mod NAME;` in `file` (module `module`).
fn children(file: &Path, module: &ModPath, code: &str) -> Vec<(ModPath, PathBuf)> {
    let name = file.file_stem().unwrap().to_str().unwrap();
    let dir = match name {
        "lib" | "main" | "mod" => file.parent().unwrap().to_owned(),
        _ => file.with_extension(""),
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + 4..];
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() || !rest[ident.len()..].trim_start().starts_with(';') {
            continue;
        }
        let flat = dir.join(format!("{ident}.rs"));
        let nested = dir.join(&ident).join("mod.rs");
        let path = if flat.is_file() { flat } else { nested };
        if path.is_file() {
            let mut child = module.clone();
            child.push(ident);
            found.push((child, path));
        }
    }
    found
}

/// The module tree of the target whose root file is `root`, with its imports.
pub fn tree(root: &Path) -> Tree {
    let mut files = BTreeMap::new();
    let mut pending = vec![(ModPath::new(), root.to_owned())];
    let mut codes = BTreeMap::new();
    while let Some((module, file)) = pending.pop() {
        let code = code_of(&file);
        pending.extend(children(&file, &module, &code));
        codes.insert(module.clone(), code);
        files.insert(module, file);
    }
    let mut imports = BTreeMap::new();
    for (module, code) in &codes {
        let mut named = BTreeSet::new();
        for path in references(code) {
            if let Some(absolute) = resolve(module, &path) {
                let target = longest_module(&files, &absolute);
                if target != *module {
                    named.insert(target);
                }
            }
        }
        imports.insert(module.clone(), named);
    }
    Tree { files, imports }
}

/// The longest prefix of `path` that is a module of the tree.
fn longest_module(files: &BTreeMap<ModPath, PathBuf>, path: &[String]) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| files.contains_key(p))
        .unwrap_or_default()
}

/// A path as written: `(depth of inline modules it sits in, segments)`.
type Written = (usize, Vec<String>);

/// Every path starting with `crate`, `super` or `self` in `code`, `use` groups expanded, with
/// how deep in inline modules (`mod tests { … }`) it is written.
fn references(code: &str) -> Vec<Written> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut depth_of_inline: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "{" => braces += 1,
            "}" => {
                braces = braces.saturating_sub(1);
                if depth_of_inline.last() == Some(&braces) {
                    depth_of_inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                depth_of_inline.push(braces);
            }
            "crate" | "super" | "self" => {
                let previous = i.checked_sub(1).map(|p| tokens[p].as_str());
                if previous != Some("::") {
                    let mut paths = Vec::new();
                    i = use_tree(&tokens, i, Vec::new(), &mut paths);
                    found.extend(paths.into_iter().map(|p| (depth_of_inline.len(), p)));
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Reads a path or `use` tree starting at token `i` under `prefix`; returns the next index.
fn use_tree(
    tokens: &[String],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                while i < tokens.len() && tokens[i] != "}" {
                    i = use_tree(tokens, i, path.clone(), out);
                    if tokens.get(i).map(String::as_str) == Some(",") {
                        i += 1;
                    }
                }
                return i + 1;
            }
            Some(t) if t == "*" || is_ident(t) => {
                if t != "*" {
                    path.push(t.to_owned());
                }
                i += 1;
                if tokens.get(i).map(String::as_str) == Some("::") {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            _ => {
                out.push(path);
                return i;
            }
        }
    }
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// `path` (written in `module`, inside `inline` inline modules) from the crate root, or
/// `None` for a path that stays inside the inline modules.
fn resolve(module: &ModPath, (inline, path): &Written) -> Option<Vec<String>> {
    let mut segments = path.iter().peekable();
    let mut at: ModPath = match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        _ => module.clone(),
    };
    // Inside inline modules, `self` and the first `super`s stay in the file's own module.
    let mut inside = *inline;
    while let Some(s) = segments.peek().map(|s| s.as_str()) {
        match s {
            "self" => {}
            "super" if inside > 0 => inside -= 1,
            "super" => {
                at.pop()?;
            }
            _ => break,
        }
        segments.next();
    }
    if inside > 0 && path.first().map(String::as_str) != Some("crate") {
        return None;
    }
    at.extend(segments.cloned());
    Some(at)
}
