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
use super::naming::safe_suffix;

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
            let status = ensure_obj(root, "status", TOP);
            let order = &[
                "observedGeneration",
                "disruptedPods",
                "disruptionsAllowed",
                "currentHealthy",
                "desiredHealthy",
                "expectedPods",
                "conditions",
            ];
            for key in [
                "disruptionsAllowed",
                "currentHealthy",
                "desiredHealthy",
                "expectedPods",
            ] {
                default_field(status, order, key, json!(0));
            }
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

// ---------------------------------------------------------------------------------------------
// Pod templates, pod specs, containers

/// Defaults of a `PodTemplateSpec`: its metadata keeps Go's zero `creationTimestamp: null`.
fn default_pod_template(tpl: &mut Map<String, Value>, is_pod: bool) {
    reorder(tpl, TEMPLATE);
    let meta = ensure_obj(tpl, "metadata", TEMPLATE);
    order_object_meta(meta);
    // ObjectMeta is a struct value in PodTemplateSpec: a 1.33 server serializes its zero
    // creationTimestamp as null.
    if !meta.contains_key("creationTimestamp") {
        insert_ordered(meta, OBJECT_META, "creationTimestamp", Value::Null);
    }
    let spec = ensure_obj(tpl, "spec", TEMPLATE);
    default_pod_spec(spec, is_pod);
}

/// `SetDefaults_PodSpec` plus the nested defaulters of `SetObjectDefaults_*`.
fn default_pod_spec(spec: &mut Map<String, Value>, is_pod: bool) {
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for v in objects_mut(spec, "volumes") {
        default_volume(v);
    }
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        for c in objects_mut(spec, key) {
            default_container(c, is_pod, host_network);
        }
    }
    default_str(spec, POD_SPEC, "restartPolicy", "Always");
    default_field(spec, POD_SPEC, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, POD_SPEC, "dnsPolicy", "ClusterFirst");
    // The v1 conversion mirrors serviceAccountName into the deprecated serviceAccount field.
    if let Some(sa) = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
    {
        default_str(spec, POD_SPEC, "serviceAccount", &sa);
    }
    default_field(spec, POD_SPEC, "securityContext", json!({}));
    default_str(spec, POD_SPEC, "schedulerName", "default-scheduler");
    if let Some(r) = child_mut(spec, "resources") {
        canonicalize_resources(r);
    }
    reorder(spec, POD_SPEC);
}

/// `SetDefaults_Volume` and the per-source defaulters.
fn default_volume(v: &mut Map<String, Value>) {
    let has_source = v.keys().any(|k| k != "name");
    if !has_source {
        v.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = child_mut(v, source) {
            let order: &[&str] = match source {
                "secret" => &["secretName", "items", "defaultMode", "optional"],
                "configMap" => &["name", "items", "defaultMode", "optional"],
                "downwardAPI" => &["items", "defaultMode"],
                _ => &["sources", "defaultMode"],
            };
            default_field(s, order, "defaultMode", json!(420));
            if source == "downwardAPI" {
                for item in objects_mut(s, "items") {
                    if let Some(f) = child_mut(item, "fieldRef") {
                        default_str(f, FIELD_REF, "apiVersion", "v1");
                    }
                }
            }
            if source == "projected" {
                for src in objects_mut(s, "sources") {
                    if let Some(d) = child_mut(src, "downwardAPI") {
                        for item in objects_mut(d, "items") {
                            if let Some(f) = child_mut(item, "fieldRef") {
                                default_str(f, FIELD_REF, "apiVersion", "v1");
                            }
                        }
                    }
                    if let Some(t) = child_mut(src, "serviceAccountToken") {
                        default_field(
                            t,
                            &["audience", "expirationSeconds", "path"],
                            "expirationSeconds",
                            json!(3600),
                        );
                    }
                }
            }
        }
    }
    if let Some(h) = child_mut(v, "hostPath") {
        default_field(h, &["path", "type"], "type", json!(""));
    }
    if let Some(e) = child_mut(v, "ephemeral")
        && let Some(spec) = child_mut(e, "volumeClaimTemplate").and_then(|t| child_mut(t, "spec"))
    {
        default_str(spec, PVC_SPEC, "volumeMode", "Filesystem");
    }
}

/// The pull policy `SetDefaults_Container` picks: `Always` for `:latest` or no tag and no digest.
pub fn default_pull_policy(image: &str) -> &'static str {
    // parsers.ParseImageName: the tag is what follows the last ':' after the last '/'.
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.rsplit_once(':').map(|(_, t)| t);
    match tag {
        Some("latest") => "Always",
        None if !digest => "Always",
        _ => "IfNotPresent",
    }
}

/// `SetDefaults_Container`, probes, ports, env field refs; `SetDefaults_Pod`'s requests.
fn default_container(c: &mut Map<String, Value>, is_pod: bool, host_network: bool) {
    for p in objects_mut(c, "ports") {
        if host_network
            && missing(p, "hostPort")
            && let Some(cp) = p.get("containerPort").cloned()
        {
            insert_ordered(p, CONTAINER_PORT, "hostPort", cp);
        }
        default_str(p, CONTAINER_PORT, "protocol", "TCP");
        reorder(p, CONTAINER_PORT);
    }
    for e in objects_mut(c, "env") {
        if let Some(f) = child_mut(e, "valueFrom").and_then(|vf| child_mut(vf, "fieldRef")) {
            default_str(f, FIELD_REF, "apiVersion", "v1");
        }
    }
    let resources = ensure_obj(c, "resources", CONTAINER);
    canonicalize_resources(resources);
    if is_pod {
        // SetDefaults_Pod: requests default to limits, only on Pods (not templates).
        if let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() {
            let requests = ensure_obj(resources, "requests", &["limits", "requests", "claims"]);
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
            sort_map(requests);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child_mut(c, probe) {
            default_probe(p);
        }
    }
    if let Some(l) = child_mut(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = child_mut(l, hook) {
                default_handler(h);
            }
        }
    }
    default_str(
        c,
        CONTAINER,
        "terminationMessagePath",
        "/dev/termination-log",
    );
    default_str(c, CONTAINER, "terminationMessagePolicy", "File");
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = default_pull_policy(image);
    default_str(c, CONTAINER, "imagePullPolicy", policy);
    reorder(c, CONTAINER);
}

/// Canonical quantities in `limits` and `requests` of a ResourceRequirements.
fn canonicalize_resources(resources: &mut Map<String, Value>) {
    for key in ["limits", "requests"] {
        if let Some(list) = resources.get_mut(key) {
            canonicalize_list(list);
        }
    }
}

/// Probe handler defaults: httpGet path `/` and scheme HTTP, grpc service `""`.
fn default_handler(h: &mut Map<String, Value>) {
    if let Some(g) = child_mut(h, "httpGet") {
        default_str(g, HTTP_GET, "path", "/");
        default_str(g, HTTP_GET, "scheme", "HTTP");
        reorder(g, HTTP_GET);
    }
    if let Some(g) = child_mut(h, "grpc") {
        default_field(g, &["port", "service"], "service", json!(""));
    }
}

/// `SetDefaults_Probe`: zero values become 1/10/1/3.
fn default_probe(p: &mut Map<String, Value>) {
    default_handler(p);
    for (key, value) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        let zero = p
            .get(key)
            .is_none_or(|v| v.is_null() || v.as_i64() == Some(0));
        if zero {
            p.remove(key);
            insert_ordered(p, PROBE, key, json!(value));
        }
    }
    reorder(p, PROBE);
}

// ---------------------------------------------------------------------------------------------
// Workloads

/// Empty `status: {}`: the Go status struct is a value, serialized even when empty.
fn empty_status(root: &mut Map<String, Value>) {
    ensure_obj(root, "status", TOP);
}

/// `SetDefaults_Deployment` (apps/v1).
fn default_deployment(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_field(spec, DEPLOYMENT_SPEC, "replicas", json!(1));
    default_pod_template(ensure_obj(spec, "template", DEPLOYMENT_SPEC), false);
    let strategy = ensure_obj(spec, "strategy", DEPLOYMENT_SPEC);
    default_str(
        strategy,
        &["type", "rollingUpdate"],
        "type",
        "RollingUpdate",
    );
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = ensure_obj(strategy, "rollingUpdate", &["type", "rollingUpdate"]);
        default_field(
            ru,
            &["maxUnavailable", "maxSurge"],
            "maxUnavailable",
            json!("25%"),
        );
        default_field(
            ru,
            &["maxUnavailable", "maxSurge"],
            "maxSurge",
            json!("25%"),
        );
    }
    default_field(spec, DEPLOYMENT_SPEC, "revisionHistoryLimit", json!(10));
    default_field(spec, DEPLOYMENT_SPEC, "progressDeadlineSeconds", json!(600));
    empty_status(root);
}

/// `SetDefaults_StatefulSet` (apps/v1), with the StatefulSetAutoDeletePVC gate on (GA in 1.32).
fn default_stateful_set(root: &mut Map<String, Value>) {
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
    // StatefulSetStatus.replicas and availableReplicas have no omitempty: an empty status
    // still shows them.
    let status = ensure_obj(root, "status", TOP);
    let order = &[
        "observedGeneration",
        "replicas",
        "conditions",
        "availableReplicas",
    ];
    default_field(status, order, "replicas", json!(0));
    default_field(status, order, "availableReplicas", json!(0));
}

/// `SetDefaults_DaemonSet` (apps/v1).
fn default_daemon_set(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_pod_template(ensure_obj(spec, "template", DAEMON_SET_SPEC), false);
    let strategy = ensure_obj(spec, "updateStrategy", DAEMON_SET_SPEC);
    default_str(
        strategy,
        &["type", "rollingUpdate"],
        "type",
        "RollingUpdate",
    );
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = ensure_obj(strategy, "rollingUpdate", &["type", "rollingUpdate"]);
        default_field(
            ru,
            &["maxUnavailable", "maxSurge"],
            "maxUnavailable",
            json!(1),
        );
        default_field(ru, &["maxUnavailable", "maxSurge"], "maxSurge", json!(0));
    }
    default_field(spec, DAEMON_SET_SPEC, "revisionHistoryLimit", json!(10));
    // DaemonSetStatus's four counters have no omitempty.
    let status = ensure_obj(root, "status", TOP);
    for key in [
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
    ] {
        default_field(status, DAEMON_SET_STATUS, key, json!(0));
    }
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
fn default_replica_set(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_field(spec, REPLICA_SET_SPEC, "replicas", json!(1));
    default_pod_template(ensure_obj(spec, "template", REPLICA_SET_SPEC), false);
    let status = ensure_obj(root, "status", TOP);
    default_field(status, &["replicas"], "replicas", json!(0));
}

/// `SetDefaults_Job` (batch/v1, JobPodReplacementPolicy on) and the job strategy's selector
/// generation (`generateSelector` in pkg/registry/batch/job/strategy.go).
fn default_job(root: &mut Map<String, Value>, minor: u32) {
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
fn default_cron_job(root: &mut Map<String, Value>) {
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

/// `SetDefaults_Pod`, then what the default admission chain adds (ServiceAccount, Priority,
/// DefaultTolerationSeconds) and the registry's initial status (phase Pending, QoS class).
fn default_pod(root: &mut Map<String, Value>, creating: bool) {
    let seed = ["uid", "name", "generateName"]
        .iter()
        .find_map(|k| root.get("metadata")?.get(*k)?.as_str())
        .unwrap_or("")
        .to_string();
    let spec = ensure_obj(root, "spec", TOP);
    if creating {
        mount_service_account_token(spec, &seed);
    }
    default_pod_spec(spec, true);
    default_str(spec, POD_SPEC, "serviceAccountName", "default");
    default_str(spec, POD_SPEC, "serviceAccount", "default");
    default_field(spec, POD_SPEC, "enableServiceLinks", json!(true));
    default_field(spec, POD_SPEC, "priority", json!(0));
    default_str(spec, POD_SPEC, "preemptionPolicy", "PreemptLowerPriority");
    let tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut added = tolerations.clone();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        // plugin/pkg/admission/defaulttolerationseconds: any toleration of the key (or of all
        // keys) with effect NoExecute (or any effect) counts.
        let tolerated = tolerations.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            added.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300}),
            );
        }
    }
    spec.remove("tolerations");
    insert_ordered(spec, POD_SPEC, "tolerations", Value::Array(added));
    let qos = qos_class(spec);
    let status = ensure_obj(root, "status", TOP);
    default_str(
        status,
        &["phase", "conditions", "qosClass"],
        "phase",
        "Pending",
    );
    default_str(
        status,
        &["phase", "conditions", "qosClass"],
        "qosClass",
        qos,
    );
}

/// Where the ServiceAccount admission plugin mounts the API token.
const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ServiceAccount admission plugin's projected `kube-api-access-xxxxx` volume and its
/// mounts (plugin/pkg/admission/serviceaccount, `TokenVolumeSource`), unless the pod opts out.
/// The 5-character suffix is random upstream; here it derives from `seed` (the uid).
fn mount_service_account_token(spec: &mut Map<String, Value>, seed: &str) {
    if spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        == Some(false)
    {
        return;
    }
    let mounted = ["initContainers", "containers"].iter().any(|k| {
        spec.get(*k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c.get("volumeMounts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(SERVICE_ACCOUNT_MOUNT))
    });
    if mounted {
        return;
    }
    let name = format!("kube-api-access-{}", safe_suffix(seed, 5));
    let volume = json!({"name": name, "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
        "defaultMode": 420}});
    let mut volumes = spec
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    volumes.push(volume);
    spec.remove("volumes");
    insert_ordered(spec, POD_SPEC, "volumes", Value::Array(volumes));
    for key in ["initContainers", "containers"] {
        for c in objects_mut(spec, key) {
            let mut mounts = c
                .get("volumeMounts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            mounts.push(json!({"name": name, "readOnly": true,
                "mountPath": SERVICE_ACCOUNT_MOUNT}));
            c.remove("volumeMounts");
            insert_ordered(c, CONTAINER, "volumeMounts", Value::Array(mounts));
        }
    }
}

/// The QoS class of a pod spec (pkg/apis/core/helper/qos): Guaranteed when every container
/// limits cpu and memory with requests equal to limits, BestEffort when nothing is set.
fn qos_class(spec: &Map<String, Value>) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let res = c.get("resources");
        let req = res
            .and_then(|r| r.get("requests"))
            .and_then(Value::as_object);
        let lim = res.and_then(|r| r.get("limits")).and_then(Value::as_object);
        if req.is_some_and(|m| !m.is_empty()) || lim.is_some_and(|m| !m.is_empty()) {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(r));
            let q = req.and_then(|m| m.get(r)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

// ---------------------------------------------------------------------------------------------
// Core and other kinds

/// `SetDefaults_Service` plus the REST layer's IP family and clusterIP / nodePort allocation.
fn default_service(
    root: &mut Map<String, Value>,
    old: Option<&Value>,
    ips: &mut dyn ClusterIpAllocator,
) {
    let old_spec = old.and_then(|o| o.get("spec"));
    let spec = ensure_obj(root, "spec", TOP);
    default_str(spec, SERVICE_SPEC, "sessionAffinity", "None");
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("None") {
        spec.remove("sessionAffinityConfig");
    } else if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
        let has_timeout = spec
            .get("sessionAffinityConfig")
            .and_then(|c| c.get("clientIP"))
            .and_then(|c| c.get("timeoutSeconds"))
            .is_some_and(|t| !t.is_null());
        if !has_timeout {
            spec.remove("sessionAffinityConfig");
            insert_ordered(
                spec,
                SERVICE_SPEC,
                "sessionAffinityConfig",
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
    }
    default_str(spec, SERVICE_SPEC, "type", "ClusterIP");
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    for p in objects_mut(spec, "ports") {
        default_str(p, SERVICE_PORT, "protocol", "TCP");
        let unset = p
            .get("targetPort")
            .is_none_or(|t| t.is_null() || t.as_i64() == Some(0) || t.as_str() == Some(""));
        if unset {
            let port = p.get("port").cloned().unwrap_or(json!(0));
            p.remove("targetPort");
            insert_ordered(p, SERVICE_PORT, "targetPort", port);
        }
        reorder(p, SERVICE_PORT);
    }
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible = svc_type == "LoadBalancer"
        || svc_type == "NodePort"
        || (svc_type == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(spec, SERVICE_SPEC, "externalTrafficPolicy", "Cluster");
    }
    if matches!(svc_type.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_str(spec, SERVICE_SPEC, "internalTrafficPolicy", "Cluster");
    }
    if svc_type == "LoadBalancer" {
        default_field(
            spec,
            SERVICE_SPEC,
            "allocateLoadBalancerNodePorts",
            json!(true),
        );
    }

    if let Some(old_spec) = old_spec {
        drop_type_dependent_fields(spec, old_spec);
    }
    if svc_type != "ExternalName" {
        allocate_cluster_ip(spec, old_spec, ips);
        let needs_node_ports = svc_type == "NodePort"
            || (svc_type == "LoadBalancer"
                && spec
                    .get("allocateLoadBalancerNodePorts")
                    .and_then(Value::as_bool)
                    != Some(false));
        if needs_node_ports {
            allocate_node_ports(spec, old_spec, ips);
        }
    }
    let status = ensure_obj(root, "status", TOP);
    if svc_type != "LoadBalancer" {
        // The load-balancer status no longer applies once the type changed.
        status.insert("loadBalancer".into(), json!({}));
    }
    ensure_obj(status, "loadBalancer", &["loadBalancer", "conditions"]);
}

/// `dropTypeDependentFields` (pkg/registry/core/service/storage): on a type change, values
/// the server allocated or defaulted for the old type are wiped when the update left them as
/// they were, so that they are released or re-defaulted instead of failing validation.
fn drop_type_dependent_fields(spec: &mut Map<String, Value>, old: &Value) {
    let kind_of = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("ClusterIP")
            .to_string()
    };
    let old_type = kind_of(old.get("type"));
    let new_type = kind_of(spec.get("type"));
    let same = |spec: &Map<String, Value>, key: &str| spec.get(key) == old.get(key);
    let needs_node_port = |t: &str, alloc: Option<&Value>| {
        t == "NodePort" || (t == "LoadBalancer" && alloc.and_then(Value::as_bool) != Some(false))
    };
    if old_type != "ExternalName" && new_type == "ExternalName" {
        if same(spec, "clusterIP") && same(spec, "clusterIPs") {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        for key in ["ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"] {
            if same(spec, key) {
                spec.remove(key);
            }
        }
    }
    let old_needs = needs_node_port(&old_type, old.get("allocateLoadBalancerNodePorts"));
    let new_needs = needs_node_port(&new_type, spec.get("allocateLoadBalancerNodePorts"));
    let node_ports = |ports: Option<&Value>| -> Vec<Option<Value>> {
        ports
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.get("nodePort").cloned())
            .collect()
    };
    if old_needs && !new_needs && node_ports(spec.get("ports")) == node_ports(old.get("ports")) {
        for p in objects_mut(spec, "ports") {
            p.remove("nodePort");
        }
    }
    let local = |t: &str, etp: Option<&Value>| {
        t == "LoadBalancer" && etp.and_then(Value::as_str) == Some("Local")
    };
    if local(&old_type, old.get("externalTrafficPolicy"))
        && !local(&new_type, spec.get("externalTrafficPolicy"))
        && same(spec, "healthCheckNodePort")
    {
        spec.remove("healthCheckNodePort");
    }
    if old_type == "LoadBalancer" && new_type != "LoadBalancer" {
        for key in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(spec, key) {
                spec.remove(key);
            }
        }
    }
    let accessible = |t: &str, s: Option<&Value>| {
        let external_ips = s
            .and_then(|s| s.get("externalIPs"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        t == "LoadBalancer" || t == "NodePort" || (t == "ClusterIP" && external_ips)
    };
    let spec_value = Value::Object(spec.clone());
    if accessible(&old_type, Some(old))
        && !accessible(&new_type, Some(&spec_value))
        && same(spec, "externalTrafficPolicy")
    {
        spec.remove("externalTrafficPolicy");
    }
}

/// clusterIP/clusterIPs/ipFamilies/ipFamilyPolicy on a single-stack IPv4 cluster
/// (pkg/registry/core/service/storage/alloc.go).
fn allocate_cluster_ip(
    spec: &mut Map<String, Value>,
    old_spec: Option<&Value>,
    ips: &mut dyn ClusterIpAllocator,
) {
    let old_ip = old_spec
        .and_then(|o| o.get("clusterIP"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    if missing_str(spec, "clusterIP") {
        let ip = spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .or(old_ip)
            .unwrap_or_else(|| ips.allocate());
        default_str(spec, SERVICE_SPEC, "clusterIP", &ip);
    }
    let ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let headless = ip == "None";
    let has_selector = spec
        .get("selector")
        .and_then(Value::as_object)
        .is_some_and(|s| !s.is_empty());
    let empty_ips = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty_ips {
        spec.remove("clusterIPs");
        insert_ordered(spec, SERVICE_SPEC, "clusterIPs", json!([ip]));
    }
    let empty_families = spec
        .get("ipFamilies")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty_families {
        spec.remove("ipFamilies");
        insert_ordered(spec, SERVICE_SPEC, "ipFamilies", json!(["IPv4"]));
    }
    // Headless services without a selector ask for every family the cluster has.
    let policy = if headless && !has_selector {
        "RequireDualStack"
    } else {
        "SingleStack"
    };
    default_str(spec, SERVICE_SPEC, "ipFamilyPolicy", policy);
}

/// Node ports for NodePort/LoadBalancer services, kept from `old` when the port is unchanged.
fn allocate_node_ports(
    spec: &mut Map<String, Value>,
    old_spec: Option<&Value>,
    ips: &mut dyn ClusterIpAllocator,
) {
    let old_ports: Vec<Value> = old_spec
        .and_then(|o| o.get("ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in objects_mut(spec, "ports") {
        let zero = p
            .get("nodePort")
            .is_none_or(|n| n.is_null() || n.as_i64() == Some(0));
        if !zero {
            continue;
        }
        let kept = old_ports.iter().find_map(|op| {
            let same = op.get("port") == p.get("port")
                && op.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                    == p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            if same {
                op.get("nodePort").and_then(Value::as_u64)
            } else {
                None
            }
        });
        let port = kept.unwrap_or_else(|| u64::from(ips.allocate_node_port()));
        p.remove("nodePort");
        insert_ordered(p, SERVICE_PORT, "nodePort", json!(port));
    }
}

/// `SetDefaults_Namespace`, the strategy's `kubernetes` finalizer, `SetDefaults_NamespaceStatus`.
fn default_namespace(root: &mut Map<String, Value>) {
    let meta = ensure_obj(root, "metadata", TOP);
    if let Some(name) = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(String::from)
    {
        let labels = ensure_obj(meta, "labels", OBJECT_META);
        labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
        sort_map(labels);
    }
    let spec = ensure_obj(root, "spec", TOP);
    let has_finalizer = spec
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("kubernetes")));
    if !has_finalizer {
        let mut list = spec
            .get("finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        list.push(json!("kubernetes"));
        spec.insert("finalizers".into(), Value::Array(list));
    }
    let status = ensure_obj(root, "status", TOP);
    default_str(status, &["phase", "conditions"], "phase", "Active");
}

/// `SetDefaults_Secret`; `stringData` is merged into `data` (base64) as the v1 conversion does.
fn default_secret(root: &mut Map<String, Value>) {
    use base64::Engine as _;
    if let Some(Value::Object(string_data)) = root.remove("stringData")
        && !string_data.is_empty()
    {
        let data = ensure_obj(root, "data", TOP);
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            data.insert(k, Value::String(encoded));
        }
        sort_map(data);
    }
    default_str(root, TOP, "type", "Opaque");
}

/// `SetDefaults_PersistentVolumeClaimSpec` and `SetDefaults_PersistentVolumeClaim`.
fn default_pvc(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    if let Some(r) = child_mut(spec, "resources") {
        canonicalize_resources(r);
    }
    default_str(spec, PVC_SPEC, "volumeMode", "Filesystem");
    let status = ensure_obj(root, "status", TOP);
    default_str(status, &["phase"], "phase", "Pending");
}

/// `SetDefaults_PersistentVolume`.
fn default_pv(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    if let Some(c) = spec.get_mut("capacity") {
        canonicalize_list(c);
    }
    default_str(spec, PV_SPEC, "persistentVolumeReclaimPolicy", "Retain");
    default_str(spec, PV_SPEC, "volumeMode", "Filesystem");
    let status = ensure_obj(root, "status", TOP);
    default_str(status, &["phase"], "phase", "Pending");
}

/// `SetDefaults_LimitRangeItem`: container items get default limits from max and default
/// requests from the default limits or min; every list is canonicalized.
fn default_limit_range_item(item: &mut Map<String, Value>) {
    const ORDER: &[&str] = &[
        "type",
        "max",
        "min",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
    ];
    for key in &ORDER[1..] {
        if let Some(list) = item.get_mut(*key) {
            canonicalize_list(list);
        }
    }
    if item.get("type").and_then(Value::as_str) != Some("Container") {
        return;
    }
    let max = item.get("max").and_then(Value::as_object).cloned();
    let min = item.get("min").and_then(Value::as_object).cloned();
    let default = ensure_obj(item, "default", ORDER);
    for (k, v) in max.into_iter().flatten() {
        default.entry(k).or_insert(v);
    }
    sort_map(default);
    let default = default.clone();
    let request = ensure_obj(item, "defaultRequest", ORDER);
    for (k, v) in default.into_iter().chain(min.into_iter().flatten()) {
        request.entry(k).or_insert(v);
    }
    sort_map(request);
    // Empty maps are omitted when serialized (omitempty on a Go map).
    for key in ["default", "defaultRequest"] {
        if item
            .get(key)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            item.remove(key);
        }
    }
}

/// `SetDefaults_Endpoints`: port protocol TCP.
fn default_endpoints(root: &mut Map<String, Value>) {
    for subset in objects_mut(root, "subsets") {
        for p in objects_mut(subset, "ports") {
            default_str(
                p,
                &["name", "port", "protocol", "appProtocol"],
                "protocol",
                "TCP",
            );
        }
    }
}

/// `SetDefaults_HorizontalPodAutoscaler` (autoscaling/v2): minReplicas 1, an 80% CPU metric
/// when none is given, and the scale-up/scale-down rules filled in when `behavior` is set.
fn default_hpa(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_field(spec, HPA_SPEC, "minReplicas", json!(1));
    let no_metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        spec.remove("metrics");
        insert_ordered(
            spec,
            HPA_SPEC,
            "metrics",
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(behavior) = child_mut(spec, "behavior") {
        let up = ensure_obj(behavior, "scaleUp", &["scaleUp", "scaleDown"]);
        default_field(up, HPA_RULES, "stabilizationWindowSeconds", json!(0));
        default_str(up, HPA_RULES, "selectPolicy", "Max");
        default_field(
            up,
            HPA_RULES,
            "policies",
            json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
        let down = ensure_obj(behavior, "scaleDown", &["scaleUp", "scaleDown"]);
        default_field(down, HPA_RULES, "stabilizationWindowSeconds", json!(300));
        default_str(down, HPA_RULES, "selectPolicy", "Max");
        default_field(
            down,
            HPA_RULES,
            "policies",
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
    // HorizontalPodAutoscalerStatus.desiredReplicas has no omitempty.
    let status = ensure_obj(root, "status", TOP);
    default_field(
        status,
        &[
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ],
        "desiredReplicas",
        json!(0),
    );
}

/// `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort` (networking/v1).
fn default_network_policy(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    for (rules, peer_ports) in [("ingress", "ports"), ("egress", "ports")] {
        for rule in objects_mut(spec, rules) {
            for p in objects_mut(rule, peer_ports) {
                default_str(p, &["protocol", "port", "endPort"], "protocol", "TCP");
            }
        }
    }
    let no_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_types {
        let has_egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        let types = if has_egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.remove("policyTypes");
        insert_ordered(spec, NETWORK_POLICY_SPEC, "policyTypes", types);
    }
}

/// `SetDefaults_CustomResourceDefinitionSpec` (apiextensions/v1) and the strategy's initial
/// status (storedVersions).
fn default_crd(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    default_str(spec, CRD_SPEC, "scope", "Namespaced");
    let names = ensure_obj(spec, "names", CRD_SPEC);
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    default_str(names, CRD_NAMES, "singular", &kind.to_ascii_lowercase());
    if !kind.is_empty() {
        default_str(names, CRD_NAMES, "listKind", &format!("{kind}List"));
    }
    reorder(names, CRD_NAMES);
    default_field(spec, CRD_SPEC, "conversion", json!({"strategy": "None"}));
    if let Some(webhook) = child_mut(spec, "conversion")
        .and_then(|c| child_mut(c, "webhook"))
        .and_then(|w| child_mut(w, "clientConfig"))
        .and_then(|c| child_mut(c, "service"))
    {
        default_field(
            webhook,
            &["namespace", "name", "path", "port"],
            "port",
            json!(443),
        );
    }
    let storage = spec
        .get("versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|v| v.get("name"))
        .cloned();
    let status = ensure_obj(root, "status", TOP);
    let order = &["conditions", "acceptedNames", "storedVersions"];
    default_field(
        status,
        order,
        "acceptedNames",
        json!({"plural": "", "kind": ""}),
    );
    if let Some(storage) = storage {
        default_field(status, order, "storedVersions", json!([storage]));
    }
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
    use crate::kinds::builtin_kinds;

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

    fn kind(name: &str) -> KindInfo {
        builtin_kinds()
            .into_iter()
            .find(|k| k.kind == name)
            .unwrap()
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
