//! Writers for `sync` plans and results (text, json, yaml). Plans go to stderr before the
//! confirmation, results (and `--dry-run` plans) to stdout.

use serde_json::{Map, Value, json};

use super::status::commit_value;
use super::{
    API_VERSION, Color, OutputError, OutputFormat, Style, short_sha, table, write_document,
};
use crate::model::ResourceId;
use crate::ops::sync::{SyncAction, SyncFailure, SyncOutcome, SyncPlan, SyncResult};

/// The name of an outcome as outputs write it.
pub fn outcome_name(outcome: SyncOutcome) -> &'static str {
    match outcome {
        SyncOutcome::Created => "created",
        SyncOutcome::Configured => "configured",
        SyncOutcome::Unchanged => "unchanged",
        SyncOutcome::Pruned => "pruned",
        SyncOutcome::Kept => "kept",
        SyncOutcome::Failed => "failed",
        SyncOutcome::Skipped => "skipped",
    }
}

/// The outcome a planned action has when applied (`--dry-run` reports it).
fn planned_outcome(action: SyncAction) -> SyncOutcome {
    match action {
        SyncAction::Create => SyncOutcome::Created,
        SyncAction::Configure => SyncOutcome::Configured,
        SyncAction::Unchanged => SyncOutcome::Unchanged,
    }
}

fn outcome_style(outcome: SyncOutcome) -> Style {
    match outcome {
        SyncOutcome::Created => Style::fg(Color::Ansi(2)),
        SyncOutcome::Configured => Style::fg(Color::Ansi(3)),
        SyncOutcome::Pruned | SyncOutcome::Failed => Style::fg(Color::Ansi(1)),
        SyncOutcome::Kept | SyncOutcome::Skipped => Style::fg(Color::Ansi(5)),
        SyncOutcome::Unchanged => Style::default(),
    }
}

/// Paints the first column of a plan row by its outcome name.
fn paint_outcome(name: &str, column: usize, cell: &str, color: bool) -> String {
    if column != 0 {
        return cell.to_owned();
    }
    let outcome = match name {
        "created" => SyncOutcome::Created,
        "configured" => SyncOutcome::Configured,
        "pruned" => SyncOutcome::Pruned,
        "kept" => SyncOutcome::Kept,
        _ => SyncOutcome::Unchanged,
    };
    outcome_style(outcome).paint(cell, color)
}

fn identity(api_version: &str, id: &ResourceId) -> Map<String, Value> {
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

fn row_cells(outcome: SyncOutcome, id: &ResourceId, extra: String) -> Vec<String> {
    vec![
        outcome_name(outcome).to_owned(),
        id.group_kind(),
        id.namespace.clone().unwrap_or_else(|| "-".into()),
        id.name.clone(),
        extra,
    ]
}

/// `what the plan does` as rows: one per resource that changes, and per pruned or kept member.
fn plan_rows(plan: &SyncPlan, all: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for r in &plan.resources {
        if r.action == SyncAction::Unchanged && !all {
            continue;
        }
        let mut detail: Vec<String> = Vec::new();
        if !r.fields.is_empty() {
            detail.push(r.fields.join(","));
        }
        for t in &r.taken_over {
            detail.push(format!("takes {} from {}", t.path, t.manager));
        }
        rows.push(row_cells(
            planned_outcome(r.action),
            &r.id,
            detail.join("; "),
        ));
    }
    for p in &plan.prune {
        let outcome = if p.keep {
            SyncOutcome::Kept
        } else {
            SyncOutcome::Pruned
        };
        let why = if p.keep {
            "annotated kubectl-gitops.io/prune=false".to_owned()
        } else {
            String::new()
        };
        rows.push(row_cells(outcome, &p.id, why));
    }
    rows
}

/// `2 created, 1 configured, 7 unchanged, 1 pruned` (zero counts left out).
pub fn plan_counts(plan: &SyncPlan) -> String {
    let pruned = plan.prune.iter().filter(|p| !p.keep).count();
    let kept = plan.prune.len() - pruned;
    counts_line(&[
        (plan.count(SyncAction::Create), "created"),
        (plan.count(SyncAction::Configure), "configured"),
        (plan.count(SyncAction::Unchanged), "unchanged"),
        (pruned, "pruned"),
        (kept, "kept"),
    ])
}

fn counts_line(counts: &[(usize, &str)]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| format!("{n} {name}"))
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The plan as text: a table of what changes (every resource with `all`), then the counts.
pub fn plan_text(plan: &SyncPlan, all: bool, color: bool) -> String {
    let rows = plan_rows(plan, all);
    let mut out = String::new();
    if !rows.is_empty() {
        out = table(
            &["ACTION", "KIND", "NAMESPACE", "NAME", "CHANGES"],
            &rows,
            &|r, c, cell| paint_outcome(&rows[r][0], c, cell, color),
        );
    }
    out.push_str(&format!(
        "sync {} of {} to {} (applyset {}/{}): {}\n",
        short_sha(&plan.revision.id),
        if plan.path.is_empty() {
            "."
        } else {
            &plan.path
        },
        plan.context,
        plan.apply_set.namespace,
        plan.apply_set.name,
        plan_counts(plan)
    ));
    out
}

/// `errors[]`: each failure with its resource (`group/Kind/namespace/name`, or null) and message.
fn failures_value(failures: &[SyncFailure]) -> Value {
    failures
        .iter()
        .map(|f| {
            json!({
                "resource": f.id.as_ref().map(ToString::to_string),
                "message": f.message,
            })
        })
        .collect()
}

/// The `kind: SyncResult` document of a `--dry-run`: what each resource would become.
pub fn plan_document(plan: &SyncPlan) -> Value {
    let mut resources: Vec<Value> = plan
        .resources
        .iter()
        .map(|r| {
            let mut m = identity(&r.api_version, &r.id);
            m.insert(
                "result".into(),
                outcome_name(planned_outcome(r.action)).into(),
            );
            m.insert("fields".into(), json!(r.fields));
            m.insert("takenOver".into(), json!(r.taken_over));
            m.insert("source".into(), json!(r.source));
            m.insert("wave".into(), r.wave.into());
            Value::Object(m)
        })
        .collect();
    resources.extend(plan.prune.iter().map(|p| {
        let mut m = identity(&p.api_version, &p.id);
        let outcome = if p.keep {
            SyncOutcome::Kept
        } else {
            SyncOutcome::Pruned
        };
        m.insert("result".into(), outcome_name(outcome).into());
        Value::Object(m)
    }));
    json!({
        "apiVersion": API_VERSION,
        "kind": "SyncResult",
        "dryRun": true,
        "revision": commit_value(&plan.revision),
        "applySet": plan.apply_set,
        "resources": resources,
        "errors": failures_value(&plan.failures),
    })
}

/// The `kind: SyncResult` document.
pub fn result_document(result: &SyncResult) -> Value {
    let resources: Vec<Value> = result
        .resources
        .iter()
        .map(|r| {
            let mut m = identity(&r.api_version, &r.id);
            m.insert("result".into(), outcome_name(r.result).into());
            m.insert("error".into(), json!(r.error));
            Value::Object(m)
        })
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "SyncResult",
        "dryRun": false,
        "revision": commit_value(&result.revision),
        "applySet": result.apply_set,
        "resources": resources,
        "errors": failures_value(&result.errors),
    })
}

/// Writes a `--dry-run` plan: a table of every resource, or the document.
pub fn write_plan(
    out: &mut dyn std::io::Write,
    plan: &SyncPlan,
    format: OutputFormat,
    color: bool,
) -> Result<(), OutputError> {
    match format {
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, format, &plan_document(plan))
        }
        _ => {
            let rows = plan_rows(plan, true);
            if !rows.is_empty() {
                let text = table(
                    &["RESULT", "KIND", "NAMESPACE", "NAME", "CHANGES"],
                    &rows,
                    &|r, c, cell| paint_outcome(&rows[r][0], c, cell, color),
                );
                out.write_all(text.as_bytes())?;
            }
            Ok(())
        }
    }
}

/// Writes a result: one row per resource (`RESULT KIND NAMESPACE NAME`), or the document.
pub fn write_result(
    out: &mut dyn std::io::Write,
    result: &SyncResult,
    format: OutputFormat,
    color: bool,
) -> Result<(), OutputError> {
    match format {
        OutputFormat::Json | OutputFormat::Yaml => {
            write_document(out, format, &result_document(result))
        }
        _ => {
            let rows: Vec<Vec<String>> = result
                .resources
                .iter()
                .map(|r| row_cells(r.result, &r.id, r.error.clone().unwrap_or_default()))
                .collect();
            if rows.is_empty() {
                return Ok(());
            }
            let header: &[&str] = if result.resources.iter().any(|r| r.error.is_some()) {
                &["RESULT", "KIND", "NAMESPACE", "NAME", "ERROR"]
            } else {
                &["RESULT", "KIND", "NAMESPACE", "NAME"]
            };
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|mut row| {
                    row.truncate(header.len());
                    row
                })
                .collect();
            let text = table(header, &rows, &|r, c, cell| {
                if c == 0 {
                    outcome_style(result.resources[r].result).paint(cell, color)
                } else {
                    cell.to_owned()
                }
            });
            out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

/// `12 resources: 2 created, 10 unchanged at 1a2b3c4 (applyset default/kubectl-gitops-prod)`.
pub fn result_summary(result: &SyncResult) -> String {
    let count = |o: SyncOutcome| result.resources.iter().filter(|r| r.result == o).count();
    let total = result.resources.len();
    let noun = if total == 1 { "resource" } else { "resources" };
    format!(
        "{total} {noun}: {} at {} (applyset {}/{})",
        counts_line(&[
            (count(SyncOutcome::Created), "created"),
            (count(SyncOutcome::Configured), "configured"),
            (count(SyncOutcome::Unchanged), "unchanged"),
            (count(SyncOutcome::Pruned), "pruned"),
            (count(SyncOutcome::Kept), "kept"),
            (count(SyncOutcome::Failed), "failed"),
            (count(SyncOutcome::Skipped), "skipped"),
        ]),
        short_sha(&result.revision.id),
        result.apply_set.namespace,
        result.apply_set.name
    )
}
