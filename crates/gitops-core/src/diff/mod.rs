//! Line diffs of two texts (the live and the desired YAML of a resource): unified hunks,
//! side-by-side rows and the changed words inside changed lines. Pure data, no terminal: the
//! CLI writers and the UI paint it.

use std::fmt::Write as _;
use std::ops::Range;

use similar::{ChangeTag, DiffOp, InlineChangeOptions, TextDiff};

/// Lines of context around each change, as `diff -u`.
pub const DEFAULT_CONTEXT: usize = 3;

/// Whether a diff line is in both texts, only the old or only the new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LineKind {
    /// Unchanged.
    Context,
    /// Only in the old text (live).
    Removed,
    /// Only in the new text (desired).
    Added,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiffLine {
    /// Context, removed or added.
    pub kind: LineKind,
    /// Index of the line in the old text, from 0; `None` for added lines.
    pub old_index: Option<usize>,
    /// Index of the line in the new text, from 0; `None` for removed lines.
    pub new_index: Option<usize>,
    /// The line without its line break.
    pub text: String,
    /// Byte ranges of `text` that changed against the paired line (word emphasis); empty when
    /// the whole line is new or the lines are too different to pair.
    pub emphasis: Vec<Range<usize>>,
}

/// A group of changes with their context, as one `@@ ... @@` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hunk {
    /// First old line, from 0.
    pub old_start: usize,
    /// Old lines covered.
    pub old_len: usize,
    /// First new line, from 0.
    pub new_start: usize,
    /// New lines covered.
    pub new_len: usize,
    /// The lines in order.
    pub lines: Vec<DiffLine>,
}

impl Hunk {
    /// `@@ -a,b +c,d @@` as `diff -u` writes it (an empty range starts at the line before).
    pub fn header(&self) -> String {
        fn range(start: usize, len: usize) -> String {
            let first = if len == 0 { start } else { start + 1 };
            if len == 1 {
                first.to_string()
            } else {
                format!("{first},{len}")
            }
        }
        format!(
            "@@ -{} +{} @@",
            range(self.old_start, self.old_len),
            range(self.new_start, self.new_len)
        )
    }
}

/// The hunks turning `old` into `new`, with `context` unchanged lines around each change;
/// empty when the texts are equal.
pub fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    let diff = TextDiff::from_lines(old, new);
    let mut options = InlineChangeOptions::new();
    options.semantic_cleanup(true);
    let mut result = Vec::new();
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_start = first.old_range().start;
        let new_start = first.new_range().start;
        let mut hunk = Hunk {
            old_start,
            old_len: last.old_range().end - old_start,
            new_start,
            new_len: last.new_range().end - new_start,
            lines: Vec::new(),
        };
        for op in &group {
            push_op(&diff, op, &options, &mut hunk.lines);
        }
        result.push(hunk);
    }
    result
}

fn push_op(
    diff: &TextDiff<'_, '_, str>,
    op: &DiffOp,
    options: &InlineChangeOptions,
    out: &mut Vec<DiffLine>,
) {
    for change in diff.iter_inline_changes_with_options(op, *options) {
        let kind = match change.tag() {
            ChangeTag::Equal => LineKind::Context,
            ChangeTag::Delete => LineKind::Removed,
            ChangeTag::Insert => LineKind::Added,
        };
        let mut text = String::new();
        let mut emphasis: Vec<Range<usize>> = Vec::new();
        let mut plain = false;
        for (emphasized, part) in change.iter_strings_lossy() {
            let start = text.len();
            text.push_str(&part);
            if emphasized {
                match emphasis.last_mut() {
                    Some(last) if last.end == start => last.end = text.len(),
                    _ => emphasis.push(start..text.len()),
                }
            } else {
                plain = true;
            }
        }
        let trimmed = text.trim_end_matches(['\n', '\r']).len();
        text.truncate(trimmed);
        emphasis.retain_mut(|r| {
            r.end = r.end.min(trimmed);
            r.start < r.end
        });
        // A line emphasized from end to end has nothing in common with its pair: emphasis
        // would only repeat the line colour.
        if !plain {
            emphasis.clear();
        }
        out.push(DiffLine {
            kind,
            old_index: change.old_index(),
            new_index: change.new_index(),
            text,
            emphasis,
        });
    }
}

/// The unified diff of `hunks` under `--- old_label` / `+++ new_label`, uncoloured; empty
/// when there are no hunks.
pub fn unified(old_label: &str, new_label: &str, hunks: &[Hunk]) -> String {
    let mut out = String::new();
    if hunks.is_empty() {
        return out;
    }
    let _ = writeln!(out, "--- {old_label}");
    let _ = writeln!(out, "+++ {new_label}");
    for hunk in hunks {
        let _ = writeln!(out, "{}", hunk.header());
        for line in &hunk.lines {
            let _ = writeln!(out, "{}{}", sign(line.kind), line.text);
        }
    }
    out
}

/// The marker a unified diff puts before a line.
pub fn sign(kind: LineKind) -> char {
    match kind {
        LineKind::Context => ' ',
        LineKind::Removed => '-',
        LineKind::Added => '+',
    }
}

/// One row of a side-by-side diff: the old line on the left, the new on the right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideBySideRow<'a> {
    /// Old side; `None` when the row only adds.
    pub left: Option<&'a DiffLine>,
    /// New side; `None` when the row only removes.
    pub right: Option<&'a DiffLine>,
}

/// The rows of a hunk side by side: context lines on both sides, and each run of removed lines
/// aligned with the added lines that follow it, as delta's minus/plus pairing.
pub fn side_by_side(hunk: &Hunk) -> Vec<SideBySideRow<'_>> {
    let mut rows = Vec::new();
    let mut minus: Vec<&DiffLine> = Vec::new();
    let mut plus: Vec<&DiffLine> = Vec::new();
    for line in &hunk.lines {
        match line.kind {
            LineKind::Context => {
                flush(&mut rows, &mut minus, &mut plus);
                rows.push(SideBySideRow {
                    left: Some(line),
                    right: Some(line),
                });
            }
            LineKind::Removed => {
                // A removal after additions starts a new run.
                if !plus.is_empty() {
                    flush(&mut rows, &mut minus, &mut plus);
                }
                minus.push(line);
            }
            LineKind::Added => plus.push(line),
        }
    }
    flush(&mut rows, &mut minus, &mut plus);
    rows
}

/// Moves a pending run of removed and added lines into `rows`, paired in order.
fn flush<'a>(
    rows: &mut Vec<SideBySideRow<'a>>,
    minus: &mut Vec<&'a DiffLine>,
    plus: &mut Vec<&'a DiffLine>,
) {
    for i in 0..minus.len().max(plus.len()) {
        rows.push(SideBySideRow {
            left: minus.get(i).copied(),
            right: plus.get(i).copied(),
        });
    }
    minus.clear();
    plus.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n  template:\n    spec:\n      containers:\n      - image: nginx:1.25\n        name: web\n";
    const DESIRED: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - image: nginx:1.27\n        name: web\n      - image: envoy:1\n        name: proxy\n";

    #[test]
    fn equal_texts_have_no_hunks() {
        assert!(hunks(LIVE, LIVE, 3).is_empty());
        assert_eq!(unified("a", "b", &[]), "");
    }

    #[test]
    fn unified_matches_diff_u() {
        let h = hunks(LIVE, DESIRED, 3);
        let text = unified("live/x", "git@abc/x", &h);
        let expected = "--- live/x\n+++ git@abc/x\n@@ -3,9 +3,11 @@\n metadata:\n   name: web\n spec:\n-  replicas: 5\n+  replicas: 2\n   template:\n     spec:\n       containers:\n-      - image: nginx:1.25\n+      - image: nginx:1.27\n         name: web\n+      - image: envoy:1\n+        name: proxy\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn separate_hunks_when_far_apart() {
        let old: String = (0..30).map(|i| format!("k{i}: {i}\n")).collect();
        let new = old
            .replace("k2: 2\n", "k2: two\n")
            .replace("k25: 25\n", "k25: x\n");
        let h = hunks(&old, &new, 3);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].header(), "@@ -1,6 +1,6 @@");
        assert_eq!(h[1].header(), "@@ -23,7 +23,7 @@");
    }

    #[test]
    fn empty_side_headers_start_at_zero() {
        let h = hunks("", "a: 1\nb: 2\n", 3);
        assert_eq!(h[0].header(), "@@ -0,0 +1,2 @@");
        let h = hunks("a: 1\n", "", 3);
        assert_eq!(h[0].header(), "@@ -1 +0,0 @@");
    }

    #[test]
    fn changed_words_are_emphasized() {
        let h = hunks(LIVE, DESIRED, 3);
        let removed = h[0]
            .lines
            .iter()
            .find(|l| l.kind == LineKind::Removed && l.text.contains("replicas"))
            .unwrap();
        let emphasized: Vec<&str> = removed
            .emphasis
            .iter()
            .map(|r| &removed.text[r.clone()])
            .collect();
        assert_eq!(emphasized, vec!["5"]);
        let added = h[0]
            .lines
            .iter()
            .find(|l| l.kind == LineKind::Added && l.text.contains("nginx"))
            .unwrap();
        let emphasized: String = added
            .emphasis
            .iter()
            .map(|r| &added.text[r.clone()])
            .collect();
        assert!(
            emphasized.contains("27"),
            "{emphasized:?} in {:?}",
            added.text
        );
        assert!(!emphasized.contains("image"), "{emphasized:?}");
        // A line with no counterpart has no emphasis: the line colour says it all.
        let proxy = h[0]
            .lines
            .iter()
            .find(|l| l.text.contains("proxy"))
            .unwrap();
        assert!(proxy.emphasis.is_empty());
    }

    #[test]
    fn side_by_side_pairs_runs() {
        let h = hunks(LIVE, DESIRED, 1);
        let rows: Vec<(Option<&str>, Option<&str>)> = h
            .iter()
            .flat_map(side_by_side)
            .map(|r| {
                (
                    r.left.map(|l| l.text.as_str()),
                    r.right.map(|l| l.text.as_str()),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (Some("spec:"), Some("spec:")),
                (Some("  replicas: 5"), Some("  replicas: 2")),
                (Some("  template:"), Some("  template:")),
                (Some("      containers:"), Some("      containers:")),
                (
                    Some("      - image: nginx:1.25"),
                    Some("      - image: nginx:1.27")
                ),
                (Some("        name: web"), Some("        name: web")),
                (None, Some("      - image: envoy:1")),
                (None, Some("        name: proxy")),
            ]
        );
    }

    #[test]
    fn line_indexes_follow_both_texts() {
        let h = hunks("a\nb\nc\n", "a\nx\nb\nc\n", 0);
        assert_eq!(h.len(), 1);
        let added = &h[0].lines[0];
        assert_eq!(
            (added.kind, added.old_index, added.new_index),
            (LineKind::Added, None, Some(1))
        );
        assert_eq!(h[0].header(), "@@ -1,0 +2 @@");
    }
}
