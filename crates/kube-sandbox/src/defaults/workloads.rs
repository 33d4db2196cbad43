//! Workloads: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs.

use serde_json::{Map, Value, json};

use super::other_kinds::default_pvc;
use super::pod::default_pod_template;
use super::{
    CRON_JOB_SPEC, DAEMON_SET_SPEC, DEPLOYMENT_SPEC, JOB_SPEC, OBJECT_META, PVC_SPEC,
    REPLICA_SET_SPEC, STATEFUL_SET_SPEC, TEMPLATE, TOP, child_mut, default_field,
    default_status_counters, default_str, ensure_obj, insert_ordered, missing, missing_str,
    objects_mut, reorder, sort_map,
};

/// Empty `status: {}`: the Go status struct is a value, serialized even when empty.
fn empty_status(root: &mut Map<String, Value>) {
    ensure_obj(root, "status", TOP);
}

/// A Deployment's `strategy` or a DaemonSet's `updateStrategy`: type `RollingUpdate` unless set,
/// and then `rollingUpdate.maxUnavailable` and `maxSurge` unless set.
fn default_rolling_update(
    strategy: &mut Map<String, Value>,
    max_unavailable: Value,
    max_surge: Value,
) {
    const STRATEGY: &[&str] = &["type", "rollingUpdate"];
    const ROLLING_UPDATE: &[&str] = &["maxUnavailable", "maxSurge"];
    default_str(strategy, STRATEGY, "type", "RollingUpdate");
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = ensure_obj(strategy, "rollingUpdate", STRATEGY);
        default_field(ru, ROLLING_UPDATE, "maxUnavailable", max_unavailable);
        default_field(ru, ROLLING_UPDATE, "maxSurge", max_surge);
    }
}

/// `SetDefaults_Deployment` (apps/v1).
pub(super) fn default_deployment(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_field(spec, DEPLOYMENT_SPEC, "replicas", json!(1));
    default_pod_template(ensure_obj(spec, "template", DEPLOYMENT_SPEC), false);
    let strategy = ensure_obj(spec, "strategy", DEPLOYMENT_SPEC);
    default_rolling_update(strategy, json!("25%"), json!("25%"));
    default_field(spec, DEPLOYMENT_SPEC, "revisionHistoryLimit", json!(10));
    default_field(spec, DEPLOYMENT_SPEC, "progressDeadlineSeconds", json!(600));
    empty_status(root);
}

/// `SetDefaults_StatefulSet` (apps/v1), with the StatefulSetAutoDeletePVC gate on (GA in 1.32).
pub(super) fn default_stateful_set(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_field(spec, STATEFUL_SET_SPEC, "replicas", json!(1));
    default_pod_template(ensure_obj(spec, "template", STATEFUL_SET_SPEC), false);
    for pvc in objects_mut(spec, "volumeClaimTemplates") {
        // The claim templates are full PersistentVolumeClaims: TypeMeta is filled in, and the
        // PVC defaulters run (volumeMode, status.phase Pending).
        default_str(pvc, TOP, "apiVersion", "v1");
        default_str(pvc, TOP, "kind", "PersistentVolumeClaim");
        let meta = ensure_obj(pvc, "metadata", TOP);
        if !meta.contains_key("creationTimestamp") {
            insert_ordered(meta, OBJECT_META, "creationTimestamp", Value::Null);
        }
        default_pvc(pvc);
        reorder(pvc, TOP);
        if let Some(spec) = child_mut(pvc, "spec") {
            reorder(spec, PVC_SPEC);
        }
    }
    default_str(
        spec,
        STATEFUL_SET_SPEC,
        "podManagementPolicy",
        "OrderedReady",
    );
    let strategy = ensure_obj(spec, "updateStrategy", STATEFUL_SET_SPEC);
    if missing_str(strategy, "type") {
        default_str(
            strategy,
            &["type", "rollingUpdate"],
            "type",
            "RollingUpdate",
        );
        ensure_obj(strategy, "rollingUpdate", &["type", "rollingUpdate"]);
    }
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
        && let Some(ru) = child_mut(strategy, "rollingUpdate")
    {
        default_field(ru, &["partition", "maxUnavailable"], "partition", json!(0));
    }
    default_field(spec, STATEFUL_SET_SPEC, "revisionHistoryLimit", json!(10));
    let retention = ensure_obj(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        STATEFUL_SET_SPEC,
    );
    default_str(
        retention,
        &["whenDeleted", "whenScaled"],
        "whenDeleted",
        "Retain",
    );
    default_str(
        retention,
        &["whenDeleted", "whenScaled"],
        "whenScaled",
        "Retain",
    );
    // StatefulSetStatus.replicas and availableReplicas have no omitempty.
    let order = &[
        "observedGeneration",
        "replicas",
        "conditions",
        "availableReplicas",
    ];
    default_status_counters(root, order, &["replicas", "availableReplicas"]);
}

/// `SetDefaults_DaemonSet` (apps/v1).
pub(super) fn default_daemon_set(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_pod_template(ensure_obj(spec, "template", DAEMON_SET_SPEC), false);
    let strategy = ensure_obj(spec, "updateStrategy", DAEMON_SET_SPEC);
    default_rolling_update(strategy, json!(1), json!(0));
    default_field(spec, DAEMON_SET_SPEC, "revisionHistoryLimit", json!(10));
    // DaemonSetStatus's four counters have no omitempty.
    let counters = &[
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
    ];
    default_status_counters(root, DAEMON_SET_STATUS, counters);
}

/// `apps/v1.DaemonSetStatus` field order.
pub(crate) const DAEMON_SET_STATUS: &[&str] = &[
    "currentNumberScheduled",
    "numberMisscheduled",
    "desiredNumberScheduled",
    "numberReady",
    "observedGeneration",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
    "collisionCount",
    "conditions",
];

/// `SetDefaults_ReplicaSet` (apps/v1).
pub(super) fn default_replica_set(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_field(spec, REPLICA_SET_SPEC, "replicas", json!(1));
    default_pod_template(ensure_obj(spec, "template", REPLICA_SET_SPEC), false);
    default_status_counters(root, &["replicas"], &["replicas"]);
}

/// `SetDefaults_Job` (batch/v1, JobPodReplacementPolicy on) and the job strategy's selector
/// generation (`generateSelector` in pkg/registry/batch/job/strategy.go).
pub(super) fn default_job(root: &mut Map<String, Value>, minor: u32) {
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uid = root
        .get("metadata")
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let spec = ensure_obj(root, "spec", TOP);
    if missing(spec, "completions") && missing(spec, "parallelism") {
        default_field(spec, JOB_SPEC, "completions", json!(1));
    }
    default_field(spec, JOB_SPEC, "parallelism", json!(1));
    let per_index = !missing(spec, "backoffLimitPerIndex");
    default_field(
        spec,
        JOB_SPEC,
        "backoffLimit",
        json!(if per_index { i32::MAX } else { 6 }),
    );
    default_str(spec, JOB_SPEC, "completionMode", "NonIndexed");
    default_field(spec, JOB_SPEC, "suspend", json!(false));
    if let Some(pfp) = child_mut(spec, "podFailurePolicy") {
        for rule in objects_mut(pfp, "rules") {
            for pattern in objects_mut(rule, "onPodConditions") {
                default_str(pattern, &["type", "status"], "status", "True");
            }
        }
    }
    let replacement = if missing(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    // JobPodReplacementPolicy: alpha (off) in 1.28, on by default from 1.29.
    if minor >= 29 {
        default_str(spec, JOB_SPEC, "podReplacementPolicy", replacement);
    }
    default_field(spec, JOB_SPEC, "manualSelector", json!(false));
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    let tpl = ensure_obj(spec, "template", JOB_SPEC);
    default_pod_template(tpl, false);
    if !manual && !uid.is_empty() {
        let meta = ensure_obj(tpl, "metadata", TEMPLATE);
        let labels = ensure_obj(meta, "labels", OBJECT_META);
        for key in ["job-name", "batch.kubernetes.io/job-name"] {
            labels
                .entry(key)
                .or_insert_with(|| Value::String(name.clone()));
        }
        for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
            labels
                .entry(key)
                .or_insert_with(|| Value::String(uid.clone()));
        }
        sort_map(labels);
        let selector = ensure_obj(spec, "selector", JOB_SPEC);
        let match_labels = ensure_obj(
            selector,
            "matchLabels",
            &["matchLabels", "matchExpressions"],
        );
        match_labels
            .entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| Value::String(uid.clone()));
        sort_map(match_labels);
    }
    // SetDefaults_Job copies the template labels onto a Job that has none (it runs again when
    // the stored object is read, so the generated labels show there too).
    let template_labels = root
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(tl) = template_labels {
        let meta = ensure_obj(root, "metadata", TOP);
        let empty = meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if empty {
            meta.remove("labels");
            insert_ordered(meta, OBJECT_META, "labels", tl);
        }
    }
    empty_status(root);
}

/// `SetDefaults_CronJob` (batch/v1); the job template only gets pod spec defaults.
pub(super) fn default_cron_job(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_str(spec, CRON_JOB_SPEC, "concurrencyPolicy", "Allow");
    default_field(spec, CRON_JOB_SPEC, "suspend", json!(false));
    let jt = ensure_obj(spec, "jobTemplate", CRON_JOB_SPEC);
    let meta = ensure_obj(jt, "metadata", TEMPLATE);
    if !meta.contains_key("creationTimestamp") {
        insert_ordered(meta, OBJECT_META, "creationTimestamp", Value::Null);
    }
    let job_spec = ensure_obj(jt, "spec", TEMPLATE);
    default_pod_template(ensure_obj(job_spec, "template", JOB_SPEC), false);
    default_field(spec, CRON_JOB_SPEC, "successfulJobsHistoryLimit", json!(3));
    default_field(spec, CRON_JOB_SPEC, "failedJobsHistoryLimit", json!(1));
    empty_status(root);
}
