//! Pod templates, pod specs, containers, and Pods themselves (admission defaults, the
//! service account token volume, the QoS class).

use serde_json::{Map, Value, json};

use super::{
    CONTAINER, CONTAINER_PORT, FIELD_REF, HTTP_GET, OBJECT_META, POD_SPEC, PROBE, PVC_SPEC,
    TEMPLATE, TOP, canonicalize_list, child_mut, default_field, default_str, ensure_obj,
    insert_ordered, missing, objects_mut, order_object_meta, reorder, sort_map,
};
use crate::naming::safe_suffix;

/// Defaults of a `PodTemplateSpec`: its metadata keeps Go's zero `creationTimestamp: null`.
pub(super) fn default_pod_template(tpl: &mut Map<String, Value>, is_pod: bool) {
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
pub(super) fn canonicalize_resources(resources: &mut Map<String, Value>) {
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

/// `SetDefaults_Pod`, then what the default admission chain adds (ServiceAccount, Priority,
/// DefaultTolerationSeconds) and the registry's initial status (phase Pending, QoS class).
pub(super) fn default_pod(root: &mut Map<String, Value>, creating: bool) {
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
