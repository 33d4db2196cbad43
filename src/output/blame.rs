//! Writers for `blame` (text, porcelain, json/yaml).
//!
//! Porcelain (stable, for scripts): one record per line, tab-separated, nine fields:
//! `LINE DRIFT COMMIT COMMIT_TIME AUTHOR MANAGER OPERATION LIVE_TIME TEXT` where `DRIFT` is
//! `same|changed|missing|liveOnly` or `-` offline, `COMMIT` the full sha, and any absent field
//! is `-`. `TEXT` is last and may contain tabs; a changed line's live value is not repeated
//! (read it from `-o json`).

use std::io::Write;

use serde_json::{Value, json};

use super::{API_VERSION, Color, OutputError, OutputFormat, Style, short_sha, write_document};
use crate::ops::blame::{BlameReport, LineDrift};

/// How to write a blame.
#[derive(Debug, Clone, Copy)]
pub struct BlameView {
    /// `text`, `porcelain`, `json` or `yaml` (`wide` is text).
    pub format: OutputFormat,
    /// Colour the text output.
    pub color: bool,
}

/// Writes `report` in `view.format`.
pub fn write_blame(
    out: &mut dyn Write,
    report: &BlameReport,
    view: &BlameView,
) -> Result<(), OutputError> {
    match view.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, view.format, &blame_document(report))
        }
        OutputFormat::Porcelain => write_porcelain(out, report),
        _ => write_text(out, report, view.color),
    }
}

/// The `kind: Blame` document (SPEC §5, §7).
pub fn blame_document(report: &BlameReport) -> Value {
    let lines: Vec<Value> = report
        .lines
        .iter()
        .map(|line| {
            json!({
                "line": line.line,
                "text": line.text,
                "commit": line.commit,
                "live": line.live,
                "drift": line.drift,
                "values": line.values,
            })
        })
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "Blame",
        "resource": {
            "apiVersion": report.api_version,
            "kind": report.id.kind,
            "namespace": report.id.namespace,
            "name": report.id.name,
        },
        "revision": report.revision,
        "source": {
            "file": report.source.file,
            "document": report.source.document,
            "line": report.source.line,
        },
        "live": report.live_mode,
        "rendered": report.rendered,
        "helmRelease": report.helm_release,
        "objectFrom": if report.from_deployed_release.is_some() { "deployedRelease" } else { "git" },
        "renderError": report.from_deployed_release,
        "lines": lines,
    })
}

fn drift_name(drift: Option<LineDrift>) -> &'static str {
    match drift {
        None => "-",
        Some(LineDrift::Same) => "same",
        Some(LineDrift::Changed) => "changed",
        Some(LineDrift::Missing) => "missing",
        Some(LineDrift::LiveOnly) => "liveOnly",
    }
}

fn write_porcelain(out: &mut dyn Write, report: &BlameReport) -> Result<(), OutputError> {
    let dash = |s: Option<&str>| s.filter(|s| !s.is_empty()).unwrap_or("-").to_owned();
    for line in &report.lines {
        let commit = line.commit.as_ref();
        let live = line.live.as_ref();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            line.line,
            drift_name(line.drift),
            dash(commit.map(|c| c.id.as_str())),
            dash(commit.map(|c| c.time.as_str())),
            dash(commit.map(|c| c.author.as_str())),
            dash(live.map(|l| l.manager.as_str())),
            dash(live.and_then(|l| l.operation.as_deref())),
            dash(live.and_then(|l| l.time.as_deref())),
            line.text
        )?;
    }
    Ok(())
}

/// `<short sha> (<author> <date>) <mark> <line>`, live info after `~` lines; in `--live` mode
/// lines not from git show their manager in place of the commit.
fn write_text(out: &mut dyn Write, report: &BlameReport, color: bool) -> Result<(), OutputError> {
    let who: Vec<String> = report
        .lines
        .iter()
        .map(|line| match (&line.commit, &line.live) {
            (Some(c), _) => format!(
                "{} ({} {})",
                short_sha(&c.id),
                c.author,
                c.time.get(..10).unwrap_or(&c.time)
            ),
            (None, Some(l)) if report.live_mode => match (&l.operation, &l.time) {
                (Some(op), Some(t)) => format!("{} ({op} {})", l.manager, t.get(..10).unwrap_or(t)),
                _ => l.manager.clone(),
            },
            _ => String::new(),
        })
        .collect();
    let width = who.iter().map(|w| w.chars().count()).max().unwrap_or(0);
    let dim = Style {
        dim: true,
        ..Style::default()
    };
    if let Some(release) = &report.helm_release {
        writeln!(
            out,
            "{}",
            dim.paint(&format!("# {}", release.describe()), color)
        )?;
    }
    if let Some(error) = &report.from_deployed_release {
        let header = format!(
            "# {}/{} as that release deployed it (the chart could not be rendered here: {error}); each line is blamed on the commit that changed the release's values",
            report.id.kind.to_ascii_lowercase(),
            report.id.name
        );
        writeln!(out, "{}", dim.paint(&header, color))?;
    }
    for (line, who) in report.lines.iter().zip(who) {
        let mark = line.drift.map(LineDrift::mark).unwrap_or(' ');
        let mark_style = match line.drift {
            Some(LineDrift::Changed) => Style::fg(Color::Ansi(3)),
            Some(LineDrift::Missing) => Style::fg(Color::Ansi(1)),
            Some(LineDrift::LiveOnly) => Style::fg(Color::Ansi(2)),
            _ => Style::default(),
        };
        let padded = format!("{who:<width$}");
        let mut text = format!(
            "{} {} {}",
            dim.paint(&padded, color),
            mark_style.paint(&mark.to_string(), color),
            line.text
        );
        if !report.live_mode
            && line.drift == Some(LineDrift::Changed)
            && let Some(live) = &line.live
        {
            let value = live.value.as_deref().unwrap_or("");
            let when = match (&live.operation, &live.time) {
                (Some(op), Some(t)) => format!(" {op} {t}"),
                _ => String::new(),
            };
            let note = format!("  # live: {value} ({}{when})", live.manager);
            text.push_str(&mark_style.paint(&note, color));
        }
        // A chart-made line: the HelmRelease values lines that set it.
        if !line.values.is_empty() {
            let places: Vec<String> = line
                .values
                .iter()
                .map(|v| match &v.commit {
                    Some(c) => format!("{}:{} ({})", v.file, v.line, short_sha(&c.id)),
                    None => format!("{}:{}", v.file, v.line),
                })
                .collect();
            let note = format!("  # values: {}", places.join(", "));
            text.push_str(&dim.paint(&note, color));
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CommitInfo, ResourceId, Source};
    use crate::ops::blame::{BlameLine, LiveWriter};
    use crate::ops::blame_values::ValuesLine;

    fn report() -> BlameReport {
        let commit = CommitInfo {
            id: "0123456789abcdef0123456789abcdef01234567".into(),
            summary: "scale".into(),
            author: "Ada Example".into(),
            email: "ada@example.com".into(),
            time: "2026-01-02T03:04:05Z".into(),
        };
        BlameReport {
            id: ResourceId {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: Some("prod".into()),
                name: "web".into(),
            },
            api_version: "apps/v1".into(),
            revision: commit.clone(),
            source: Source {
                file: "web.yaml".into(),
                document: 0,
                line: 1,
                end_line: 2,
            },
            live_mode: false,
            offline: false,
            rendered: false,
            helm_release: None,
            from_deployed_release: None,
            lines: vec![
                BlameLine {
                    line: 1,
                    text: "kind: Deployment".into(),
                    commit: Some(commit.clone()),
                    live: None,
                    drift: Some(LineDrift::Same),
                    values: vec![ValuesLine {
                        file: "apps/web/release.yaml".into(),
                        line: 12,
                        path: "spec.values.kind".into(),
                        commit: Some(commit.clone()),
                    }],
                },
                BlameLine {
                    line: 2,
                    text: "  replicas: 2".into(),
                    commit: Some(commit),
                    live: Some(LiveWriter {
                        manager: "kubectl".into(),
                        operation: Some("Update".into()),
                        time: Some("2026-02-01T00:00:00Z".into()),
                        value: Some("5".into()),
                    }),
                    drift: Some(LineDrift::Changed),
                    values: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn text_shows_commit_mark_and_live_writer() {
        let mut out = Vec::new();
        write_text(&mut out, &report(), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "0123456 (Ada Example 2026-01-02)   kind: Deployment  # values: apps/web/release.yaml:12 (0123456)\n\
             0123456 (Ada Example 2026-01-02) ~   replicas: 2  # live: 5 (kubectl Update 2026-02-01T00:00:00Z)\n"
        );
    }

    #[test]
    fn porcelain_has_nine_tab_separated_fields() {
        let mut out = Vec::new();
        write_porcelain(&mut out, &report()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let second: Vec<&str> = text.lines().nth(1).unwrap().split('\t').collect();
        assert_eq!(second.len(), 9);
        assert_eq!(second[1], "changed");
        assert_eq!(second[5], "kubectl");
        assert_eq!(second[8], "  replicas: 2");
    }

    #[test]
    fn json_document_shape() {
        let doc = blame_document(&report());
        assert_eq!(doc["kind"], "Blame");
        assert_eq!(doc["lines"][1]["drift"], "changed");
        assert_eq!(doc["lines"][1]["live"]["manager"], "kubectl");
        assert_eq!(doc["lines"][0]["live"], Value::Null);
        assert_eq!(doc["lines"][0]["commit"]["email"], "ada@example.com");
        assert_eq!(
            doc["lines"][0]["values"][0]["file"],
            "apps/web/release.yaml"
        );
        assert_eq!(doc["lines"][0]["values"][0]["line"], 12);
        assert_eq!(doc["lines"][1]["values"], serde_json::json!([]));
    }
}
