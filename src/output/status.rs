//! `status` output: the table (text, wide), the `Status` document (JSON, YAML), porcelain
//! lines, and the summary line for stderr (SPEC §5).

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    API_VERSION, Color, OutputError, OutputFormat, Style, short_sha, table, write_document,
};
use crate::model::{DriftState, ResourceId};
use crate::ops::status::{CommitInfo, ResourceStatus, StatusReport};

/// Every state, in the order summaries list them.
pub const STATES: [DriftState; 6] = [
    DriftState::Synced,
    DriftState::Drifted,
    DriftState::Missing,
    DriftState::Orphaned,
    DriftState::Unknown,
    DriftState::Error,
];

/// The name of a state as every output writes it (`Synced`, `Drifted`, ...).
pub fn state_name(state: DriftState) -> &'static str {
    match state {
        DriftState::Synced => "Synced",
        DriftState::Drifted => "Drifted",
        DriftState::Missing => "Missing",
        DriftState::Orphaned => "Orphaned",
        DriftState::Unknown => "Unknown",
        DriftState::Error => "Error",
    }
}

/// The colour of a state in tables.
pub fn state_style(state: DriftState) -> Style {
    match state {
        DriftState::Synced => Style::fg(Color::Ansi(2)),
        DriftState::Drifted => Style::fg(Color::Ansi(3)),
        DriftState::Missing => Style::fg(Color::Ansi(1)),
        DriftState::Orphaned => Style::fg(Color::Ansi(5)),
        DriftState::Unknown => Style {
            dim: true,
            ..Style::default()
        },
        DriftState::Error => Style {
            bold: true,
            fg: Some(Color::Ansi(1)),
            ..Style::default()
        },
    }
}

/// How to write a status report.
#[derive(Debug, Clone, Copy)]
pub struct StatusView {
    /// `-o`: text, wide, json, yaml or porcelain.
    pub format: OutputFormat,
    /// Colour the STATUS column.
    pub color: bool,
    /// "Now" for the AGE column.
    pub now: DateTime<Utc>,
}

/// Writes `report` to `out` in the view's format.
pub fn write_status(
    out: &mut dyn Write,
    report: &StatusReport,
    view: &StatusView,
) -> Result<(), OutputError> {
    match view.format {
        // Markdown is refused before any status is written (`diff --from` only); text if asked.
        OutputFormat::Text | OutputFormat::Wide | OutputFormat::Markdown => {
            if !report.resources.is_empty() {
                out.write_all(status_table(report, view).as_bytes())?;
            }
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, view.format, &status_document(report))?
        }
        OutputFormat::Porcelain => out.write_all(status_porcelain(report).as_bytes())?,
    }
    Ok(())
}

/// `kubectl get`-style age of a commit: `45s`, `5m`, `3h`, `2d`; `-` when the time is unknown.
pub fn commit_age(commit: Option<&CommitInfo>, now: DateTime<Utc>) -> String {
    commit
        .and_then(|c| DateTime::parse_from_rfc3339(&c.time).ok())
        .map(|t| {
            crate::model::duration::human_duration((now - t.with_timezone(&Utc)).num_seconds())
        })
        .unwrap_or_else(|| "-".into())
}

fn drift_cell(r: &ResourceStatus) -> String {
    match r.state {
        DriftState::Synced | DriftState::Drifted => r.fields.len().to_string(),
        _ => "-".into(),
    }
}

fn source_cell(r: &ResourceStatus) -> String {
    r.source
        .as_ref()
        .map(|s| format!("{}#{}:{}", s.file, s.document, s.line))
        .unwrap_or_else(|| "-".into())
}

/// The `STATUS KIND NAMESPACE NAME DRIFT COMMIT AGE` table; `-o wide` adds SOURCE, LIVE-REV and
/// OWNER (SPEC §11: `Kustomization flux-system/apps`, `ApplySet`).
pub fn status_table(report: &StatusReport, view: &StatusView) -> String {
    let wide = view.format == OutputFormat::Wide;
    let mut header = vec![
        "STATUS",
        "KIND",
        "NAMESPACE",
        "NAME",
        "DRIFT",
        "COMMIT",
        "AGE",
    ];
    if wide {
        header.extend(["SOURCE", "LIVE-REV", "OWNER"]);
    }
    let rows: Vec<Vec<String>> = report
        .resources
        .iter()
        .map(|r| {
            let mut row = vec![
                state_name(r.state).to_string(),
                r.id.group_kind(),
                r.id.namespace.clone().unwrap_or_else(|| "-".into()),
                r.id.name.clone(),
                drift_cell(r),
                r.last_commit
                    .as_ref()
                    .map(|c| short_sha(&c.id).to_string())
                    .unwrap_or_else(|| "-".into()),
                commit_age(r.last_commit.as_ref(), view.now),
            ];
            if wide {
                row.push(source_cell(r));
                row.push(
                    r.live_revision
                        .as_deref()
                        .map(|s| short_sha(s).to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(
                    r.owner
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "-".into()),
                );
            }
            row
        })
        .collect();
    let states: Vec<DriftState> = report.resources.iter().map(|r| r.state).collect();
    table(&header, &rows, &|r, c, cell| {
        if c == 0 {
            state_style(states[r]).paint(cell, view.color)
        } else {
            cell.to_string()
        }
    })
}

/// `12 resources: 9 Synced, 2 Drifted, 1 Missing at 1a2b3c4 (envs/prod, kind-dev)`.
pub fn summary_line(report: &StatusReport) -> String {
    let counts = report.summary();
    let total = report.resources.len();
    let noun = if total == 1 { "resource" } else { "resources" };
    let parts: Vec<String> = STATES
        .iter()
        .filter_map(|s| counts.get(s).map(|n| format!("{n} {}", state_name(*s))))
        .collect();
    let path = if report.path.is_empty() {
        "."
    } else {
        &report.path
    };
    let counted = if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    };
    format!(
        "{total} {noun}{counted} at {} ({path}, {})",
        short_sha(&report.revision.id),
        report.context
    )
}

/// Lines for stderr besides the summary: render errors, resource errors, notes.
pub fn diagnostics(report: &StatusReport) -> Vec<String> {
    let mut lines: Vec<String> = report
        .render_errors
        .iter()
        .map(|e| format!("error: {e}"))
        .collect();
    lines.extend(report.warnings.iter().map(|w| format!("warning: {w}")));
    for r in &report.resources {
        if let Some(error) = &r.error {
            let kind = if matches!(r.state, DriftState::Error | DriftState::Unknown) {
                "error"
            } else {
                "note"
            };
            lines.push(format!("{kind}: {}: {error}", r.id));
        }
        for note in &r.notes {
            lines.push(format!("note: {}: {note}", r.id));
        }
    }
    lines
}

/// A commit as every document writes it.
pub fn commit_value(commit: &CommitInfo) -> Value {
    json!({
        "id": commit.id,
        "summary": commit.summary,
        "author": commit.author,
        "email": commit.email,
        "time": commit.time,
    })
}

/// The identity fields every document starts a resource with.
pub fn identity(r: &ResourceStatus) -> Map<String, Value> {
    identity_of(&r.api_version, &r.id)
}

/// [`identity`] of any resource: `apiVersion`, `kind`, `namespace` (`null` when cluster-scoped),
/// `name`.
pub fn identity_of(api_version: &str, id: &ResourceId) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), api_version.into());
    m.insert("kind".into(), id.kind.clone().into());
    m.insert(
        "namespace".into(),
        id.namespace
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    m.insert("name".into(), id.name.clone().into());
    m
}

/// The `kind: Status` document of `-o json|yaml`.
pub fn status_document(report: &StatusReport) -> Value {
    let counts = report.summary();
    let mut summary = Map::new();
    for state in STATES {
        summary.insert(
            state_name(state).to_string(),
            counts.get(&state).copied().unwrap_or(0).into(),
        );
    }
    let resources: Vec<Value> = report
        .resources
        .iter()
        .map(|r| {
            let mut m = identity(r);
            m.insert("status".into(), state_name(r.state).into());
            m.insert(
                "strategy".into(),
                serde_json::to_value(r.strategy).unwrap_or(Value::Null),
            );
            m.insert("fields".into(), r.fields.clone().into());
            m.insert(
                "source".into(),
                r.source
                    .as_ref()
                    .map(|s| json!({"file": s.file, "document": s.document, "line": s.line, "endLine": s.end_line}))
                    .unwrap_or(Value::Null),
            );
            m.insert(
                "lastCommit".into(),
                r.last_commit.as_ref().map(commit_value).unwrap_or(Value::Null),
            );
            m.insert("liveRevision".into(), r.live_revision.clone().into());
            m.insert("matchesRevision".into(), r.matches_revision.clone().into());
            m.insert(
                "owner".into(),
                r.owner.as_ref().map(ToString::to_string).into(),
            );
            m.insert("error".into(), r.error.clone().into());
            m.insert("renderError".into(), r.render_error.clone().into());
            m.insert("notes".into(), r.notes.clone().into());
            Value::Object(m)
        })
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "Status",
        "revision": commit_value(&report.revision),
        "path": report.path,
        "context": report.context,
        "server": report.server,
        "summary": summary,
        "resources": resources,
        "errors": report.render_errors,
        "warnings": report.warnings,
    })
}

/// One tab-separated line per resource: state, `<group>/<Kind>/<ns>/<name>`, differing field
/// count (`-` when not compared), last commit (full sha or `-`), differing fields comma-joined.
pub fn status_porcelain(report: &StatusReport) -> String {
    let mut out = String::new();
    for r in &report.resources {
        let commit = r.last_commit.as_ref().map(|c| c.id.as_str()).unwrap_or("-");
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            state_name(r.state),
            r.id,
            drift_cell(r),
            commit,
            r.fields.join(",")
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{ResourceId, Source};
    use crate::ops::status::ResourceOwner;

    pub(crate) fn commit(id: &str, time: &str) -> CommitInfo {
        CommitInfo {
            id: id.into(),
            summary: "scale web".into(),
            author: "Ada".into(),
            email: "ada@example.com".into(),
            time: time.into(),
        }
    }

    pub(crate) fn resource(
        group: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        state: DriftState,
    ) -> ResourceStatus {
        let id = ResourceId {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        };
        let api_version = if group.is_empty() {
            "v1".into()
        } else {
            format!("{group}/v1")
        };
        ResourceStatus {
            source: Some(Source {
                file: format!("apps/{name}.yaml"),
                document: 0,
                line: 1,
                end_line: 10,
            }),
            ..ResourceStatus::blank(id, &api_version, state)
        }
    }

    pub(crate) fn report() -> StatusReport {
        let mut web = resource(
            "apps",
            "Deployment",
            Some("prod"),
            "web",
            DriftState::Drifted,
        );
        web.fields = vec![
            "spec.replicas".into(),
            "spec.template.spec.containers[name=web].image".into(),
        ];
        web.last_commit = Some(commit(
            "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d",
            "2026-11-20T06:00:00Z",
        ));
        web.live_revision = Some("ffeeddccbbaa99887766554433221100ffeeddcc".into());
        web.strategy = Some(crate::drift::Strategy::Server);
        web.owner = Some(ResourceOwner::ApplySet);
        let mut settings = resource(
            "",
            "ConfigMap",
            Some("prod"),
            "settings",
            DriftState::Synced,
        );
        settings.last_commit = Some(commit(
            "0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b",
            "2026-11-22T06:25:00Z",
        ));
        let ns = resource("", "Namespace", None, "prod", DriftState::Missing);
        let mut orphan = resource("", "Service", Some("prod"), "old", DriftState::Orphaned);
        orphan.source = None;
        orphan.owner = Some(ResourceOwner::Controller(crate::model::Owner {
            id: ResourceId {
                group: "kustomize.toolkit.fluxcd.io".into(),
                kind: "Kustomization".into(),
                namespace: Some("flux-system".into()),
                name: "apps".into(),
            },
        }));
        let mut broken = resource(
            "example.com",
            "Widget",
            Some("prod"),
            "w",
            DriftState::Unknown,
        );
        broken.error =
            Some("the cluster does not serve example.com/v1 Widget; install its CRD".into());
        StatusReport {
            revision: commit(
                "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d",
                "2026-11-20T06:00:00Z",
            ),
            path: "envs/prod".into(),
            context: "kind-dev".into(),
            server: "https://127.0.0.1:6443".into(),
            resources: vec![settings, web, ns, orphan, broken],
            render_errors: vec!["envs/prod/bad.yaml:3: mapping values are not allowed here".into()],
            warnings: vec!["orphans not shown: cannot read the members of ApplySet default/kubectl-gitops-prod: forbidden".into()],
            stats: Default::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T06:30:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn render(format: OutputFormat, color: bool) -> String {
        let mut out = Vec::new();
        write_status(
            &mut out,
            &report(),
            &StatusView {
                format,
                color,
                now: now(),
            },
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_table() {
        insta::assert_snapshot!(render(OutputFormat::Text, false), @r"
        STATUS     KIND                 NAMESPACE   NAME       DRIFT   COMMIT    AGE
        Synced     ConfigMap            prod        settings   0       0a0b0c0   5m
        Drifted    Deployment.apps      prod        web        2       1a2b3c4   2d
        Missing    Namespace            -           prod       -       -         -
        Orphaned   Service              prod        old        -       -         -
        Unknown    Widget.example.com   prod        w          -       -         -
        ");
    }

    #[test]
    fn wide_table_adds_source_live_revision_and_owner() {
        let text = render(OutputFormat::Wide, false);
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header[7..], ["SOURCE", "LIVE-REV", "OWNER"], "{}", lines[0]);
        assert!(
            lines[2].contains("apps/web.yaml#0:1 ") && lines[2].contains(" ffeeddc "),
            "{}",
            lines[2]
        );
        assert!(lines[2].ends_with(" ApplySet"), "{}", lines[2]);
        let orphan: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            orphan[orphan.len() - 4..],
            ["-", "-", "Kustomization", "flux-system/apps"],
            "{}",
            lines[4]
        );
        assert!(lines[1].ends_with(" -"), "no owner: {}", lines[1]);
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!render(OutputFormat::Text, false).contains('\x1b'));
        let coloured = render(OutputFormat::Text, true);
        assert!(coloured.contains("\x1b[33mDrifted\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[32mSynced\x1b[0m"));
        // Escapes do not shift the columns.
        let plain = render(OutputFormat::Text, false);
        let stripped = coloured
            .replace("\x1b[33m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[35m", "")
            .replace("\x1b[2m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn json_document_shape() {
        let doc: Value = serde_json::from_str(&render(OutputFormat::Json, false)).unwrap();
        assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
        assert_eq!(doc["kind"], "Status");
        assert_eq!(
            doc["revision"]["id"],
            "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
        );
        assert_eq!(doc["path"], "envs/prod");
        assert_eq!(doc["context"], "kind-dev");
        assert_eq!(
            doc["summary"],
            json!({"Synced": 1, "Drifted": 1, "Missing": 1, "Orphaned": 1, "Unknown": 1, "Error": 0})
        );
        let web = &doc["resources"][1];
        let keys: Vec<&str> = web
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "apiVersion",
                "kind",
                "namespace",
                "name",
                "status",
                "strategy",
                "fields",
                "source",
                "lastCommit",
                "liveRevision",
                "matchesRevision",
                "owner",
                "error",
                "renderError",
                "notes"
            ]
        );
        assert_eq!(web["status"], "Drifted");
        assert_eq!(web["strategy"], "server");
        assert_eq!(web["fields"][0], "spec.replicas");
        assert_eq!(
            web["source"],
            json!({"file": "apps/web.yaml", "document": 0, "line": 1, "endLine": 10})
        );
        assert_eq!(web["lastCommit"]["time"], "2026-11-20T06:00:00Z");
        assert!(web["matchesRevision"].is_null());
        let ns = &doc["resources"][2];
        assert!(ns["namespace"].is_null());
        assert!(doc["resources"][3]["source"].is_null());
        assert_eq!(web["owner"], "ApplySet");
        assert_eq!(
            doc["resources"][3]["owner"],
            "Kustomization flux-system/apps"
        );
        assert!(doc["resources"][0]["owner"].is_null());
        assert_eq!(doc["warnings"].as_array().unwrap().len(), 1);
        assert_eq!(
            doc["errors"][0],
            "envs/prod/bad.yaml:3: mapping values are not allowed here"
        );
    }

    #[test]
    fn yaml_document_matches_json() {
        let yaml = render(OutputFormat::Yaml, false);
        assert!(
            yaml.starts_with("apiVersion: kubectl-gitops/v1\nkind: Status\n"),
            "{yaml}"
        );
        let parsed: Value = serde_saphyr::from_str(&yaml).unwrap();
        let json: Value = serde_json::from_str(&render(OutputFormat::Json, false)).unwrap();
        assert_eq!(parsed, json);
    }

    #[test]
    fn porcelain_lines() {
        let text = render(OutputFormat::Porcelain, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[1],
            "Drifted\tapps/Deployment/prod/web\t2\t1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d\tspec.replicas,spec.template.spec.containers[name=web].image"
        );
        assert_eq!(lines[2], "Missing\tcore/Namespace/_/prod\t-\t-\t");
    }

    #[test]
    fn summary_and_diagnostics() {
        let report = report();
        assert_eq!(
            summary_line(&report),
            "5 resources: 1 Synced, 1 Drifted, 1 Missing, 1 Orphaned, 1 Unknown at 1a2b3c4 (envs/prod, kind-dev)"
        );
        let lines = diagnostics(&report);
        assert_eq!(
            lines[0],
            "error: envs/prod/bad.yaml:3: mapping values are not allowed here"
        );
        assert!(
            lines[1].starts_with("warning: orphans not shown: "),
            "{lines:?}"
        );
        assert!(
            lines[2].starts_with("error: example.com/Widget/prod/w: the cluster does not serve")
        );
        let mut empty = report.clone();
        empty.resources.clear();
        empty.path.clear();
        assert_eq!(summary_line(&empty), "0 resources at 1a2b3c4 (., kind-dev)");
    }

    #[test]
    fn ages_like_kubectl() {
        let c = commit("x", "2026-11-22T06:27:00+00:00");
        assert_eq!(commit_age(Some(&c), now()), "3m");
        assert_eq!(commit_age(Some(&commit("x", "garbage")), now()), "-");
        assert_eq!(commit_age(None, now()), "-");
    }
}
