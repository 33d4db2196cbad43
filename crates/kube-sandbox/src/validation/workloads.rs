//! apps/v1 and batch/v1 workloads: replicas, selectors matching their pod templates,
//! Deployment strategies, Job specs.

use serde_json::{Map, Value};

use super::pod::validate_pod_spec;
use super::{Errors, go_label_selector, go_string_map, validate_labels};
use crate::kinds::KindInfo;
use crate::selectors::match_expressions;

fn validate_replicas(spec: Option<&Value>, errs: &mut Errors) {
    if let Some(r) = spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64)
        && r < 0
    {
        errs.invalid(
            "spec.replicas",
            &r.to_string(),
            "must be greater than or equal to 0",
        );
    }
}

/// Whether a label selector (matchLabels + matchExpressions) matches `labels`.
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if labels.get(k) != Some(v) {
                return false;
            }
        }
    }
    for expr in match_expressions(selector) {
        let actual = labels.get(expr.key).and_then(Value::as_str);
        let ok = match expr.operator {
            "In" => actual.is_some_and(|a| expr.values.contains(&a)),
            "NotIn" => actual.is_none_or(|a| !expr.values.contains(&a)),
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `<path>.template.metadata.labels` must match `selector`.
fn check_template_selected(
    selector: &Value,
    labels: Option<&Map<String, Value>>,
    path: &str,
    errs: &mut Errors,
) {
    let empty = Map::new();
    if !selector_matches(selector, labels.unwrap_or(&empty)) {
        errs.invalid(
            &format!("{path}.template.metadata.labels"),
            &go_string_map(labels),
            "`selector` does not match template `labels`",
        );
    }
}

/// Whether a selector selects nothing (no matchLabels and no matchExpressions).
fn selector_is_empty(selector: &Value) -> bool {
    let empty = |k: &str| {
        selector
            .get(k)
            .and_then(Value::as_object)
            .map(Map::is_empty)
            .or_else(|| selector.get(k).and_then(Value::as_array).map(Vec::is_empty))
            .unwrap_or(true)
    };
    empty("matchLabels") && empty("matchExpressions")
}

/// apps/v1 workloads: selector required, non-empty, matching the template labels; the pod
/// template's restart policy among `restart_policies`. `noun` names the kind in messages.
pub(super) fn validate_selected_template(
    spec: Option<&Value>,
    noun: &str,
    restart_policies: &[&str],
    errs: &mut Errors,
) {
    let path = "spec";
    let selector = spec
        .and_then(|s| s.get("selector"))
        .filter(|s| !s.is_null());
    let template = spec.and_then(|s| s.get("template"));
    let labels = template
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object);
    match selector {
        None => errs.required(&format!("{path}.selector"), ""),
        Some(sel) if selector_is_empty(sel) => errs.invalid(
            &format!("{path}.selector"),
            &go_label_selector(Some(sel)),
            &format!("empty selector is invalid for {noun}"),
        ),
        Some(sel) => check_template_selected(sel, labels, path, errs),
    }
    if let Some(labels) = labels {
        validate_labels(labels, &format!("{path}.template.labels"), errs);
    }
    match template.and_then(|t| t.get("spec")) {
        Some(pod) => validate_pod_spec(
            pod,
            &format!("{path}.template.spec"),
            Some(restart_policies),
            errs,
        ),
        None => errs.required(&format!("{path}.template.spec.containers"), ""),
    }
}

/// `ValidateDeploymentStrategy` and `ValidateRollingUpdateDeployment` (the common rules).
fn validate_deployment_strategy(spec: Option<&Value>, errs: &mut Errors) {
    let Some(strategy) = spec.and_then(|s| s.get("strategy")) else {
        return;
    };
    let rolling = strategy.get("rollingUpdate").filter(|r| !r.is_null());
    match strategy.get("type").and_then(Value::as_str).unwrap_or("") {
        "Recreate" => {
            if rolling.is_some() {
                errs.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        "RollingUpdate" => {
            let zero = |k: &str| {
                rolling
                    .and_then(|r| r.get(k))
                    .is_some_and(|v| v.as_i64() == Some(0) || v.as_str() == Some("0%"))
            };
            if zero("maxUnavailable") && zero("maxSurge") {
                let shown = rolling
                    .and_then(|r| r.get("maxUnavailable"))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                errs.invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    &shown,
                    "may not be 0 when `maxSurge` is 0",
                );
            }
        }
        other => errs.unsupported("spec.strategy", other, &["Recreate", "RollingUpdate"]),
    }
}

/// Job spec: parallelism/completions/backoffLimit >= 0, selector matching the template (when
/// generated it always does), restart policy OnFailure or Never.
pub(super) fn validate_job_spec(spec: Option<&Value>, path: &str, errs: &mut Errors) {
    for key in ["parallelism", "completions", "backoffLimit"] {
        if let Some(v) = spec.and_then(|s| s.get(key)).and_then(Value::as_i64)
            && v < 0
        {
            errs.invalid(
                &format!("{path}.{key}"),
                &v.to_string(),
                "must be greater than or equal to 0",
            );
        }
    }
    let manual = spec
        .and_then(|s| s.get("manualSelector"))
        .and_then(Value::as_bool)
        == Some(true);
    let selector = spec
        .and_then(|s| s.get("selector"))
        .filter(|s| !s.is_null());
    let labels = spec
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object);
    match selector {
        None if manual => errs.required(&format!("{path}.selector"), ""),
        None => {}
        Some(sel) => check_template_selected(sel, labels, path, errs),
    }
    validate_job_template(spec, path, errs);
}

/// The pod template of a Job or a CronJob's job template.
fn validate_job_template(spec: Option<&Value>, path: &str, errs: &mut Errors) {
    match spec
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"))
    {
        Some(pod) => validate_pod_spec(
            pod,
            &format!("{path}.template.spec"),
            Some(&["OnFailure", "Never"]),
            errs,
        ),
        None => errs.required(&format!("{path}.template.spec.containers"), ""),
    }
}

/// Deployments, ReplicaSets, StatefulSets: replicas, the selected template, a Deployment's strategy.
pub(super) fn validate_apps_workload(kind: &KindInfo, spec: Option<&Value>, errs: &mut Errors) {
    validate_replicas(spec, errs);
    let noun = if kind.kind == "StatefulSet" {
        "statefulset"
    } else {
        "deployment"
    };
    validate_selected_template(spec, noun, &["Always"], errs);
    if kind.kind == "Deployment" {
        validate_deployment_strategy(spec, errs);
    }
}

/// CronJobs: a schedule, and the job template as a Job's.
pub(super) fn validate_cron_job(spec: Option<&Value>, errs: &mut Errors) {
    let schedule = spec.and_then(|s| s.get("schedule")).and_then(Value::as_str);
    if schedule.is_none_or(str::is_empty) {
        errs.required("spec.schedule", "");
    }
    let job_spec = spec
        .and_then(|s| s.get("jobTemplate"))
        .and_then(|t| t.get("spec"));
    validate_job_template(job_spec, "spec.jobTemplate.spec", errs);
}
