//! Core and other kinds: Namespaces, Secrets, volumes and claims, LimitRanges, Endpoints,
//! HorizontalPodAutoscalers, NetworkPolicies, CustomResourceDefinitions.

use serde_json::{Map, Value, json};

use super::pod::canonicalize_resources;
use super::{
    CRD_NAMES, CRD_SPEC, HPA_RULES, HPA_SPEC, NETWORK_POLICY_SPEC, OBJECT_META, PV_SPEC, PVC_SPEC,
    TOP, canonicalize_list, child_mut, default_field, default_status_counters, default_str,
    ensure_obj, insert_ordered, objects_mut, reorder, sort_map,
};

/// `SetDefaults_Namespace`, the strategy's `kubernetes` finalizer, `SetDefaults_NamespaceStatus`.
pub(super) fn default_namespace(root: &mut Map<String, Value>) {
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
pub(super) fn default_secret(root: &mut Map<String, Value>) {
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
pub(super) fn default_pvc(root: &mut Map<String, Value>) {
    let spec = ensure_obj(root, "spec", TOP);
    if let Some(r) = child_mut(spec, "resources") {
        canonicalize_resources(r);
    }
    default_str(spec, PVC_SPEC, "volumeMode", "Filesystem");
    let status = ensure_obj(root, "status", TOP);
    default_str(status, &["phase"], "phase", "Pending");
}

/// `SetDefaults_PersistentVolume`.
pub(super) fn default_pv(root: &mut Map<String, Value>) {
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
pub(super) fn default_limit_range_item(item: &mut Map<String, Value>) {
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
pub(super) fn default_endpoints(root: &mut Map<String, Value>) {
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
pub(super) fn default_hpa(root: &mut Map<String, Value>) {
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
        default_hpa_rules(
            ensure_obj(behavior, "scaleUp", &["scaleUp", "scaleDown"]),
            0,
            json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
        default_hpa_rules(
            ensure_obj(behavior, "scaleDown", &["scaleUp", "scaleDown"]),
            300,
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
    // HorizontalPodAutoscalerStatus.desiredReplicas has no omitempty.
    let order = &[
        "observedGeneration",
        "lastScaleTime",
        "currentReplicas",
        "desiredReplicas",
    ];
    default_status_counters(root, order, &["desiredReplicas"]);
}

/// One direction of an HPA's `behavior` (`HPAScalingRules`): its stabilization window, the
/// `Max` select policy and its policies, each unless set.
fn default_hpa_rules(rules: &mut Map<String, Value>, window_seconds: i64, policies: Value) {
    default_field(
        rules,
        HPA_RULES,
        "stabilizationWindowSeconds",
        json!(window_seconds),
    );
    default_str(rules, HPA_RULES, "selectPolicy", "Max");
    default_field(rules, HPA_RULES, "policies", policies);
}

/// `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort` (networking/v1).
pub(super) fn default_network_policy(root: &mut Map<String, Value>) {
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
pub(super) fn default_crd(root: &mut Map<String, Value>) {
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
