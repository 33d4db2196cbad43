//! `diff` output: unified or side-by-side YAML diffs per resource (highlighted and with the
//! changed words emphasized when colour is on; each hunk closed by notes naming who set its
//! changed live fields), the `Diff` document (JSON, YAML), porcelain lines, and
//! `KUBECTL_EXTERNAL_DIFF` (SPEC §5; its files stay plain YAML).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use unicode_width::UnicodeWidthChar;

use super::status::{commit_value, identity, state_name};
use super::{
    API_VERSION, Color, DiffPalette, OutputError, OutputFormat, Style, short_sha, write_document,
};
use crate::diff::{DiffLine, Hunk, LineKind, hunks, side_by_side, sign};
use crate::drift::merge_key::keys_equal;
use crate::drift::{Change, ChangeOp};
use crate::highlight::{Span, highlight_yaml_lines};
use crate::model::path::{FieldPath, PathSegment};
use crate::model::{DriftState, split_api_version};
use crate::ops::blame::keyed_line_paths;
use crate::ops::status::{ResourceStatus, StatusReport};

/// How to write a diff.
#[derive(Debug, Clone)]
pub struct DiffView {
    /// `-o`: text, json, yaml or porcelain.
    pub format: OutputFormat,
    /// Colour, syntax highlighting and word emphasis.
    pub color: bool,
    /// Two columns instead of a unified diff.
    pub side_by_side: bool,
    /// Columns available (side by side).
    pub width: usize,
    /// Lines of context.
    pub context: usize,
    /// Diff colours.
    pub palette: DiffPalette,
}

/// The two sides of a resource's text diff: live, and what sync would make it (empty when the
/// side does not exist, as for Missing and Orphaned). Error and Unknown have no sides.
pub fn sides(r: &ResourceStatus) -> Option<(&str, &str)> {
    if matches!(r.state, DriftState::Error | DriftState::Unknown) {
        return None;
    }
    let live = r.live_yaml.as_deref().unwrap_or("");
    let desired = match r.state {
        // Sync leaves orphans alone unless it prunes; what prune makes of them is nothing.
        DriftState::Orphaned => "",
        _ => r.desired_yaml.as_deref().unwrap_or(""),
    };
    Some((live, desired))
}

/// `live/<group>/<Kind>/<ns>/<name>` and `git@<short sha>/<group>/<Kind>/<ns>/<name>`.
pub fn labels(report: &StatusReport, r: &ResourceStatus) -> (String, String) {
    (
        format!("live/{}", r.id),
        format!("git@{}/{}", short_sha(&report.revision.id), r.id),
    )
}

/// Writes the diff of every resource of `report` in the view's format.
pub fn write_diff(
    out: &mut dyn Write,
    report: &StatusReport,
    view: &DiffView,
) -> Result<(), OutputError> {
    match view.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, view.format, &diff_document(report))?
        }
        OutputFormat::Porcelain => out.write_all(diff_porcelain(report).as_bytes())?,
        // Markdown is refused before a live diff is written (`diff --from` only); text if asked.
        OutputFormat::Text | OutputFormat::Wide | OutputFormat::Markdown => {
            // Synced resources print nothing even when their texts differ in form only
            // (`1000m` against `1`): the diff agrees with the state and the exit code.
            for r in report
                .resources
                .iter()
                .filter(|r| r.state != DriftState::Synced)
            {
                let Some((live, desired)) = sides(r) else {
                    continue;
                };
                let found = hunks(live, desired, view.context);
                if found.is_empty() {
                    continue;
                }
                let (old_label, new_label) = labels(report, r);
                let notes = LiveNotes::of(r, live);
                let labels = (old_label.as_str(), new_label.as_str());
                let text = diff_text(labels, (live, desired), &found, &notes, view);
                out.write_all(text.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// A piece of a painted line.
type Segment = (String, Style);

/// `line` cut where its syntax colour or emphasis changes, each piece with its style; one plain
/// piece without colour.
fn segments(line: &DiffLine, spans: &[Span], palette: &DiffPalette, color: bool) -> Vec<Segment> {
    if !color {
        return vec![(line.text.clone(), Style::default())];
    }
    let (line_bg, emphasis_bg) = match line.kind {
        LineKind::Context => (None, None),
        LineKind::Removed => (Some(palette.removed), Some(palette.removed_emphasis)),
        LineKind::Added => (Some(palette.added), Some(palette.added_emphasis)),
    };
    let mut cuts: Vec<usize> = vec![0, line.text.len()];
    cuts.extend(spans.iter().flat_map(|s| [s.start, s.end]));
    cuts.extend(line.emphasis.iter().flat_map(|r| [r.start, r.end]));
    cuts.retain(|&c| c <= line.text.len() && line.text.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .filter_map(|w| {
            let (start, end) = (w[0], w[1]);
            let piece = line.text.get(start..end)?;
            let span = spans.iter().find(|s| s.start <= start && start < s.end);
            let emphasized = line
                .emphasis
                .iter()
                .any(|r| r.start <= start && start < r.end);
            let style = Style {
                fg: span.map(|s| Color::Rgb(s.fg.0, s.fg.1, s.fg.2)),
                bg: if emphasized { emphasis_bg } else { line_bg },
                bold: span.is_some_and(|s| s.bold),
                dim: false,
            };
            Some((piece.to_owned(), style))
        })
        .fold(Vec::new(), |mut merged: Vec<Segment>, (piece, style)| {
            // Neighbours in the same style print as one, with one escape sequence.
            match merged.last_mut() {
                Some((text, last)) if *last == style => text.push_str(&piece),
                _ => merged.push((piece, style)),
            }
            merged
        })
}

fn line_spans<'a>(line: &DiffLine, old: &'a [Vec<Span>], new: &'a [Vec<Span>]) -> &'a [Span] {
    let found = match line.kind {
        LineKind::Added => line.new_index.and_then(|i| new.get(i)),
        _ => line.old_index.and_then(|i| old.get(i)),
    };
    found.map(Vec::as_slice).unwrap_or(&[])
}

fn paint_all(segments: &[Segment], color: bool) -> String {
    segments
        .iter()
        .map(|(text, style)| style.paint(text, color))
        .collect()
}

fn line_bg(kind: LineKind, palette: &DiffPalette) -> Option<Color> {
    match kind {
        LineKind::Context => None,
        LineKind::Removed => Some(palette.removed),
        LineKind::Added => Some(palette.added),
    }
}

fn sign_style(kind: LineKind, palette: &DiffPalette) -> Style {
    let fg = match kind {
        LineKind::Context => None,
        LineKind::Removed => Some(Color::Ansi(1)),
        LineKind::Added => Some(Color::Ansi(2)),
    };
    Style {
        fg,
        bg: line_bg(kind, palette),
        bold: false,
        dim: false,
    }
}

/// Highlights each side once (SPEC: highlight each blob once, then paint): the lines the
/// hunks print ([`highlight_yaml_lines`]), not the whole texts.
fn highlighted(
    live: &str,
    desired: &str,
    found: &[Hunk],
    view: &DiffView,
) -> (crate::highlight::Highlighted, crate::highlight::Highlighted) {
    if view.color {
        let old: Vec<_> = found
            .iter()
            .map(|h| h.old_start..h.old_start + h.old_len)
            .collect();
        let new: Vec<_> = found
            .iter()
            .map(|h| h.new_start..h.new_start + h.new_len)
            .collect();
        (
            highlight_yaml_lines(live, view.palette.syntax_theme, &old),
            highlight_yaml_lines(desired, view.palette.syntax_theme, &new),
        )
    } else {
        (Default::default(), Default::default())
    }
}

/// The `---`/`+++` lines both layouts start with.
fn file_headers(old_label: &str, new_label: &str, view: &DiffView) -> String {
    let header = &view.palette.file_header;
    format!(
        "{}\n{}\n",
        header.paint(&format!("--- {old_label}"), view.color),
        header.paint(&format!("+++ {new_label}"), view.color)
    )
}

/// One resource's diff in the view's layout: side by side or unified.
pub(crate) fn diff_text(
    (old_label, new_label): (&str, &str),
    texts: (&str, &str),
    found: &[Hunk],
    notes: &LiveNotes,
    view: &DiffView,
) -> String {
    if view.side_by_side {
        side_by_side_text(old_label, new_label, texts, found, notes, view)
    } else {
        unified_text(old_label, new_label, texts, found, notes, view)
    }
}

pub(crate) fn unified_text(
    old_label: &str,
    new_label: &str,
    (live, desired): (&str, &str),
    found: &[Hunk],
    notes: &LiveNotes,
    view: &DiffView,
) -> String {
    let palette = &view.palette;
    let (old_spans, new_spans) = highlighted(live, desired, found, view);
    let mut out = file_headers(old_label, new_label, view);
    for hunk in found {
        out.push_str(&palette.hunk_header.paint(&hunk.header(), view.color));
        out.push('\n');
        for line in &hunk.lines {
            let spans = line_spans(line, &old_spans, &new_spans);
            out.push_str(
                &sign_style(line.kind, palette).paint(&sign(line.kind).to_string(), view.color),
            );
            out.push_str(&paint_all(
                &segments(line, spans, palette, view.color),
                view.color,
            ));
            out.push('\n');
        }
        out.push_str(&notes.after(hunk, view.color));
    }
    out
}

/// Splits painted segments into rows of at most `width` display columns.
fn wrap(segments: Vec<Segment>, width: usize) -> Vec<Vec<Segment>> {
    let width = width.max(1);
    let mut rows: Vec<Vec<Segment>> = vec![Vec::new()];
    let mut used = 0;
    for (text, style) in segments {
        let mut piece = String::new();
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty()
                    && let Some(row) = rows.last_mut()
                {
                    row.push((std::mem::take(&mut piece), style));
                }
                rows.push(Vec::new());
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty()
            && let Some(row) = rows.last_mut()
        {
            row.push((piece, style));
        }
    }
    rows
}

fn segments_width(segments: &[Segment]) -> usize {
    segments
        .iter()
        .map(|(text, _)| unicode_width::UnicodeWidthStr::width(text.as_str()))
        .sum()
}

/// One side of a side-by-side row, wrapped: each entry is exactly `number + 2 + text` wide.
fn side_cells(
    line: Option<&DiffLine>,
    spans: &[Span],
    number_width: usize,
    text_width: usize,
    view: &DiffView,
) -> Vec<String> {
    let palette = &view.palette;
    let Some(line) = line else {
        return vec![" ".repeat(number_width + 2 + text_width)];
    };
    let number = match line.kind {
        LineKind::Added => line.new_index,
        _ => line.old_index,
    }
    .map(|i| (i + 1).to_string())
    .unwrap_or_default();
    let fill = Style {
        bg: if view.color {
            line_bg(line.kind, palette)
        } else {
            None
        },
        ..Style::default()
    };
    wrap(segments(line, spans, palette, view.color), text_width)
        .into_iter()
        .enumerate()
        .map(|(n, row)| {
            let gutter = if n == 0 {
                format!("{number:>number_width$}")
            } else {
                " ".repeat(number_width)
            };
            let marker = if n == 0 { sign(line.kind) } else { ' ' };
            let pad = text_width.saturating_sub(segments_width(&row));
            format!(
                "{} {}{}{}",
                palette.gutter.paint(&gutter, view.color),
                sign_style(line.kind, palette).paint(&marker.to_string(), view.color),
                paint_all(&row, view.color),
                fill.paint(&" ".repeat(pad), view.color)
            )
        })
        .collect()
}

pub(crate) fn side_by_side_text(
    old_label: &str,
    new_label: &str,
    (live, desired): (&str, &str),
    found: &[Hunk],
    notes: &LiveNotes,
    view: &DiffView,
) -> String {
    let palette = &view.palette;
    let (old_spans, new_spans) = highlighted(live, desired, found, view);
    let longest = live.lines().count().max(desired.lines().count());
    let number_width = longest.to_string().len().max(3);
    // Each side: number, space, sign, text; the sides are joined by " │ ".
    let text_width = (view.width.saturating_sub(3) / 2)
        .saturating_sub(number_width + 2)
        .max(10);
    let separator = palette.gutter.paint(" │ ", view.color);
    let mut out = file_headers(old_label, new_label, view);
    for hunk in found {
        out.push_str(&palette.hunk_header.paint(&hunk.header(), view.color));
        out.push('\n');
        for row in side_by_side(hunk) {
            let left_spans = row
                .left
                .map(|l| line_spans(l, &old_spans, &new_spans))
                .unwrap_or(&[]);
            let right_spans = row
                .right
                .map(|l| line_spans(l, &old_spans, &new_spans))
                .unwrap_or(&[]);
            let left = side_cells(row.left, left_spans, number_width, text_width, view);
            let right = side_cells(row.right, right_spans, number_width, text_width, view);
            let blank = " ".repeat(number_width + 2 + text_width);
            for n in 0..left.len().max(right.len()) {
                let l = left.get(n).unwrap_or(&blank);
                let r = right.get(n).unwrap_or(&blank);
                let joined = format!("{l}{separator}{r}");
                out.push_str(if view.color {
                    &joined
                } else {
                    joined.trim_end()
                });
                out.push('\n');
            }
        }
        out.push_str(&notes.after(hunk, view.color));
    }
    out
}

/// Who set the live fields a diff changes (SPEC §5), to note after each hunk: the field path
/// of every live line, and the changes of fields that are live. `Default`: no notes (a diff of
/// two commits, where no side is live).
#[derive(Default)]
pub(crate) struct LiveNotes<'r> {
    line_paths: Vec<Option<FieldPath>>,
    changes: Vec<&'r Change>,
}

impl<'r> LiveNotes<'r> {
    fn of(r: &'r ResourceStatus, live: &str) -> LiveNotes<'r> {
        let changes: Vec<&Change> = r
            .changes
            .iter()
            .filter(|change| change.op != ChangeOp::Add)
            .collect();
        let line_paths = if changes.is_empty() {
            Vec::new()
        } else {
            keyed_line_paths(&r.id, live)
        };
        LiveNotes {
            line_paths,
            changes,
        }
    }

    /// One line per change whose live lines `hunk` removes or replaces, naming the manager,
    /// time and operation that set the field (names and times only: no value, so nothing of
    /// a Secret); empty when there is none.
    fn after(&self, hunk: &Hunk, color: bool) -> String {
        let removed: Vec<&FieldPath> = hunk
            .lines
            .iter()
            .filter(|line| line.kind == LineKind::Removed)
            .filter_map(|line| self.line_paths.get(line.old_index?)?.as_ref())
            .collect();
        let dim = Style {
            dim: true,
            ..Style::default()
        };
        let mut out = String::new();
        for change in &self.changes {
            if !removed.iter().any(|line| path_within(line, &change.path)) {
                continue;
            }
            out.push_str(&dim.paint(&live_note(change), color));
            out.push('\n');
        }
        out
    }
}

/// `# live: spec.replicas set by kubectl-scale at 2026-12-06T10:00:00Z (Update)`.
fn live_note(change: &Change) -> String {
    let Some(manager) = &change.live_manager else {
        return format!(
            "# live: {} set by no field manager (server default)",
            change.path
        );
    };
    let mut note = format!("# live: {} set by {manager}", change.path);
    if let Some(time) = &change.live_time {
        note.push_str(&format!(" at {time}"));
    }
    if let Some(operation) = &change.live_operation {
        note.push_str(&format!(" ({operation})"));
    }
    note
}

/// Whether `path` is `ancestor` or below it; list items compared by key value (`80` = `80.0`).
fn path_within(path: &FieldPath, ancestor: &FieldPath) -> bool {
    path.0.len() >= ancestor.0.len()
        && path.0.iter().zip(&ancestor.0).all(|pair| match pair {
            (PathSegment::Item(a), PathSegment::Item(b)) => keys_equal(a, b),
            (a, b) => a == b,
        })
}

/// The `kind: Diff` document of `-o json|yaml`: every resource with its identity, status and
/// changes (a whole-object `add`/`remove` at path `""` for Missing and Orphaned).
pub fn diff_document(report: &StatusReport) -> Value {
    let resources: Vec<Value> = report
        .resources
        .iter()
        .map(|r| {
            let mut m = identity(r);
            m.insert("status".into(), state_name(r.state).into());
            m.insert("changes".into(), changes_value(r));
            m.insert("error".into(), r.error.clone().into());
            Value::Object(m)
        })
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "Diff",
        "revision": commit_value(&report.revision),
        "path": report.path,
        "context": report.context,
        "resources": resources,
        "errors": report.render_errors,
        "warnings": report.warnings,
    })
}

fn changes_value(r: &ResourceStatus) -> Value {
    if r.changes.is_empty() {
        let whole = |yaml: Option<&String>| {
            yaml.and_then(|y| serde_saphyr::from_str::<Value>(y).ok())
                .unwrap_or(Value::Null)
        };
        match r.state {
            DriftState::Missing => {
                return json!([{"path": "", "op": "add", "live": null, "desired": whole(r.desired_yaml.as_ref()),
                    "liveManager": null, "liveOperation": null, "liveTime": null}]);
            }
            DriftState::Orphaned => {
                // The whole object: no one manager set it.
                return json!([{"path": "", "op": "remove", "live": whole(r.live_yaml.as_ref()), "desired": null,
                    "liveManager": null, "liveOperation": null, "liveTime": null}]);
            }
            _ => {}
        }
    }
    serde_json::to_value(&r.changes).unwrap_or_else(|_| Value::Array(Vec::new()))
}

/// One tab-separated line per change: `<group>/<Kind>/<ns>/<name>`, op, path.
pub fn diff_porcelain(report: &StatusReport) -> String {
    let mut out = String::new();
    for r in &report.resources {
        if let Value::Array(changes) = changes_value(r) {
            for change in changes {
                let op = change["op"].as_str().unwrap_or("");
                let path = change["path"].as_str().unwrap_or("");
                out.push_str(&format!("{}\t{op}\t{path}\n", r.id));
            }
        }
    }
    out
}

/// Errors running `KUBECTL_EXTERNAL_DIFF`.
#[derive(Debug, thiserror::Error)]
pub enum ExternalDiffError {
    /// The temporary directories could not be written.
    #[error("cannot write the objects to diff under {dir}: {source}")]
    Write {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error(
        "failed to run {program:?} (from KUBECTL_EXTERNAL_DIFF): {source}; check that it is installed and on PATH"
    )]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The program was killed by a signal.
    #[error("{program:?} (from KUBECTL_EXTERNAL_DIFF) was killed by a signal")]
    Killed {
        /// The program.
        program: String,
    },
}

/// The program and arguments of a `KUBECTL_EXTERNAL_DIFF` value, as kubectl reads it: split at
/// spaces, the first word the program, further words kept only when made of letters, digits,
/// `-` and `=` (kubectl's guard against shell metacharacters); they go after the two
/// directories. `None` for an empty value.
pub fn external_command(spec: &str) -> Option<(String, Vec<String>)> {
    let mut words = spec.split(' ');
    let program = words.next().filter(|p| !p.is_empty())?.to_owned();
    let args = words
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '=')
        })
        .map(str::to_owned)
        .collect();
    Some((program, args))
}

/// kubectl's file name for an object: `<group.>version.Kind.namespace.name`.
pub fn external_file_name(r: &ResourceStatus) -> String {
    let (group, version) = split_api_version(&r.api_version);
    let group = if group.is_empty() {
        String::new()
    } else {
        format!("{group}.")
    };
    format!(
        "{group}{version}.{}.{}.{}",
        r.id.kind,
        r.id.namespace.as_deref().unwrap_or(""),
        r.id.name
    )
}

/// Writes `LIVE-*` and `MERGED-*` directories under `scratch` with one YAML file per resource
/// (an empty file for a side that does not exist), runs `program args... LIVE MERGED ARGS...`
/// with its output going to ours, and returns its exit code: 0 no differences, 1 differences,
/// anything else is the program's failure (kubectl passes it on).
pub fn run_external(
    spec: &str,
    report: &StatusReport,
    scratch: &Path,
) -> Result<i32, ExternalDiffError> {
    let (program, extra) = external_command(spec).unwrap_or_else(|| ("diff".into(), Vec::new()));
    let live_dir = scratch.join("LIVE");
    let merged_dir = scratch.join("MERGED");
    for dir in [&live_dir, &merged_dir] {
        std::fs::create_dir_all(dir).map_err(|source| ExternalDiffError::Write {
            dir: dir.clone(),
            source,
        })?;
    }
    for r in &report.resources {
        let Some((live, desired)) = sides(r) else {
            continue;
        };
        let name = external_file_name(r);
        for (dir, text) in [(&live_dir, live), (&merged_dir, desired)] {
            std::fs::write(dir.join(&name), text).map_err(|source| ExternalDiffError::Write {
                dir: dir.clone(),
                source,
            })?;
        }
    }
    let status = Command::new(&program)
        .arg(&live_dir)
        .arg(&merged_dir)
        .args(&extra)
        .status()
        .map_err(|source| ExternalDiffError::Spawn {
            program: program.clone(),
            source,
        })?;
    status.code().ok_or(ExternalDiffError::Killed { program })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::status::tests::{report as status_report, resource};

    const LIVE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 5\n";
    const DESIRED: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 2\n";

    fn report() -> StatusReport {
        let mut report = status_report();
        // Drop the Unknown one: it is covered by its own test.
        report.resources.retain(|r| r.state != DriftState::Unknown);
        for r in &mut report.resources {
            match r.state {
                DriftState::Drifted => {
                    r.live_yaml = Some(LIVE.into());
                    r.desired_yaml = Some(DESIRED.into());
                    r.changes = vec![Change {
                        path: FieldPath::root().key("spec").key("replicas"),
                        op: ChangeOp::Replace,
                        live: Some(json!(5)),
                        desired: Some(json!(2)),
                        live_manager: Some("kubectl-scale".into()),
                        live_operation: Some("Update".into()),
                        live_time: Some("2026-12-06T10:00:00Z".into()),
                    }];
                }
                DriftState::Synced => {
                    // Equal by value, not by text: no diff for it.
                    r.live_yaml = Some("kind: ConfigMap\ncpu: 1000m\n".into());
                    r.desired_yaml = Some("kind: ConfigMap\ncpu: 1\n".into());
                }
                DriftState::Missing => {
                    r.desired_yaml =
                        Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n".into())
                }
                DriftState::Orphaned => {
                    r.live_yaml = Some("apiVersion: v1\nkind: Service\n".into())
                }
                _ => {}
            }
        }
        report
    }

    fn view(format: OutputFormat, color: bool, side_by_side: bool) -> DiffView {
        DiffView {
            format,
            color,
            side_by_side,
            width: 80,
            context: 3,
            palette: DiffPalette::default(),
        }
    }

    fn render(report: &StatusReport, view: &DiffView) -> String {
        let mut out = Vec::new();
        write_diff(&mut out, report, view).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn unified_per_resource_with_headers() {
        let text = render(&report(), &view(OutputFormat::Text, false, false));
        insta::assert_snapshot!(text, @r"
        --- live/apps/Deployment/prod/web
        +++ git@1a2b3c4/apps/Deployment/prod/web
        @@ -4,4 +4,4 @@
           name: web
           namespace: prod
         spec:
        -  replicas: 5
        +  replicas: 2
        # live: spec.replicas set by kubectl-scale at 2026-12-06T10:00:00Z (Update)
        --- live/core/Namespace/_/prod
        +++ git@1a2b3c4/core/Namespace/_/prod
        @@ -0,0 +1,4 @@
        +apiVersion: v1
        +kind: Namespace
        +metadata:
        +  name: prod
        --- live/core/Service/prod/old
        +++ git@1a2b3c4/core/Service/prod/old
        @@ -1,2 +0,0 @@
        -apiVersion: v1
        -kind: Service
        ");
    }

    #[test]
    fn colour_highlights_and_emphasizes() {
        let text = render(&report(), &view(OutputFormat::Text, true, false));
        assert!(
            text.contains("\x1b[1m--- live/apps/Deployment/prod/web\x1b[0m"),
            "{text}"
        );
        // The changed value sits on the emphasis background, the rest of the line on the line's.
        assert!(text.contains(";48;2;144;16;17m5\x1b[0m"), "{text:?}");
        assert!(text.contains(";48;2;0;96;0m2\x1b[0m"), "{text:?}");
        assert!(
            text.contains("48;2;0;40;0m"),
            "added line background missing"
        );
        // Syntax colours are 24-bit foregrounds.
        assert!(text.contains("38;2;"), "no syntax colours");
        let plain = render(&report(), &view(OutputFormat::Text, false, false));
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn side_by_side_fits_width() {
        let text = render(&report(), &view(OutputFormat::Text, false, true));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "--- live/apps/Deployment/prod/web");
        assert_eq!(lines[2], "@@ -4,4 +4,4 @@");
        let replicas = lines.iter().find(|l| l.contains("replicas: 5")).unwrap();
        let (left, right) = replicas.split_once(" │ ").unwrap();
        assert_eq!(left.trim_end(), "  7 -  replicas: 5");
        assert_eq!(right, "  7 +  replicas: 2");
        assert_eq!(unicode_width::UnicodeWidthStr::width(left), 38);
        for line in lines.iter().filter(|l| l.contains('│')) {
            assert!(
                unicode_width::UnicodeWidthStr::width(*line) <= 80,
                "{line:?}"
            );
        }
        let coloured = render(&report(), &view(OutputFormat::Text, true, true));
        assert!(coloured.contains(" │ "));
        assert!(coloured.contains(";48;2;144;16;17m5"), "{coloured:?}");
    }

    #[test]
    fn long_lines_wrap_in_side_by_side() {
        let mut report = report();
        let long = "x".repeat(70);
        report.resources[1].desired_yaml =
            Some(DESIRED.replace("replicas: 2", &format!("replicas: 2\n  note: {long}")));
        let text = render(&report, &view(OutputFormat::Text, false, true));
        let note_rows: Vec<&str> = text.lines().filter(|l| l.contains("xxxx")).collect();
        assert!(note_rows.len() >= 2, "{text}");
        let joined: String = note_rows
            .iter()
            .map(|l| l.rsplit_once(' ').unwrap().1.trim_start_matches('+'))
            .collect();
        assert!(joined.contains(&long[..60]), "{joined}");
    }

    #[test]
    fn json_document() {
        let doc: Value =
            serde_json::from_str(&render(&report(), &view(OutputFormat::Json, false, false)))
                .unwrap();
        assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
        assert_eq!(doc["kind"], "Diff");
        assert_eq!(
            doc["revision"]["id"],
            "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
        );
        let web = &doc["resources"][1];
        assert_eq!(web["kind"], "Deployment");
        assert_eq!(web["status"], "Drifted");
        assert_eq!(
            web["changes"],
            json!([{"path": "spec.replicas", "op": "replace", "live": 5, "desired": 2,
                "liveManager": "kubectl-scale", "liveOperation": "Update",
                "liveTime": "2026-12-06T10:00:00Z"}])
        );
        assert_eq!(doc["resources"][0]["changes"], json!([]));
        let ns = &doc["resources"][2];
        assert!(ns["namespace"].is_null());
        assert_eq!(ns["changes"][0]["op"], "add");
        assert_eq!(ns["changes"][0]["desired"]["kind"], "Namespace");
        assert!(ns["changes"][0]["liveManager"].is_null());
        assert_eq!(doc["resources"][3]["changes"][0]["op"], "remove");
        let yaml: Value =
            serde_saphyr::from_str(&render(&report(), &view(OutputFormat::Yaml, false, false)))
                .unwrap();
        assert_eq!(yaml, doc);
    }

    fn change(path: FieldPath, op: ChangeOp, manager: Option<&str>) -> Change {
        let live = (op != ChangeOp::Add).then(|| json!("x"));
        let desired = (op != ChangeOp::Remove).then(|| json!("y"));
        Change {
            path,
            op,
            live,
            desired,
            live_manager: manager.map(str::to_owned),
            live_operation: manager.map(|_| "Apply".to_owned()),
            live_time: manager.map(|_| "2026-12-06T10:00:00Z".to_owned()),
        }
    }

    #[test]
    fn live_notes_close_the_hunk_of_their_lines() {
        use crate::model::path::PathSegment;
        let live = "kind: Deployment\nmetadata:\n  name: web\n  labels:\n    team: ops\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: side\n        image: proxy:1\n      - name: web\n        image: web:1\n        env:\n        - name: A\n          value: a\n";
        let desired = "kind: Deployment\nmetadata:\n  name: web\n  labels:\n    team: dev\nspec:\n  replicas: 3\n  paused: true\n  template:\n    spec:\n      containers:\n      - name: side\n        image: proxy:1\n      - name: web\n        image: web:2\n";
        let web = FieldPath::root()
            .key("spec")
            .key("template")
            .key("spec")
            .key("containers")
            .child(PathSegment::Item(vec![("name".into(), json!("web"))]));
        let mut report = report();
        let r = &mut report.resources[1];
        r.live_yaml = Some(live.into());
        r.desired_yaml = Some(desired.into());
        r.changes = vec![
            change(
                FieldPath::root().key("metadata").key("labels").key("team"),
                ChangeOp::Replace,
                Some("ops-team"),
            ),
            change(
                FieldPath::root().key("spec").key("replicas"),
                ChangeOp::Replace,
                None,
            ),
            change(
                FieldPath::root().key("spec").key("paused"),
                ChangeOp::Add,
                None,
            ),
            change(web.key("image"), ChangeOp::Replace, Some("kubectl-set")),
            change(web.key("env"), ChangeOp::Remove, Some("kubectl")),
        ];
        report.resources.retain(|r| r.state == DriftState::Drifted);
        let mut unified = view(OutputFormat::Text, false, false);
        unified.context = 0;
        let text = render(&report, &unified);
        insta::assert_snapshot!(text, @r"
        --- live/apps/Deployment/prod/web
        +++ git@1a2b3c4/apps/Deployment/prod/web
        @@ -5 +5 @@
        -    team: ops
        +    team: dev
        # live: metadata.labels.team set by ops-team at 2026-12-06T10:00:00Z (Apply)
        @@ -7 +7,2 @@
        -  replicas: 1
        +  replicas: 3
        +  paused: true
        # live: spec.replicas set by no field manager (server default)
        @@ -14,4 +15 @@
        -        image: web:1
        -        env:
        -        - name: A
        -          value: a
        +        image: web:2
        # live: spec.template.spec.containers[name=web].image set by kubectl-set at 2026-12-06T10:00:00Z (Apply)
        # live: spec.template.spec.containers[name=web].env set by kubectl at 2026-12-06T10:00:00Z (Apply)
        ");
        let mut side = view(OutputFormat::Text, false, true);
        side.context = 0;
        let text = render(&report, &side);
        let lines: Vec<&str> = text.lines().collect();
        let note = lines
            .iter()
            .position(|l| l.starts_with("# live: metadata.labels.team"))
            .unwrap();
        assert!(lines[note - 1].contains("+    team: dev"), "{text}");
        assert!(lines[note + 1].starts_with("@@ -7"), "{text}");
        let coloured = render(&report, &view(OutputFormat::Text, true, false));
        assert!(
            coloured.contains("\x1b[2m# live: spec.replicas set by no field manager"),
            "{coloured:?}"
        );
    }

    #[test]
    fn porcelain_lists_changes() {
        let text = render(&report(), &view(OutputFormat::Porcelain, false, false));
        assert_eq!(
            text,
            "apps/Deployment/prod/web\treplace\tspec.replicas\ncore/Namespace/_/prod\tadd\t\ncore/Service/prod/old\tremove\t\n"
        );
    }

    #[test]
    fn unknown_and_error_have_no_text_diff() {
        let r = resource(
            "example.com",
            "Widget",
            Some("prod"),
            "w",
            DriftState::Unknown,
        );
        assert!(sides(&r).is_none());
    }

    #[test]
    fn external_command_like_kubectl() {
        assert_eq!(external_command("meld"), Some(("meld".into(), vec![])));
        assert_eq!(
            external_command("diff -u --color=always ;rm $(x)"),
            Some(("diff".into(), vec!["-u".into(), "--color=always".into()]))
        );
        assert_eq!(external_command(""), None);
        let r = &report().resources[1];
        assert_eq!(external_file_name(r), "apps.v1.Deployment.prod.web");
        let ns = &report().resources[2];
        assert_eq!(external_file_name(ns), "v1.Namespace..prod");
    }

    #[test]
    fn external_program_gets_both_directories() {
        let scratch = tempfile::tempdir().unwrap();
        let script = scratch.path().join("show.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nls \"$1\" > \"$1/../listing\"; cat \"$2/apps.v1.Deployment.prod.web\" > \"$1/../merged\"; echo \"$3\" > \"$1/../arg\"; exit 1\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let work = scratch.path().join("work");
        let spec = format!("{} -x", script.display());
        // A test thread forking while the script was open for writing leaves the child holding
        // it until that child execs: "text file busy" for a moment. Wait it out.
        let mut attempts = 0;
        let code = loop {
            match run_external(&spec, &report(), &work) {
                Err(ExternalDiffError::Spawn { source, .. })
                    if source.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 =>
                {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(code, 1);
        let listing = std::fs::read_to_string(work.join("listing")).unwrap();
        assert_eq!(
            listing.lines().collect::<Vec<_>>(),
            [
                "apps.v1.Deployment.prod.web",
                "v1.ConfigMap.prod.settings",
                "v1.Namespace..prod",
                "v1.Service.prod.old"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(work.join("merged")).unwrap(),
            DESIRED
        );
        assert_eq!(
            std::fs::read_to_string(work.join("arg")).unwrap().trim(),
            "-x"
        );
        let missing = run_external("/no/such/program", &report(), &scratch.path().join("w2"));
        assert!(matches!(missing, Err(ExternalDiffError::Spawn { .. })));
    }
}
