//! `diff --from` output (SPEC §5): the rendered environment at two commits, as unified or
//! side-by-side YAML diffs per resource, the `Diff` document (JSON, YAML), porcelain lines, and
//! a Markdown pull-request comment trimmed to what a code host accepts.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::{Map, Value, json};

use super::diff::{DiffView, LiveNotes, diff_text};
use super::status::{commit_value, identity_of};
use super::{API_VERSION, OutputError, OutputFormat, short_sha, write_document};
use crate::diff::{Hunk, hunks};
use crate::ops::history::ChangeKind;
use crate::ops::rev_diff::{ResourceRevisionDiff, RevisionDiff};

/// Largest Markdown comment written: GitHub refuses comments over 65,536 characters.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// `git@<short from>/<id>` and `git@<short rev>/<id>`.
pub fn labels(report: &RevisionDiff, r: &ResourceRevisionDiff) -> (String, String) {
    (
        format!("git@{}/{}", short_sha(&report.from.id), r.id),
        format!("git@{}/{}", short_sha(&report.revision.id), r.id),
    )
}

/// Writes `report` in the view's format; `rerun` is the command that shows the whole diff
/// (for the note of a trimmed Markdown comment).
pub fn write_rev_diff(
    out: &mut dyn Write,
    report: &RevisionDiff,
    view: &DiffView,
    rerun: &str,
) -> Result<(), OutputError> {
    match view.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, view.format, &rev_diff_document(report))?
        }
        OutputFormat::Porcelain => out.write_all(rev_diff_porcelain(report).as_bytes())?,
        OutputFormat::Markdown => {
            out.write_all(markdown(report, view.context, rerun, MARKDOWN_LIMIT).as_bytes())?
        }
        OutputFormat::Text | OutputFormat::Wide => {
            for r in &report.resources {
                let found = hunks_of(r, view.context);
                let (old, new) = labels(report, r);
                let texts = (r.from_yaml.as_str(), r.rev_yaml.as_str());
                let notes = LiveNotes::default();
                let text = diff_text((&old, &new), texts, &found, &notes, view);
                out.write_all(text.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// A resource's hunks: those it carries ([`crate::ops::rev_diff::Texts::Hunks`]), else those
/// of its two texts at `context` lines.
fn hunks_of(r: &ResourceRevisionDiff, context: usize) -> std::borrow::Cow<'_, [Hunk]> {
    match &r.hunks {
        Some(kept) => std::borrow::Cow::Borrowed(kept.as_slice()),
        None => std::borrow::Cow::Owned(hunks(&r.from_yaml, &r.rev_yaml, context)),
    }
}

/// The `kind: Diff` document of `diff --from -o json|yaml`.
pub fn rev_diff_document(report: &RevisionDiff) -> Value {
    let resources: Vec<Value> = report
        .resources
        .iter()
        .map(|r| {
            let mut m = identity_of(&r.api_version, &r.id);
            m.insert("status".into(), r.change.name().into());
            // `{path, op, live, desired}`: `live` is the `--from` side; no side is live, so
            // the live diff's `liveManager`/`liveOperation`/`liveTime` have no place here.
            let changes: Vec<Value> = r
                .changes
                .iter()
                .map(|c| json!({"path": c.path, "op": c.op, "live": c.live, "desired": c.desired}))
                .collect();
            m.insert("changes".into(), Value::Array(changes));
            m.insert(
                "source".into(),
                json!({"file": r.source.file, "document": r.source.document, "line": r.source.line}),
            );
            Value::Object(m)
        })
        .collect();
    let summary: Map<String, Value> = report
        .counts()
        .into_iter()
        .map(|(kind, count)| (kind.name().to_owned(), count.into()))
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "Diff",
        "from": commit_value(&report.from),
        "revision": commit_value(&report.revision),
        "path": report.path,
        "summary": summary,
        "resources": resources,
        "errors": report.render_errors,
        "warnings": report.warnings,
    })
}

/// One tab-separated line per change: `<group>/<Kind>/<ns>/<name>`, op, path.
pub fn rev_diff_porcelain(report: &RevisionDiff) -> String {
    let mut out = String::new();
    for r in &report.resources {
        for change in &r.changes {
            let op = serde_json::to_value(change.op).unwrap_or_default();
            let _ = writeln!(
                out,
                "{}\t{}\t{}",
                r.id,
                op.as_str().unwrap_or(""),
                change.path
            );
        }
    }
    out
}

/// The summary line for stderr: how many resources differ between the two commits.
pub fn summary_line(report: &RevisionDiff) -> String {
    let counts = report.counts();
    format!(
        "{} resources differ between {} and {}: {} added, {} modified, {} removed",
        report.resources.len(),
        short_sha(&report.from.id),
        short_sha(&report.revision.id),
        counts[&ChangeKind::Added],
        counts[&ChangeKind::Modified],
        counts[&ChangeKind::Removed]
    )
}

/// A table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The commit as a comment names it: short sha in code, then its summary.
fn commit_line(id: &str, summary: &str) -> String {
    format!("`{}` {}", short_sha(id), cell(summary))
}

/// The part of the comment that is never trimmed: title, counts, errors, one row per resource.
fn markdown_summary(report: &RevisionDiff) -> String {
    let counts = report.counts();
    let mut out = String::new();
    let path = if report.path.is_empty() {
        ".".to_owned()
    } else {
        report.path.clone()
    };
    let _ = writeln!(
        out,
        "### kubectl-gitops diff of `{}`: {} → {}\n",
        cell(&path),
        commit_line(&report.from.id, &report.from.summary),
        commit_line(&report.revision.id, &report.revision.summary)
    );
    let _ = writeln!(
        out,
        "**{} added, {} modified, {} removed**\n",
        counts[&ChangeKind::Added],
        counts[&ChangeKind::Modified],
        counts[&ChangeKind::Removed]
    );
    if !report.render_errors.is_empty() {
        out.push_str("**Render errors** (their resources were not compared):\n\n");
        for error in &report.render_errors {
            let _ = writeln!(out, "- {}", cell(error));
        }
        out.push('\n');
    }
    if report.resources.is_empty() {
        out.push_str("No resource differs.\n");
        return out;
    }
    out.push_str("| Change | Kind | Namespace | Name |\n|---|---|---|---|\n");
    for r in &report.resources {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.change.name(),
            cell(&r.id.kind),
            cell(r.id.namespace.as_deref().unwrap_or("")),
            cell(&r.id.name)
        );
    }
    out
}

/// A fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// One resource's collapsible block with its unified diff.
fn markdown_block(report: &RevisionDiff, r: &ResourceRevisionDiff, context: usize) -> String {
    let (old, new) = labels(report, r);
    let diff = crate::diff::unified(&old, &new, &hunks_of(r, context));
    let fence = fence_for(&diff);
    let namespace =
        r.id.namespace
            .as_deref()
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default();
    format!(
        "<details><summary>{} {} {}{}</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n\n",
        r.change.name(),
        html_escape(&r.id.kind),
        html_escape(&namespace),
        html_escape(&r.id.name)
    )
}

/// `65000` as `65,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Markdown comment: the summary whole, then one collapsible diff per resource while they
/// fit in `limit` bytes (at least as many characters); the diffs that do not fit are left out,
/// and a note says how many and that `rerun` shows them.
pub fn markdown(report: &RevisionDiff, context: usize, rerun: &str, limit: usize) -> String {
    let mut out = markdown_summary(report);
    if report.resources.is_empty() {
        return out;
    }
    out.push('\n');
    let note = |left_out: usize| {
        format!(
            "\n> **Note:** the diffs of {left_out} of {} resources were left out to keep this comment under {} characters; run `{rerun}` to see them all.\n",
            report.resources.len(),
            thousands(limit)
        )
    };
    // Room for the note, whatever its count.
    let reserve = note(report.resources.len()).len();
    let mut left_out = 0;
    for r in &report.resources {
        let block = markdown_block(report, r, context);
        if out.len() + block.len() + reserve <= limit {
            out.push_str(&block);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        out.push_str(&note(left_out));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outlast_the_backticks_they_hold() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b ` c"), "`````");
        let block = format!(
            "{}diff\nx ```` y\n{}",
            fence_for("x ```` y"),
            fence_for("x ```` y")
        );
        assert!(!block.contains("\n````\n"), "{block}");
    }

    #[test]
    fn cells_and_numbers() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(html_escape("<a & b>"), "&lt;a &amp; b&gt;");
        assert_eq!(thousands(65_000), "65,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
