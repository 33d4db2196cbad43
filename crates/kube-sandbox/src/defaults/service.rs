//! Services: type-dependent fields, clusterIP and nodePort allocation.

use serde_json::{Map, Value, json};

use super::{
    ClusterIpAllocator, SERVICE_PORT, SERVICE_SPEC, TOP, default_field, default_str, ensure_obj,
    insert_ordered, missing_str, objects_mut, reorder,
};

/// `SetDefaults_Service` plus the REST layer's IP family and clusterIP / nodePort allocation.
pub(super) fn default_service(
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
