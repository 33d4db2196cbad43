//! What the controllers would make of a workload: the status it converges to.
//!
//! Shapes and messages follow the kubernetes v1.33 controllers: `pkg/controller/deployment`
//! (`util.NewDeploymentCondition`, reasons `MinimumReplicasAvailable` and
//! `NewReplicaSetAvailable`), `pkg/controller/statefulset`, `pkg/controller/daemon`,
//! `pkg/controller/replicaset`, `pkg/controller/job` (`CompletionsReached`), on a sandbox that
//! pretends to have one ready node. Status keys follow the Go struct field order.

use serde_json::{Map, Value, json};

use super::kinds::KindInfo;
use super::naming::safe_suffix;

/// The status `obj` converges to once its controller has caught up, or `None` when the kind has
/// no controller in the sandbox (or never becomes healthy, e.g. an image on a `.invalid` host).
pub fn converged_status(kind: &KindInfo, obj: &Value) -> Option<Value> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    converged_status_at(kind, obj, &now)
}

/// [`converged_status`] with the time to stamp on new conditions (RFC 3339, seconds).
pub fn converged_status_at(kind: &KindInfo, obj: &Value, now: &str) -> Option<Value> {
    let pod_spec = match (kind.group.as_str(), kind.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            obj.get("spec")?.get("template")?.get("spec")?
        }
        _ => return None,
    };
    if !pod_spec_can_run(pod_spec) {
        return None;
    }
    let spec = obj.get("spec")?;
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let generation = obj
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let replicas = spec.get("replicas").and_then(Value::as_i64).unwrap_or(1);
    let old = obj.get("status");
    let status = match kind.kind.as_str() {
        "Deployment" if spec.get("paused").and_then(Value::as_bool) == Some(true) => {
            paused_deployment_status(generation, old, now)
        }
        "Deployment" => deployment_status(spec, name, generation, replicas, old, now),
        "StatefulSet" => stateful_set_status(spec, name, generation, replicas),
        "DaemonSet" => daemon_set_status(generation),
        "ReplicaSet" => replica_set_status(generation, replicas),
        _ => {
            let created = obj
                .get("metadata")
                .and_then(|m| m.get("creationTimestamp"))
                .and_then(Value::as_str);
            job_status(spec, old, created.unwrap_or(now), now)
        }
    };
    Some(status)
}

/// False when some image of the pod spec is on a host ending `.invalid` (RFC 2606): the
/// sandbox's analogue of an image that never pulls.
pub fn pod_spec_can_run(pod_spec: &Value) -> bool {
    !["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod_spec.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .any(|image| image_host(image).is_some_and(|h| h.ends_with(".invalid")))
}

/// The registry host of an image reference, as docker's reference parser decides it: the first
/// path component when it has a '.' or ':' or is `localhost`; the port is dropped.
fn image_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    if !is_host {
        return None;
    }
    Some(first.split(':').next().unwrap_or(first))
}

/// A stable 10-character name suffix from the pod template, in the alphabet kube uses for
/// `pod-template-hash` (`rand.SafeEncodeString`). Not kube's FNV-of-spew value, which cannot be
/// reproduced outside Go, but stable for a given template.
pub fn template_hash(template: &Value) -> String {
    safe_suffix(&template.to_string(), 10)
}

/// The existing condition of `ctype` with the same status, kept so that times do not move.
fn kept_condition<'a>(old: Option<&'a Value>, ctype: &str, status: &str) -> Option<&'a Value> {
    old?.get("conditions")?.as_array()?.iter().find(|c| {
        c.get("type").and_then(Value::as_str) == Some(ctype)
            && c.get("status").and_then(Value::as_str) == Some(status)
    })
}

/// Inserts `key: n` unless `n` is 0 (Go `omitempty` on int32).
fn put_nonzero(map: &mut Map<String, Value>, key: &str, n: i64) {
    if n != 0 {
        map.insert(key.into(), json!(n));
    }
}

fn deployment_status(
    spec: &Value,
    name: &str,
    generation: i64,
    replicas: i64,
    old: Option<&Value>,
    now: &str,
) -> Value {
    let mut s = Map::new();
    s.insert("observedGeneration".into(), json!(generation));
    for key in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        put_nonzero(&mut s, key, replicas);
    }
    let available = match kept_condition(old, "Available", "True") {
        Some(c) => c.clone(),
        None => json!({"type": "Available", "status": "True", "lastUpdateTime": now,
            "lastTransitionTime": now, "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability."}),
    };
    let rs_name = format!(
        "{name}-{}",
        template_hash(spec.get("template").unwrap_or(&Value::Null))
    );
    let message = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
    // The Progressing condition keeps its transition time while it stays True, but its
    // message and update time follow the newest ReplicaSet.
    let progressing = match kept_condition(old, "Progressing", "True") {
        Some(c) if c.get("message").and_then(Value::as_str) == Some(message.as_str()) => c.clone(),
        Some(c) => {
            let since = c.get("lastTransitionTime").cloned().unwrap_or(json!(now));
            json!({"type": "Progressing", "status": "True", "lastUpdateTime": now,
                "lastTransitionTime": since, "reason": "NewReplicaSetAvailable",
                "message": message})
        }
        None => json!({"type": "Progressing", "status": "True", "lastUpdateTime": now,
            "lastTransitionTime": now, "reason": "NewReplicaSetAvailable", "message": message}),
    };
    s.insert("conditions".into(), json!([available, progressing]));
    Value::Object(s)
}

/// A paused Deployment does not roll out: its counters stay, its generation is observed and
/// Progressing turns Unknown with reason DeploymentPaused (`util.NewDeploymentCondition` in
/// `syncStatusOnly` / `checkPausedConditions`).
fn paused_deployment_status(generation: i64, old: Option<&Value>, now: &str) -> Value {
    let mut s = old.and_then(Value::as_object).cloned().unwrap_or_default();
    s.shift_insert(0, "observedGeneration".into(), json!(generation));
    let mut conditions: Vec<Value> = s
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let paused = match kept_condition(old, "Progressing", "Unknown") {
        Some(c) if c.get("reason").and_then(Value::as_str) == Some("DeploymentPaused") => c.clone(),
        _ => json!({"type": "Progressing", "status": "Unknown", "lastUpdateTime": now,
            "lastTransitionTime": now, "reason": "DeploymentPaused",
            "message": "Deployment is paused"}),
    };
    match conditions
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
    {
        Some(c) => *c = paused,
        None => conditions.push(paused),
    }
    s.insert("conditions".into(), Value::Array(conditions));
    Value::Object(s)
}

fn stateful_set_status(spec: &Value, name: &str, generation: i64, replicas: i64) -> Value {
    let revision = format!(
        "{name}-{}",
        template_hash(spec.get("template").unwrap_or(&Value::Null))
    );
    let mut s = Map::new();
    s.insert("observedGeneration".into(), json!(generation));
    s.insert("replicas".into(), json!(replicas));
    put_nonzero(&mut s, "readyReplicas", replicas);
    put_nonzero(&mut s, "currentReplicas", replicas);
    put_nonzero(&mut s, "updatedReplicas", replicas);
    s.insert("currentRevision".into(), json!(revision));
    s.insert("updateRevision".into(), json!(revision));
    s.insert("collisionCount".into(), json!(0));
    s.insert("availableReplicas".into(), json!(replicas));
    Value::Object(s)
}

fn daemon_set_status(generation: i64) -> Value {
    json!({"currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1,
        "numberReady": 1, "observedGeneration": generation, "updatedNumberScheduled": 1,
        "numberAvailable": 1})
}

fn replica_set_status(generation: i64, replicas: i64) -> Value {
    let mut s = Map::new();
    s.insert("replicas".into(), json!(replicas));
    put_nonzero(&mut s, "fullyLabeledReplicas", replicas);
    put_nonzero(&mut s, "readyReplicas", replicas);
    put_nonzero(&mut s, "availableReplicas", replicas);
    s.insert("observedGeneration".into(), json!(generation));
    Value::Object(s)
}

/// `started` is when the Job started running (its creation: the sandbox starts pods at once).
fn job_status(spec: &Value, old: Option<&Value>, started: &str, now: &str) -> Value {
    if spec.get("suspend").and_then(Value::as_bool) == Some(true) {
        let cond = match kept_condition(old, "Suspended", "True") {
            Some(c) => c.clone(),
            None => json!({"type": "Suspended", "status": "True", "lastProbeTime": now,
                "lastTransitionTime": now, "reason": "JobSuspended", "message": "Job suspended"}),
        };
        return json!({"conditions": [cond], "active": 0, "terminating": 0,
            "uncountedTerminatedPods": {}, "ready": 0});
    }
    let completions = spec
        .get("completions")
        .and_then(Value::as_i64)
        .or_else(|| spec.get("parallelism").and_then(Value::as_i64))
        .unwrap_or(1);
    let condition = |ctype: &str| match kept_condition(old, ctype, "True") {
        Some(c) => c.clone(),
        None => json!({"type": ctype, "status": "True", "lastProbeTime": now,
            "lastTransitionTime": now, "reason": "CompletionsReached",
            "message": "Reached expected number of succeeded pods"}),
    };
    let time = |key: &str, default: &str| {
        old.and_then(|o| o.get(key))
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or(json!(default))
    };
    let mut s = Map::new();
    s.insert(
        "conditions".into(),
        json!([condition("SuccessCriteriaMet"), condition("Complete")]),
    );
    s.insert("startTime".into(), time("startTime", started));
    s.insert("completionTime".into(), time("completionTime", now));
    put_nonzero(&mut s, "succeeded", completions);
    s.insert("terminating".into(), json!(0));
    if spec.get("completionMode").and_then(Value::as_str) == Some("Indexed") && completions > 0 {
        let indexes = if completions == 1 {
            "0".to_string()
        } else {
            format!("0-{}", completions - 1)
        };
        s.insert("completedIndexes".into(), json!(indexes));
    }
    s.insert("uncountedTerminatedPods".into(), json!({}));
    s.insert("ready".into(), json!(0));
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_named as kind;

    const NOW: &str = "2026-01-02T03:04:05Z";

    fn workload(replicas: i64, image: &str) -> Value {
        json!({"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "web", "image": image}]}}}})
    }

    // pkg/controller/deployment/sync.go + util/deployment_util.go (1.33): a complete rollout.
    #[test]
    fn deployment_converges_available_and_progressing() {
        let s = converged_status_at(&kind("Deployment"), &workload(3, "nginx:1.27"), NOW).unwrap();
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "observedGeneration",
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
                "conditions"
            ]
        );
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(s["availableReplicas"], 3);
        let available = &s["conditions"][0];
        assert_eq!(available["reason"], "MinimumReplicasAvailable");
        assert_eq!(available["message"], "Deployment has minimum availability.");
        let progressing = &s["conditions"][1];
        assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
        let msg = progressing["message"].as_str().unwrap();
        assert!(
            msg.starts_with("ReplicaSet \"web-")
                && msg.ends_with("\" has successfully progressed.")
        );
    }

    #[test]
    fn scaled_to_zero_omits_counters_and_keeps_condition_times() {
        let mut d = workload(0, "nginx");
        let first = converged_status_at(&kind("Deployment"), &d, NOW).unwrap();
        assert!(first.get("replicas").is_none());
        d["status"] = first.clone();
        let again = converged_status_at(&kind("Deployment"), &d, "2030-01-01T00:00:00Z").unwrap();
        assert_eq!(again["conditions"], first["conditions"]);
    }

    #[test]
    fn paused_deployment_keeps_counters_and_says_paused() {
        let mut d = workload(3, "nginx:1.27");
        let healthy = converged_status_at(&kind("Deployment"), &d, NOW).unwrap();
        d["status"] = healthy.clone();
        d["spec"]["paused"] = json!(true);
        d["spec"]["replicas"] = json!(5);
        let s = converged_status_at(&kind("Deployment"), &d, NOW).unwrap();
        assert_eq!(s["availableReplicas"], 3);
        assert_eq!(s["conditions"][0], healthy["conditions"][0]);
        assert_eq!(s["conditions"][1]["status"], "Unknown");
        assert_eq!(s["conditions"][1]["reason"], "DeploymentPaused");
        assert_eq!(s["conditions"][1]["message"], "Deployment is paused");
    }

    #[test]
    fn invalid_hosts_never_converge() {
        let cases = [
            ("registry.invalid/app:1", false),
            ("registry.invalid:5000/app:1", false),
            ("docker.io/library/nginx:1.27", true),
            ("app.invalid", true), // no registry host: a Docker Hub repository name
            ("nginx", true),
        ];
        for (image, healthy) in cases {
            let s = converged_status_at(&kind("Deployment"), &workload(1, image), NOW);
            assert_eq!(s.is_some(), healthy, "{image}");
        }
    }

    #[test]
    fn kinds_without_controller_have_none() {
        for k in ["ConfigMap", "Service", "CronJob", "Pod"] {
            assert!(
                converged_status_at(&kind(k), &workload(1, "nginx"), NOW).is_none(),
                "{k}"
            );
        }
    }

    #[test]
    fn other_workloads() {
        let sts = converged_status_at(&kind("StatefulSet"), &workload(2, "nginx"), NOW).unwrap();
        assert_eq!(sts["readyReplicas"], 2);
        assert_eq!(sts["currentRevision"], sts["updateRevision"]);
        let ds = converged_status_at(&kind("DaemonSet"), &workload(1, "nginx"), NOW).unwrap();
        assert_eq!(ds["desiredNumberScheduled"], 1);
        assert_eq!(ds["numberAvailable"], 1);
        let rs = converged_status_at(&kind("ReplicaSet"), &workload(4, "nginx"), NOW).unwrap();
        assert_eq!(rs["fullyLabeledReplicas"], 4);
    }

    // pkg/controller/job/job_controller.go (1.33): SuccessCriteriaMet then Complete, both
    // CompletionsReached.
    #[test]
    fn job_completes() {
        let job = json!({"metadata": {"name": "pi", "creationTimestamp": "2026-01-02T03:04:00Z"},
            "spec": {"completions": 3, "parallelism": 1,
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}});
        let s = converged_status_at(&kind("Job"), &job, NOW).unwrap();
        assert_eq!(s["succeeded"], 3);
        assert_eq!(s["conditions"][0]["type"], "SuccessCriteriaMet");
        assert_eq!(s["conditions"][1]["type"], "Complete");
        assert_eq!(
            s["conditions"][1]["message"],
            "Reached expected number of succeeded pods"
        );
        assert_eq!(s["completionTime"], NOW);
        assert_eq!(s["startTime"], "2026-01-02T03:04:00Z");
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let a = template_hash(&json!({"spec": {"image": "a"}}));
        assert_eq!(a, template_hash(&json!({"spec": {"image": "a"}})));
        assert_ne!(a, template_hash(&json!({"spec": {"image": "b"}})));
        assert_eq!(a.len(), 10);
    }
}
