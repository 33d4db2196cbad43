//! Writers for `history` (text, json, yaml): SPEC §5. Text reads like `git log --oneline`
//! with one indented line per changed resource (`  M deployment.apps/web (prod)`), HEAD and
//! the commit the live state matches marked after the sha; `-p` adds each change's diff.

use std::io::Write;

use serde_json::{Map, Value, json};

use super::{API_VERSION, Color, OutputError, OutputFormat, Style, short_sha, write_document};
use crate::ops::history::{ChangeKind, History, HistoryCommit, ResourceChange};

/// How to write a history.
#[derive(Debug, Clone, Copy)]
pub struct HistoryView {
    /// `-o`: text, json or yaml.
    pub format: OutputFormat,
    /// Colour.
    pub color: bool,
    /// `-p`: each change's diff.
    pub patch: bool,
    /// Diff context lines.
    pub context: usize,
}

/// Writes the history in the view's format.
pub fn write_history(
    out: &mut dyn Write,
    history: &History,
    view: &HistoryView,
) -> Result<(), OutputError> {
    match view.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, view.format, &history_document(history, view))
        }
        _ => {
            // One buffer reused for every commit: thousands of commits, no allocation each.
            let mut text = String::with_capacity(4096);
            release_header(&mut text, history, view.color);
            out.write_all(text.as_bytes())?;
            for c in &history.commits {
                text.clear();
                commit_text(&mut text, c, view);
                out.write_all(text.as_bytes())?;
            }
            Ok(())
        }
    }
}

/// For RESOURCE made by a HelmRelease's chart (SPEC §11): the release revision deployed now
/// and, when the chart could not be rendered here, that the commits are those that changed
/// the release's values.
fn release_header(text: &mut String, history: &History, color: bool) {
    let dim = Style {
        dim: true,
        ..Style::default()
    };
    if let Some(release) = &history.helm_release {
        text.push_str(&dim.paint(&format!("# {}", release.describe()), color));
        text.push('\n');
    }
    if let Some(error) = &history.from_deployed_release {
        let note = format!(
            "# the object is read from the deployed release (the chart could not be rendered here: {error}); listed: the commits that changed the release's values"
        );
        text.push_str(&dim.paint(&note, color));
        text.push('\n');
    }
}

/// `deployment.apps/web` / `configmap/settings`, as kubectl names a resource.
pub fn resource_name(change: &ResourceChange) -> String {
    let kind = change.id.kind.to_ascii_lowercase();
    if change.id.group.is_empty() {
        format!("{kind}/{}", change.id.name)
    } else {
        format!("{kind}.{}/{}", change.id.group, change.id.name)
    }
}

fn change_style(kind: ChangeKind) -> Style {
    match kind {
        ChangeKind::Added => Style::fg(Color::Ansi(2)),
        ChangeKind::Modified => Style::fg(Color::Ansi(3)),
        ChangeKind::Removed => Style::fg(Color::Ansi(1)),
    }
}

/// One commit as text: the sha line, its resource changes and, with `-p`, their diffs.
pub fn commit_text(text: &mut String, c: &HistoryCommit, view: &HistoryView) {
    let mut marks = Vec::new();
    if c.head {
        marks.push("HEAD");
    }
    if c.matches_live {
        marks.push("live");
    }
    text.push_str(&Style::fg(Color::Ansi(3)).paint(short_sha(&c.commit.id), view.color));
    if !marks.is_empty() {
        text.push(' ');
        let marks = format!("({})", marks.join(", "));
        text.push_str(
            &Style {
                bold: true,
                fg: Some(Color::Ansi(6)),
                ..Style::default()
            }
            .paint(&marks, view.color),
        );
    }
    text.push(' ');
    text.push_str(&c.commit.summary);
    text.push('\n');
    if c.changes.is_empty() {
        // A commit that changed the inputs but no resource: a comment, formatting, a README.
        let dim = Style {
            dim: true,
            ..Style::default()
        };
        text.push_str(&dim.paint("  (no resource changes)", view.color));
        text.push('\n');
    }
    for change in &c.changes {
        let letter = change.change.letter().to_string();
        text.push_str("  ");
        text.push_str(&change_style(change.change).paint(&letter, view.color));
        text.push(' ');
        text.push_str(&resource_name(change));
        if let Some(ns) = &change.id.namespace {
            text.push_str(&format!(" ({ns})"));
        }
        text.push('\n');
    }
    if view.patch {
        for change in &c.changes {
            let diff = change.unified_diff(c.parent.as_deref(), &c.commit.id, view.context);
            for line in diff.lines() {
                let style = if line.starts_with("+++") || line.starts_with("---") {
                    Style {
                        bold: true,
                        ..Style::default()
                    }
                } else if line.starts_with('+') {
                    Style::fg(Color::Ansi(2))
                } else if line.starts_with('-') {
                    Style::fg(Color::Ansi(1))
                } else if line.starts_with("@@") {
                    Style::fg(Color::Ansi(6))
                } else {
                    Style::default()
                };
                text.push_str(&style.paint(line, view.color));
                text.push('\n');
            }
        }
    }
}

/// The `kind: History` document of `-o json|yaml`.
pub fn history_document(history: &History, view: &HistoryView) -> Value {
    let commits: Vec<Value> = history
        .commits
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("id".into(), c.commit.id.clone().into());
            m.insert("summary".into(), c.commit.summary.clone().into());
            m.insert("author".into(), c.commit.author.clone().into());
            m.insert("email".into(), c.commit.email.clone().into());
            m.insert("time".into(), c.commit.time.clone().into());
            m.insert("head".into(), c.head.into());
            m.insert("matchesLive".into(), c.matches_live.into());
            let changes: Vec<Value> = c
                .changes
                .iter()
                .map(|change| {
                    let mut r = Map::new();
                    r.insert("apiVersion".into(), change.api_version.clone().into());
                    r.insert("kind".into(), change.id.kind.clone().into());
                    r.insert(
                        "namespace".into(),
                        change
                            .id
                            .namespace
                            .clone()
                            .map(Value::String)
                            .unwrap_or(Value::Null),
                    );
                    r.insert("name".into(), change.id.name.clone().into());
                    r.insert("change".into(), change.change.name().into());
                    r.insert("file".into(), change.file.clone().into());
                    if view.patch {
                        r.insert(
                            "diff".into(),
                            change
                                .unified_diff(c.parent.as_deref(), &c.commit.id, view.context)
                                .into(),
                        );
                    }
                    Value::Object(r)
                })
                .collect();
            m.insert("changes".into(), changes.into());
            Value::Object(m)
        })
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "History",
        "revision": crate::output::status::commit_value(&history.revision),
        "path": history.path,
        "matchesLive": history.matches_live,
        "helmRelease": history.helm_release,
        "renderError": history.from_deployed_release,
        "commits": commits,
    })
}
