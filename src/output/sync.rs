//! Writers for `sync` plans and results (text, json, yaml). Plans go to stderr before the
//! confirmation, results (and `--dry-run` plans) to stdout.

use serde_json::{Map, Value, json};

use super::status::commit_value;
use super::{
    API_VERSION, Color, OutputError, OutputFormat, Style, short_sha, table, write_document,
};
use crate::model::ResourceId;
use crate::ops::sync::{
    ControllerOutcome, ControllerRequest, ControllerStep, PlannedResource, SyncAction, SyncFailure,
    SyncOutcome, SyncPlan, SyncResult,
};

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
        SyncOutcome::Requested => "requested",
    }
}

/// The name of a controller's outcome as outputs write it.
fn controller_outcome_name(outcome: ControllerOutcome) -> &'static str {
    match outcome {
        ControllerOutcome::Requested => "requested",
        ControllerOutcome::Suspended => "suspended",
        ControllerOutcome::Unchanged => "unchanged",
        ControllerOutcome::Failed => "failed",
        ControllerOutcome::Skipped => "skipped",
    }
}

fn step_name(step: ControllerStep) -> &'static str {
    match step {
        ControllerStep::Reconcile => "reconcile",
        ControllerStep::Suspend => "suspend",
        ControllerStep::Suspended => "suspended",
    }
}

/// The outcome a planned resource has when the plan is carried out (`--dry-run` reports it).
fn planned_outcome(resource: &PlannedResource) -> SyncOutcome {
    match resource.action {
        SyncAction::Create | SyncAction::Configure if resource.handed => SyncOutcome::Requested,
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
        SyncOutcome::Requested => Style::fg(Color::Ansi(6)),
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
        "requested" => SyncOutcome::Requested,
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
        if let (true, Some(owner)) = (r.handed, &r.owner) {
            detail.push(format!("by {owner}"));
        }
        rows.push(row_cells(planned_outcome(r), &r.id, detail.join("; ")));
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
    let count = |outcome: SyncOutcome| {
        plan.resources
            .iter()
            .filter(|r| planned_outcome(r) == outcome)
            .count()
    };
    counts_line(&[
        (count(SyncOutcome::Created), "created"),
        (count(SyncOutcome::Configured), "configured"),
        (
            count(SyncOutcome::Requested),
            "requested from their controller",
        ),
        (count(SyncOutcome::Unchanged), "unchanged"),
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

/// One line per controller of the plan: what it would be asked or have done (SPEC §11).
pub fn controller_lines(controllers: &[ControllerRequest], done: bool) -> String {
    let mut out = String::new();
    for request in controllers {
        out.push_str(&format!("{}: {}\n", request.owner, request.describe(done)));
        for note in &request.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        if let Some(resume) = &request.resume {
            out.push_str(&format!("  resume it with: {resume}\n"));
        }
    }
    out
}

/// The plan as text: a table of what changes (every resource with `all`), what the
/// controllers would be asked, then the counts.
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
    out.push_str(&controller_lines(&plan.controllers, false));
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

/// `controllers[]`: each controller that reconciles targeted resources, its step and, after a
/// sync, its result.
fn controller_value(
    request: &ControllerRequest,
    result: Option<(ControllerOutcome, &Option<String>)>,
) -> Value {
    let mut m = identity(&request.api_version, &request.owner.id);
    m.insert("step".into(), step_name(request.step).into());
    if let Some((outcome, error)) = result {
        m.insert("result".into(), controller_outcome_name(outcome).into());
        m.insert("error".into(), json!(error));
    }
    m.insert("trackedRevision".into(), json!(request.tracked_revision));
    m.insert(
        "members".into(),
        request
            .members
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into(),
    );
    m.insert("resume".into(), json!(request.resume));
    m.insert("notes".into(), json!(request.notes));
    Value::Object(m)
}

fn owner_value(owner: Option<&crate::model::Owner>) -> Value {
    owner
        .map(|o| Value::String(o.to_string()))
        .unwrap_or(Value::Null)
}

/// The `kind: SyncResult` document of a `--dry-run`: what each resource would become.
pub fn plan_document(plan: &SyncPlan) -> Value {
    let mut resources: Vec<Value> = plan
        .resources
        .iter()
        .map(|r| {
            let mut m = identity(&r.api_version, &r.id);
            m.insert("result".into(), outcome_name(planned_outcome(r)).into());
            m.insert("owner".into(), owner_value(r.owner.as_ref()));
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
        "controllers": plan.controllers.iter().map(|c| controller_value(c, None)).collect::<Vec<_>>(),
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
            m.insert("owner".into(), owner_value(r.owner.as_ref()));
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
        "controllers": result
            .controllers
            .iter()
            .map(|c| controller_value(&c.request, Some((c.result, &c.error))))
            .collect::<Vec<_>>(),
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
            out.write_all(controller_lines(&plan.controllers, false).as_bytes())?;
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
            let controllers = result_controller_lines(result);
            if rows.is_empty() {
                out.write_all(controllers.as_bytes())?;
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
            out.write_all(controllers.as_bytes())?;
            Ok(())
        }
    }
}

/// What was asked of, or done to, each controller, one line each (SPEC §11).
fn result_controller_lines(result: &SyncResult) -> String {
    let mut out = String::new();
    for c in &result.controllers {
        let what = match c.result {
            ControllerOutcome::Requested
            | ControllerOutcome::Suspended
            | ControllerOutcome::Unchanged => c.request.describe(true),
            ControllerOutcome::Failed => format!(
                "failed: {}",
                c.error.as_deref().unwrap_or("the write was refused")
            ),
            ControllerOutcome::Skipped => {
                "skipped: an earlier write failed; sync again to ask it".to_owned()
            }
        };
        out.push_str(&format!("{}: {what}\n", c.request.owner));
        for note in &c.request.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        if let (Some(resume), ControllerOutcome::Suspended | ControllerOutcome::Unchanged) =
            (&c.request.resume, c.result)
        {
            out.push_str(&format!("  resume it with: {resume}\n"));
        }
    }
    out
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
            (
                count(SyncOutcome::Requested),
                "requested from their controller"
            ),
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
