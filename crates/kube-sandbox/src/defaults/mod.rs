//! Server defaulting, as kube-apiserver 1.33 applies it, so that defaulted fields appear live.
//!
//! Sources (kubernetes v1.33): `pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go`,
//! `pkg/apis/batch/v1/defaults.go`, `pkg/apis/autoscaling/v2/defaults.go`,
//! `pkg/apis/networking/v1/defaults.go`, the `zz_generated.defaults.go` beside them, the
//! registry strategies (Job selector generation, Namespace finalizer, Service IP allocation) and
//! the admission plugins a default cluster runs on Pods (ServiceAccount, Priority,
//! DefaultTolerationSeconds).
//!
//! Keys are inserted where the Go struct declares them, because the real server serializes its
//! structs in field order; maps (labels) are kept sorted because Go serializes maps sorted.

use serde_json::{Map, Value, json};

use super::kinds::KindInfo;

mod other_kinds;
mod pod;
mod service;
mod workloads;

use other_kinds::{
    default_crd, default_endpoints, default_hpa, default_limit_range_item, default_namespace,
    default_network_policy, default_pv, default_pvc, default_secret,
};
use pod::default_pod;
pub use pod::default_pull_policy;
use service::default_service;
use workloads::{
    default_cron_job, default_daemon_set, default_deployment, default_job, default_replica_set,
    default_stateful_set,
};

/// Allocates Service cluster IPs (kept by the store so that they stay unique).
pub trait ClusterIpAllocator {
    /// A free IPv4 address in the service range (10.96.0.0/12).
    fn allocate(&mut self) -> String;

    /// A free node port in the default range 30000-32767. The default picks one at random;
    /// stores that track used ports override it.
    fn allocate_node_port(&mut self) -> u16 {
        rand::random_range(30000..=32767)
    }
}

/// Top-level field order of an object (TypeMeta, ObjectMeta, then the kind's own fields).
const TOP: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "immutable",
    "data",
    "binaryData",
    "stringData",
    "type",
    "spec",
    "status",
];

/// `metav1.ObjectMeta` field order.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// `apps/v1.DeploymentSpec` field order.
const DEPLOYMENT_SPEC: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "paused",
    "progressDeadlineSeconds",
];

/// `apps/v1.StatefulSetSpec` field order.
const STATEFUL_SET_SPEC: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "volumeClaimTemplates",
    "serviceName",
    "podManagementPolicy",
    "updateStrategy",
    "revisionHistoryLimit",
    "minReadySeconds",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
];

/// `apps/v1.DaemonSetSpec` field order.
const DAEMON_SET_SPEC: &[&str] = &[
    "selector",
    "template",
    "updateStrategy",
    "minReadySeconds",
    "revisionHistoryLimit",
];

/// `apps/v1.ReplicaSetSpec` field order.
const REPLICA_SET_SPEC: &[&str] = &["replicas", "minReadySeconds", "selector", "template"];

/// `batch/v1.JobSpec` field order.
const JOB_SPEC: &[&str] = &[
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "podFailurePolicy",
    "successPolicy",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "selector",
    "manualSelector",
    "template",
    "ttlSecondsAfterFinished",
    "completionMode",
    "suspend",
    "podReplacementPolicy",
    "managedBy",
];

/// `batch/v1.CronJobSpec` field order.
const CRON_JOB_SPEC: &[&str] = &[
    "schedule",
    "timeZone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "suspend",
    "jobTemplate",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
];

/// `core/v1.PodTemplateSpec` / `JobTemplateSpec` field order.
const TEMPLATE: &[&str] = &["metadata", "spec"];

/// `core/v1.PodSpec` field order.
const POD_SPEC: &[&str] = &[
    "volumes",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
];

/// `core/v1.Container` field order.
const CONTAINER: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "targetContainerName",
];

/// `core/v1.ContainerPort` field order.
const CONTAINER_PORT: &[&str] = &["name", "hostPort", "containerPort", "protocol", "hostIP"];

/// `core/v1.Probe` field order (ProbeHandler inlined first).
const PROBE: &[&str] = &[
    "exec",
    "httpGet",
    "tcpSocket",
    "grpc",
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
];

/// `core/v1.HTTPGetAction` field order.
const HTTP_GET: &[&str] = &["path", "port", "host", "scheme", "httpHeaders"];

/// `core/v1.ObjectFieldSelector` field order.
const FIELD_REF: &[&str] = &["apiVersion", "fieldPath"];

/// `core/v1.ServiceSpec` field order.
const SERVICE_SPEC: &[&str] = &[
    "ports",
    "selector",
    "clusterIP",
    "clusterIPs",
    "type",
    "externalIPs",
    "sessionAffinity",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "publishNotReadyAddresses",
    "sessionAffinityConfig",
    "ipFamilies",
    "ipFamilyPolicy",
    "allocateLoadBalancerNodePorts",
    "loadBalancerClass",
    "internalTrafficPolicy",
    "trafficDistribution",
];

/// `core/v1.ServicePort` field order.
const SERVICE_PORT: &[&str] = &[
    "name",
    "protocol",
    "appProtocol",
    "port",
    "targetPort",
    "nodePort",
];

/// `core/v1.PersistentVolumeClaimSpec` field order.
const PVC_SPEC: &[&str] = &[
    "accessModes",
    "selector",
    "resources",
    "volumeName",
    "storageClassName",
    "volumeMode",
    "dataSource",
    "dataSourceRef",
    "volumeAttributesClassName",
];

/// `core/v1.PersistentVolumeSpec` field order (sources elided: they come first).
const PV_SPEC: &[&str] = &[
    "capacity",
    "accessModes",
    "claimRef",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "mountOptions",
    "volumeMode",
    "nodeAffinity",
    "volumeAttributesClassName",
];

/// `autoscaling/v2.HorizontalPodAutoscalerSpec` field order.
const HPA_SPEC: &[&str] = &[
    "scaleTargetRef",
    "minReplicas",
    "maxReplicas",
    "metrics",
    "behavior",
];

/// `autoscaling/v2.HPAScalingRules` field order.
const HPA_RULES: &[&str] = &[
    "stabilizationWindowSeconds",
    "selectPolicy",
    "policies",
    "tolerance",
];

/// `networking/v1.NetworkPolicySpec` field order.
const NETWORK_POLICY_SPEC: &[&str] = &["podSelector", "ingress", "egress", "policyTypes"];

/// `apiextensions/v1.CustomResourceDefinitionSpec` field order.
const CRD_SPEC: &[&str] = &[
    "group",
    "names",
    "scope",
    "versions",
    "conversion",
    "preserveUnknownFields",
];

/// `apiextensions/v1.CustomResourceDefinitionNames` field order.
const CRD_NAMES: &[&str] = &[
    "plural",
    "singular",
    "shortNames",
    "kind",
    "listKind",
    "categories",
];

/// The Kubernetes minor version whose defaults [`apply_defaults`] fills.
pub const LATEST_MINOR: u32 = 33;

/// Fills defaulted fields of `obj` in place, as Kubernetes 1.[`LATEST_MINOR`] does. `old` is
/// the stored object on updates, so that immutable allocated values (Service clusterIP) are
/// kept.
pub fn apply_defaults(
    kind: &KindInfo,
    obj: &mut Value,
    old: Option<&Value>,
    ips: &mut dyn ClusterIpAllocator,
) {
    apply_defaults_for(kind, obj, old, ips, LATEST_MINOR);
}

/// [`apply_defaults`] as Kubernetes 1.`minor` fills them (the version the sandbox reports):
/// defaults of features that were not on by default yet are left out.
pub fn apply_defaults_for(
    kind: &KindInfo,
    obj: &mut Value,
    old: Option<&Value>,
    ips: &mut dyn ClusterIpAllocator,
    minor: u32,
) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("apps", "Deployment") => default_deployment(root),
        ("apps", "StatefulSet") => default_stateful_set(root),
        ("apps", "DaemonSet") => default_daemon_set(root),
        ("apps", "ReplicaSet") => default_replica_set(root),
        ("batch", "Job") => default_job(root, minor),
        ("batch", "CronJob") => default_cron_job(root),
        ("", "Pod") => default_pod(root, old.is_none()),
        ("", "Service") => default_service(root, old, ips),
        ("", "Namespace") => default_namespace(root),
        ("", "Secret") => default_secret(root),
        ("", "PersistentVolumeClaim") => default_pvc(root),
        ("", "PersistentVolume") => default_pv(root),
        ("", "Endpoints") => default_endpoints(root),
        ("", "ResourceQuota") => {
            if let Some(hard) = child_mut(root, "spec").and_then(|s| s.get_mut("hard")) {
                canonicalize_list(hard);
            }
        }
        ("", "LimitRange") => {
            if let Some(spec) = child_mut(root, "spec") {
                for item in objects_mut(spec, "limits") {
                    default_limit_range_item(item);
                }
            }
        }
        ("policy", "PodDisruptionBudget") => {
            // PodDisruptionBudgetStatus's counters have no omitempty.
            let order = &[
                "observedGeneration",
                "disruptedPods",
                "disruptionsAllowed",
                "currentHealthy",
                "desiredHealthy",
                "expectedPods",
                "conditions",
            ];
            let counters = &[
                "disruptionsAllowed",
                "currentHealthy",
                "desiredHealthy",
                "expectedPods",
            ];
            default_status_counters(root, order, counters);
        }
        ("autoscaling", "HorizontalPodAutoscaler") => default_hpa(root),
        ("networking.k8s.io", "NetworkPolicy") => default_network_policy(root),
        ("networking.k8s.io", "Ingress") => {
            ensure_obj(ensure_obj(root, "status", TOP), "loadBalancer", &[]);
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => default_crd(root),
        // SetDefaults_PriorityClass (scheduling/v1).
        ("scheduling.k8s.io", "PriorityClass") => {
            let order = &[
                "apiVersion",
                "kind",
                "metadata",
                "value",
                "globalDefault",
                "description",
                "preemptionPolicy",
            ];
            default_str(root, order, "preemptionPolicy", "PreemptLowerPriority");
        }
        // SetDefaults_StorageClass (storage/v1).
        ("storage.k8s.io", "StorageClass") => {
            let order = &[
                "apiVersion",
                "kind",
                "metadata",
                "provisioner",
                "parameters",
                "reclaimPolicy",
                "mountOptions",
                "allowVolumeExpansion",
                "volumeBindingMode",
                "allowedTopologies",
            ];
            default_str(root, order, "reclaimPolicy", "Delete");
            default_str(root, order, "volumeBindingMode", "Immediate");
        }
        _ => {}
    }
    if kind.group.is_empty() || !kind.group.contains('.') || kind.group.ends_with(".k8s.io") {
        reorder(root, TOP);
        if let Some(meta) = child_mut(root, "metadata") {
            order_object_meta(meta);
        }
        if let Some(spec) = child_mut(root, "spec")
            && let Some(order) = spec_order(&kind.kind)
        {
            reorder(spec, order);
        }
    }
}

/// The spec field order of the built-in kinds whose specs are defaulted.
fn spec_order(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Deployment" => DEPLOYMENT_SPEC,
        "StatefulSet" => STATEFUL_SET_SPEC,
        "DaemonSet" => DAEMON_SET_SPEC,
        "ReplicaSet" => REPLICA_SET_SPEC,
        "Job" => JOB_SPEC,
        "CronJob" => CRON_JOB_SPEC,
        "Pod" => POD_SPEC,
        "Service" => SERVICE_SPEC,
        "PersistentVolumeClaim" => PVC_SPEC,
        "HorizontalPodAutoscaler" => HPA_SPEC,
        "NetworkPolicy" => NETWORK_POLICY_SPEC,
        "CustomResourceDefinition" => CRD_SPEC,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Ordered insertion

/// Rank of `key` in `order`; keys the order does not name sort after every named key.
fn rank(order: &[&str], key: &str) -> usize {
    order.iter().position(|k| *k == key).unwrap_or(usize::MAX)
}

/// Inserts `key` before the first present key that the Go struct declares after it.
fn insert_ordered(map: &mut Map<String, Value>, order: &[&str], key: &str, value: Value) {
    let r = rank(order, key);
    let at = map.keys().position(|k| rank(order, k) > r);
    match at {
        Some(i) => {
            map.shift_insert(i, key.to_string(), value);
        }
        None => {
            map.insert(key.to_string(), value);
        }
    }
}

/// Whether `map[key]` is absent or `null` (Go's nil pointer / zero value).
fn missing(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_none_or(Value::is_null)
}

/// Whether `map[key]` is absent, null, or the empty string (Go's zero string).
fn missing_str(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
}

/// Reorders the keys Go declares into struct order (the real server re-serializes its structs);
/// keys the order does not name keep their relative order after them.
fn reorder(map: &mut Map<String, Value>, order: &[&str]) {
    let sorted = map
        .keys()
        .map(|k| rank(order, k))
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| w[0] <= w[1]);
    if sorted {
        return;
    }
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by_key(|(k, _)| rank(order, k));
    map.extend(entries);
}

/// Puts metadata keys in `metav1.ObjectMeta` field order, as the real server serializes them;
/// keys it does not declare follow in their own order.
pub(super) fn order_object_meta(meta: &mut Map<String, Value>) {
    reorder(meta, OBJECT_META);
}

/// Sets `map[key] = value` at its struct position when it is unset.
fn default_field(map: &mut Map<String, Value>, order: &[&str], key: &str, value: Value) {
    if missing(map, key) {
        map.remove(key);
        insert_ordered(map, order, key, value);
    }
}

/// Status counters whose Go fields have no omitempty: 0 unless set, so that even an empty
/// status shows them; `order` is the status struct's field order.
fn default_status_counters(root: &mut Map<String, Value>, order: &[&str], counters: &[&str]) {
    let status = ensure_obj(root, "status", TOP);
    for key in counters {
        default_field(status, order, key, json!(0));
    }
}

/// Like `default_field`, for string fields whose zero value `""` also counts as unset.
fn default_str(map: &mut Map<String, Value>, order: &[&str], key: &str, value: &str) {
    if missing_str(map, key) {
        map.remove(key);
        insert_ordered(map, order, key, Value::String(value.to_string()));
    }
}

/// The object at `map[key]`, created (at its struct position) when absent or not an object.
fn ensure_obj<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
    order: &[&str],
) -> &'a mut Map<String, Value> {
    if !map.get(key).is_some_and(Value::is_object) {
        map.remove(key);
        insert_ordered(map, order, key, Value::Object(Map::new()));
    }
    match map.get_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("an object was just inserted at {key}"),
    }
}

/// Mutable object children of an array field, skipping non-objects.
fn objects_mut<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Mutable object child, if present.
fn child_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// Rebuilds a string map with its keys sorted, as Go serializes `map[string]string`.
fn sort_map(map: &mut Map<String, Value>) {
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    map.extend(entries);
}

/// Canonicalizes every quantity of a `ResourceList` object in place (numbers become strings,
/// as `Quantity` serializes them); values that do not parse are left for validation.
pub fn canonicalize_list(list: &mut Value) {
    let Some(map) = list.as_object_mut() else {
        return;
    };
    for v in map.values_mut() {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if let Some(c) = k8s_model::quantity::canonical(&text) {
            *v = Value::String(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_named as kind;

    /// Hands out 10.96.0.10, 10.96.0.11, … and node ports from 30080 up.
    struct Seq(u32, u16);

    impl ClusterIpAllocator for Seq {
        fn allocate(&mut self) -> String {
            self.0 += 1;
            format!("10.96.0.{}", 9 + self.0)
        }
        fn allocate_node_port(&mut self) -> u16 {
            self.1 += 1;
            30079 + self.1
        }
    }

    fn defaulted(kind_name: &str, obj: Value) -> Value {
        let mut obj = obj;
        apply_defaults(&kind(kind_name), &mut obj, None, &mut Seq(0, 0));
        obj
    }

    /// Compares as serialized text, so that key order counts too.
    fn assert_json(actual: &Value, expected: &Value) {
        assert_eq!(
            serde_json::to_string_pretty(actual).unwrap(),
            serde_json::to_string_pretty(expected).unwrap()
        );
    }

    // Expected: `kubectl get deploy nginx -o json` on a 1.33 cluster for the docs' minimal
    // Deployment (concepts/workloads/controllers/deployment, nginx-deployment.yaml), minus
    // the store's metadata; key order is the Go struct order of apps/v1.Deployment.
    #[test]
    fn deployment_matches_a_real_server() {
        let out = defaulted(
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "nginx"},
                "spec": {"selector": {"matchLabels": {"app": "nginx"}},
                    "template": {"metadata": {"labels": {"app": "nginx"}},
                        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                            "ports": [{"containerPort": 80}]}]}}}}),
        );
        let expected = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx"},
            "spec": {"replicas": 1,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "imagePullPolicy": "IfNotPresent"}],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst",
                        "securityContext": {},
                        "schedulerName": "default-scheduler"}},
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600},
            "status": {}});
        assert_json(&out, &expected);
    }

    #[test]
    fn deployment_keeps_given_values_and_recreate_has_no_rolling_update() {
        let out = defaulted(
            "Deployment",
            json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"},
                "revisionHistoryLimit": 2, "template": {"spec": {"containers": []}}}}),
        );
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["spec"]["revisionHistoryLimit"], 2);
        assert_json(&out["spec"]["strategy"], &json!({"type": "Recreate"}));
    }

    // pkg/apis/core/v1/defaults.go SetDefaults_Container + util/parsers.ParseImageName.
    #[test]
    fn pull_policy_follows_the_tag() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry:5000/team/app", "Always"),
            ("registry:5000/team/app:v2", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
            ("nginx:latest@sha256:abcd", "Always"),
        ];
        for (image, policy) in cases {
            assert_eq!(default_pull_policy(image), policy, "{image}");
        }
    }

    // SetDefaults_StatefulSet (apps/v1), StatefulSetAutoDeletePVC GA: `kubectl get sts -o json`
    // of the docs' web StatefulSet (tutorials/stateful-application/basic-stateful-set).
    #[test]
    fn stateful_set_matches_a_real_server() {
        let out = defaulted(
            "StatefulSet",
            json!({"metadata": {"name": "web"},
                "spec": {"serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}},
                    "template": {"metadata": {"labels": {"app": "nginx"}},
                        "spec": {"containers": [{"name": "nginx", "image": "registry.k8s.io/nginx-slim:0.24"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "www"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        );
        let spec = &out["spec"];
        let keys: Vec<&String> = spec.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "replicas",
                "selector",
                "template",
                "volumeClaimTemplates",
                "serviceName",
                "podManagementPolicy",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy"
            ]
        );
        assert_json(
            &spec["updateStrategy"],
            &json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        );
        assert_json(
            &spec["persistentVolumeClaimRetentionPolicy"],
            &json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
        assert_json(
            &spec["volumeClaimTemplates"][0],
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "www", "creationTimestamp": null},
                "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"}}),
        );
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_json(
            &out["status"],
            &json!({"replicas": 0, "availableReplicas": 0}),
        );
    }

    // The docs' CronJob (concepts/workloads/controllers/cron-jobs, application/job/cronjob.yaml)
    // as `kubectl get cronjob hello -o json` shows it on 1.33: SetDefaults_CronJob plus pod
    // spec defaults in the job template, no Job defaults there.
    #[test]
    fn cron_job_matches_a_real_server() {
        let out = defaulted(
            "CronJob",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                    "containers": [{"name": "hello", "image": "busybox:1.28",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"]}],
                    "restartPolicy": "OnFailure"}}}}}}),
        );
        let expected = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello"},
            "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": false,
                "jobTemplate": {"metadata": {"creationTimestamp": null},
                    "spec": {"template": {"metadata": {"creationTimestamp": null},
                        "spec": {"containers": [{"name": "hello", "image": "busybox:1.28",
                            "command": ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"],
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent"}],
                            "restartPolicy": "OnFailure",
                            "terminationGracePeriodSeconds": 30,
                            "dnsPolicy": "ClusterFirst",
                            "securityContext": {},
                            "schedulerName": "default-scheduler"}}}},
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1},
            "status": {}});
        assert_json(&out, &expected);
    }

    // The docs' fluentd-elasticsearch DaemonSet (concepts/workloads/controllers/daemonset),
    // trimmed to its selector, template and one toleration, as a 1.33 server returns it.
    #[test]
    fn daemon_set_matches_a_real_server() {
        let out = defaulted(
            "DaemonSet",
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "fluentd-elasticsearch", "namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
                    "template": {"metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                        "spec": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                "operator": "Exists", "effect": "NoSchedule"}],
                            "containers": [{"name": "fluentd-elasticsearch",
                                "image": "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
                                "resources": {"limits": {"memory": "200Mi"},
                                    "requests": {"cpu": "100m", "memory": "200Mi"}},
                                "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"}]}],
                            "terminationGracePeriodSeconds": 30,
                            "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log"}}]}}}}),
        );
        let expected = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "fluentd-elasticsearch", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
                "template": {"metadata": {"creationTimestamp": null,
                        "labels": {"name": "fluentd-elasticsearch"}},
                    "spec": {"volumes": [{"name": "varlog",
                            "hostPath": {"path": "/var/log", "type": ""}}],
                        "containers": [{"name": "fluentd-elasticsearch",
                            "image": "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
                            "resources": {"limits": {"memory": "200Mi"},
                                "requests": {"cpu": "100m", "memory": "200Mi"}},
                            "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"}],
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent"}],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst",
                        "securityContext": {},
                        "schedulerName": "default-scheduler",
                        "tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                            "operator": "Exists", "effect": "NoSchedule"}]}},
                "updateStrategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "revisionHistoryLimit": 10},
            "status": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0}});
        assert_json(&out, &expected);
    }

    #[test]
    fn daemon_set_defaults() {
        let out = defaulted(
            "DaemonSet",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}}}),
        );
        assert_json(
            &out["spec"]["updateStrategy"],
            &json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        );
        assert_eq!(out["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(out["status"]["desiredNumberScheduled"], 0);
    }

    // SetDefaults_Job (batch/v1, 1.33) + job strategy generateSelector; compare with the docs'
    // pi Job (concepts/workloads/controllers/job) as `kubectl get job pi -o json` shows it.
    #[test]
    fn job_generates_selector_and_labels() {
        let uid = "8f1c3a2e-0000-4000-8000-000000000001";
        let out = defaulted(
            "Job",
            json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "pi", "uid": uid},
                "spec": {"backoffLimit": 4, "template": {"spec": {
                    "containers": [{"name": "pi", "image": "perl:5.34.0",
                        "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}],
                    "restartPolicy": "Never"}}}}),
        );
        let labels = json!({"batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": "pi", "controller-uid": uid, "job-name": "pi"});
        assert_json(&out["metadata"]["labels"], &labels);
        assert_json(&out["spec"]["template"]["metadata"]["labels"], &labels);
        let spec = &out["spec"];
        let keys: Vec<&String> = spec.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "parallelism",
                "completions",
                "backoffLimit",
                "selector",
                "manualSelector",
                "template",
                "completionMode",
                "suspend",
                "podReplacementPolicy"
            ]
        );
        assert_json(
            &spec["selector"],
            &json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        assert_eq!(spec["backoffLimit"], 4);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn job_with_manual_selector_is_left_alone() {
        let out = defaulted(
            "Job",
            json!({"metadata": {"name": "j", "uid": "u", "labels": {"x": "y"}},
                "spec": {"manualSelector": true, "parallelism": 2,
                    "selector": {"matchLabels": {"x": "y"}},
                    "template": {"metadata": {"labels": {"x": "y"}}, "spec": {"containers": []}}}}),
        );
        assert_json(
            &out["spec"]["selector"],
            &json!({"matchLabels": {"x": "y"}}),
        );
        assert_json(&out["metadata"]["labels"], &json!({"x": "y"}));
        // completions stays unset when parallelism is given.
        assert!(out["spec"].get("completions").is_none());
    }

    #[test]
    fn cron_job_defaults() {
        let out = defaulted(
            "CronJob",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"containers": [{"name": "c", "image": "busybox:1.28"}],
                    "restartPolicy": "OnFailure"}}}}}}),
        );
        let keys: Vec<&String> = out["spec"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "schedule",
                "concurrencyPolicy",
                "suspend",
                "jobTemplate",
                "successfulJobsHistoryLimit",
                "failedJobsHistoryLimit"
            ]
        );
        // SetDefaults_Job does not run on the template: no backoffLimit there.
        assert!(
            out["spec"]["jobTemplate"]["spec"]
                .get("backoffLimit")
                .is_none()
        );
        assert_eq!(
            out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
    }

    // A 1.33 server answers `kubectl create service clusterip web --tcp=80:8080` with these
    // spec fields, in this order (core/v1 ServiceSpec field order).
    #[test]
    fn cluster_ip_service_matches_a_real_server() {
        let out = defaulted(
            "Service",
            json!({"metadata": {"name": "web"},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                    "selector": {"app": "web"}}}),
        );
        assert_json(
            &out["spec"],
            &json!({"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "web"},
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster"}),
        );
        assert_json(&out["status"], &json!({"loadBalancer": {}}));
    }

    #[test]
    fn service_update_keeps_cluster_ip_and_node_ports() {
        let k = kind("Service");
        let mut ips = Seq(0, 0);
        let mut first = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        apply_defaults(&k, &mut first, None, &mut ips);
        assert_eq!(first["spec"]["ports"][0]["nodePort"], 30080);
        assert_eq!(first["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(first["spec"]["externalTrafficPolicy"], "Cluster");
        let mut second = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        apply_defaults(&k, &mut second, Some(&first), &mut ips);
        assert_eq!(second["spec"]["clusterIP"], first["spec"]["clusterIP"]);
        assert_eq!(second["spec"]["ports"][0]["nodePort"], 30080);
    }

    // A GitOps change of a Service from NodePort back to ClusterIP: the allocated node port
    // and the defaulted externalTrafficPolicy go away (dropTypeDependentFields).
    #[test]
    fn service_type_change_drops_allocated_values() {
        let k = kind("Service");
        let mut ips = Seq(0, 0);
        let mut node_port = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        apply_defaults(&k, &mut node_port, None, &mut ips);
        assert_eq!(node_port["spec"]["ports"][0]["nodePort"], 30080);
        let mut back = node_port.clone();
        back["spec"]["type"] = json!("ClusterIP");
        apply_defaults(&k, &mut back, Some(&node_port), &mut ips);
        assert!(
            back["spec"]["ports"][0].get("nodePort").is_none(),
            "{back:#}"
        );
        assert!(back["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(back["spec"]["clusterIP"], node_port["spec"]["clusterIP"]);
        let mut external = node_port.clone();
        external["spec"]["type"] = json!("ExternalName");
        external["spec"]["externalName"] = json!("db.example.com");
        apply_defaults(&k, &mut external, Some(&node_port), &mut ips);
        assert!(external["spec"].get("clusterIP").is_none(), "{external:#}");
        assert!(external["spec"].get("ipFamilies").is_none());
        assert!(external["spec"].get("internalTrafficPolicy").is_none());
    }

    #[test]
    fn headless_and_external_name_services() {
        let headless = defaulted(
            "Service",
            json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}),
        );
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert_json(&headless["spec"]["clusterIPs"], &json!(["None"]));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "SingleStack");
        let external = defaulted(
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
        );
        assert!(external["spec"].get("clusterIP").is_none());
        assert!(external["spec"].get("internalTrafficPolicy").is_none());
        assert_eq!(external["spec"]["sessionAffinity"], "None");
    }

    #[test]
    fn namespace_secret_pvc_defaults() {
        let ns = defaulted("Namespace", json!({"metadata": {"name": "team-a"}}));
        assert_json(
            &ns,
            &json!({"metadata": {"name": "team-a",
                    "labels": {"kubernetes.io/metadata.name": "team-a"}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}}),
        );
        let secret = defaulted(
            "Secret",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "stringData": {"password": "hunter2"}}),
        );
        assert_json(
            &secret,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"}),
        );
        let pvc = defaulted(
            "PersistentVolumeClaim",
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard"}}),
        );
        assert_json(
            &pvc,
            &json!({"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}),
        );
    }

    #[test]
    fn pod_gets_admission_defaults_and_probe_defaults() {
        let out = defaulted(
            "Pod",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c",
                "image": "nginx", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "readinessProbe": {"httpGet": {"port": 80}}}]}}),
        );
        let spec = &out["spec"];
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_json(
            &c["resources"]["requests"],
            &json!({"cpu": "1", "memory": "1Gi"}),
        );
        assert_json(
            &c["env"][0]["valueFrom"]["fieldRef"],
            &json!({"apiVersion": "v1", "fieldPath": "spec.nodeName"}),
        );
        assert_json(
            &c["readinessProbe"],
            &json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                "failureThreshold": 3}),
        );
        assert_eq!(out["status"]["qosClass"], "Guaranteed");
        assert_eq!(out["status"]["phase"], "Pending");
    }

    #[test]
    fn pod_gets_the_service_account_token_volume_on_create_only() {
        let pod = json!({"metadata": {"name": "p", "uid": "u-1"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}});
        let out = defaulted("Pod", pod.clone());
        let volume = &out["spec"]["volumes"][0];
        let name = volume["name"].as_str().unwrap();
        assert!(
            name.starts_with("kube-api-access-") && name.len() == 21,
            "{name}"
        );
        assert_eq!(volume["projected"]["defaultMode"], 420);
        assert_eq!(
            volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_json(
            &out["spec"]["containers"][0]["volumeMounts"],
            &json!([{"name": name, "readOnly": true,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]),
        );
        let mut updated = pod.clone();
        apply_defaults(&kind("Pod"), &mut updated, Some(&out), &mut Seq(0, 0));
        assert!(updated["spec"].get("volumes").is_none());
        let mut opted_out = pod;
        opted_out["spec"]["automountServiceAccountToken"] = json!(false);
        assert!(defaulted("Pod", opted_out)["spec"].get("volumes").is_none());
    }

    #[test]
    fn resource_quantities_are_canonical() {
        let out = defaulted(
            "Deployment",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a",
                "resources": {"limits": {"cpu": 1, "memory": "1024Mi"},
                    "requests": {"cpu": "0.25", "memory": "0.5Gi"}}}]}}}}),
        );
        assert_json(
            &out["spec"]["template"]["spec"]["containers"][0]["resources"],
            &json!({"limits": {"cpu": "1", "memory": "1Gi"},
                "requests": {"cpu": "250m", "memory": "512Mi"}}),
        );
        let lr = defaulted(
            "LimitRange",
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"},
                "min": {"memory": "64Mi"}}]}}),
        );
        assert_json(
            &lr["spec"]["limits"][0],
            &json!({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"},
                "default": {"cpu": "2"}, "defaultRequest": {"cpu": "2", "memory": "64Mi"}}),
        );
    }

    #[test]
    fn hpa_and_network_policy_defaults() {
        let hpa = defaulted(
            "HorizontalPodAutoscaler",
            json!({"spec": {"maxReplicas": 5, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}),
        );
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert_eq!(
            hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            60
        );
        assert_eq!(
            hpa["spec"]["behavior"]["scaleUp"]["policies"][0]["value"],
            4
        );
        let np = defaulted(
            "NetworkPolicy",
            json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}}),
        );
        assert_json(&np["spec"]["policyTypes"], &json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn storage_and_priority_classes() {
        let sc = defaulted(
            "StorageClass",
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "fast"}, "provisioner": "example.com/fast",
                "allowVolumeExpansion": true}),
        );
        assert_json(
            &sc,
            &json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "fast"}, "provisioner": "example.com/fast",
                "reclaimPolicy": "Delete", "allowVolumeExpansion": true,
                "volumeBindingMode": "Immediate"}),
        );
        let pc = defaulted(
            "PriorityClass",
            json!({"metadata": {"name": "high"}, "value": 1000}),
        );
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
    }

    #[test]
    fn crd_defaults() {
        let crd = defaulted(
            "CustomResourceDefinition",
            json!({"spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        );
        assert_json(
            &crd["spec"]["names"],
            &json!({"plural": "widgets", "singular": "widget", "kind": "Widget",
                "listKind": "WidgetList"}),
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_json(&crd["spec"]["conversion"], &json!({"strategy": "None"}));
        assert_json(&crd["status"]["storedVersions"], &json!(["v1"]));
    }

    #[test]
    fn defaulting_twice_changes_nothing() {
        for (k, obj) in [
            (
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a"}]}}}}),
            ),
            ("Service", json!({"spec": {"ports": [{"port": 80}]}})),
            (
                "Job",
                json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": {"spec": {"containers": []}}}}),
            ),
        ] {
            let once = defaulted(k, obj);
            let twice = defaulted(k, once.clone());
            assert_json(&twice, &once);
        }
    }

    #[test]
    fn lists_canonicalize_numbers_and_strings() {
        let mut list = serde_json::json!({"cpu": 0.5, "memory": "1024Mi", "odd": "x"});
        canonicalize_list(&mut list);
        assert_eq!(
            list,
            serde_json::json!({"cpu": "500m", "memory": "1Gi", "odd": "x"})
        );
    }
}
