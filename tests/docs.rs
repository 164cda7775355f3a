//! The documentation stays true to the tree: every relative link in README.md
//! and docs/*.md leads to a file that exists and, with `#anchor`, to a heading
//! that file has (anchors as GitHub makes them); and every fenced block marked
//! runnable (info string `sh runnable`, docs/development.md) is closed, so that
//! tests/lifecycle/deb.sh, which runs them, reads each one whole; and the
//! README stays short, with the set-up commands on its first screen.
//!
//! No root, no network, no build products: `make check` runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, relative to the repository.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(repo()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    docs.insert(0, PathBuf::from("README.md"));
    docs
}

/// A fenced block's opening or closing line: its fence, and its info string.
fn fence(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let width = |c: char| trimmed.chars().take_while(|&x| x == c).count();
    let n = width('`').max(width('~'));
    (n >= 3).then(|| (&trimmed[..n], trimmed[n..].trim()))
}

/// The lines of a document that are prose, not code (fenced blocks left out).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        match (&open, fence(line)) {
            (None, Some((f, _))) => open = Some(f.to_string()),
            (Some(f), Some((g, info))) if g.starts_with(f.as_str()) && info.is_empty() => {
                open = None
            }
            (None, None) => out.push((number + 1, line)),
            _ => {}
        }
    }
    out
}

fn blank_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// Every link target in a document, with its line: inline `[text](target)`
/// and `![alt](target)`, and reference definitions `[label]: target`; a
/// link written in a code span is not a link.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = blank_code_spans(line);
        if let Some(rest) = line.trim_start().strip_prefix('[')
            && let Some(end) = rest.find("]:")
        {
            let target = rest[end + 2..].split_whitespace().next().unwrap_or("");
            out.push((number, target.to_string()));
            continue;
        }
        let mut from = 0;
        while let Some(at) = line[from..].find("](") {
            let start = from + at + 2;
            let mut depth = 0;
            let mut end = line.len();
            for (i, c) in line[start..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = start + i;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let target = line[start..end].split_whitespace().next().unwrap_or("");
            out.push((number, target.trim_matches(['<', '>']).to_string()));
            from = end.min(line.len());
        }
    }
    out
}

/// The anchors GitHub gives a document's headings: lower case, punctuation
/// but `-` and `_` dropped, spaces made `-`; a repeated one gets `-1`, `-2`…
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .replace('`', "")
            .trim()
            .trim_end_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// What is wrong with the relative links of the document at `path`
/// (relative to `root`), one line each.
fn broken_links(root: &Path, path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(path)).unwrap();
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (line, target) in links(&text) {
        let at = format!("{}:{line}: {target}", path.display());
        if target.is_empty() {
            problems.push(format!("{at}: an empty link"));
            continue;
        }
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let linked = if file.is_empty() {
            path.to_path_buf()
        } else if let Some(absolute) = file.strip_prefix('/') {
            PathBuf::from(absolute)
        } else {
            dir.join(file)
        };
        if !root.join(&linked).exists() {
            problems.push(format!("{at}: no such file ({})", linked.display()));
            continue;
        }
        if let Some(anchor) = anchor {
            if linked.extension().is_none_or(|e| e != "md") {
                problems.push(format!("{at}: an anchor in a file that is not Markdown"));
                continue;
            }
            let linked_text = std::fs::read_to_string(root.join(&linked)).unwrap();
            if !anchors(&linked_text).contains(anchor) {
                problems.push(format!(
                    "{at}: {} has no heading with the anchor #{anchor}",
                    linked.display()
                ));
            }
        }
    }
    problems
}

/// Runnable blocks: (first line, closed?).
fn runnable_blocks(text: &str) -> Vec<(usize, bool)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, bool)> = None;
    for (number, line) in text.lines().enumerate() {
        match (&open, fence(line)) {
            (None, Some((f, info))) => {
                let runnable = info.split_whitespace().collect::<Vec<_>>() == ["sh", "runnable"];
                if runnable {
                    blocks.push((number + 1, false));
                }
                open = Some((f.to_string(), runnable));
            }
            (Some((f, runnable)), Some((g, info)))
                if g.starts_with(f.as_str()) && info.is_empty() =>
            {
                if *runnable {
                    blocks.last_mut().unwrap().1 = true;
                }
                open = None;
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_relative_link_resolves() {
    let problems: Vec<String> = documents()
        .iter()
        .flat_map(|doc| broken_links(repo(), doc))
        .collect();
    assert!(
        problems.is_empty(),
        "links that lead nowhere:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_runnable_block_is_closed() {
    let mut total = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(repo().join(&doc)).unwrap();
        for (line, closed) in runnable_blocks(&text) {
            total += 1;
            assert!(
                closed,
                "{}:{line}: a runnable block that is never closed",
                doc.display()
            );
        }
    }
    // The README's install/switch/check/undo commands are the first of them.
    assert!(total > 0, "no runnable block in README.md or docs/");
}

/// The README stays a front page: about 150 lines at most, and the two
/// set-up commands (the ones .ci/run and a new contributor run) on its first
/// screen.
#[test]
fn the_readme_is_a_front_page() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    assert!(
        lines.len() <= 150,
        "README.md has {} lines: move detail into docs/",
        lines.len()
    );
    for command in ["make package", "make test"] {
        assert!(
            lines.iter().take(30).any(|l| l.starts_with(command)),
            "README.md: `{command}` is not on the first screen (30 lines)"
        );
    }
}

/// The checker itself finds what it must: a tree with one good and several
/// broken links of each kind.
#[test]
fn the_link_check_finds_broken_links() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir(tree.path().join("docs")).unwrap();
    std::fs::write(
        tree.path().join("docs/nodes.md"),
        "# Nodes\n\n## What `enable` does, on 2.x\n\n## Links\n\n## Links\n",
    )
    .unwrap();
    std::fs::write(
        tree.path().join("README.md"),
        "# x\n\n\
         [good](docs/nodes.md), [good anchor](docs/nodes.md#what-enable-does-on-2x),\n\
         [second Links](docs/nodes.md#links-1), [here](#x), [web](https://example.org/a#b)\n\
         `[in code](docs/gone.md)`\n\
         ```sh\n[in a block](docs/gone.md)\n```\n\
         [gone](docs/gone.md) and [bad anchor](docs/nodes.md#no-such-heading)\n\
         [ref]: docs/also-gone.md\n\
         [third Links](docs/nodes.md#links-2) [not md](LICENSE#x)\n",
    )
    .unwrap();
    let problems = broken_links(tree.path(), Path::new("README.md"));
    let expected = [
        "README.md:9: docs/gone.md: no such file (docs/gone.md)",
        "README.md:9: docs/nodes.md#no-such-heading: docs/nodes.md has no heading with the anchor #no-such-heading",
        "README.md:10: docs/also-gone.md: no such file (docs/also-gone.md)",
        "README.md:11: docs/nodes.md#links-2: docs/nodes.md has no heading with the anchor #links-2",
        "README.md:11: LICENSE#x: no such file (LICENSE)",
    ];
    assert_eq!(problems, expected);
}

#[test]
fn an_unclosed_runnable_block_is_found() {
    let text = "```sh runnable\ntrue\n```\n\n```sh\nfalse\n```\n\n```sh runnable\ntrue\n";
    assert_eq!(runnable_blocks(text), [(1, true), (9, false)]);
}
