//! Services: types, ports, node ports.

use k8s_model::names::{dns1123_label, is_alnum_lower};
use serde_json::Value;

use super::{Errors, PORT_RANGE_MSG, go_quote, validate_labels};

/// `ValidateService` (the main rules).
pub(super) fn validate_service(spec: Option<&Value>, errs: &mut Errors) {
    let empty = Value::Null;
    let spec = spec.unwrap_or(&empty);
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !TYPES.contains(&svc_type) {
        errs.unsupported("spec.type", svc_type, TYPES);
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if let Some(selector) = spec.get("selector").and_then(Value::as_object) {
        validate_labels(selector, "spec.selector", errs);
    }
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if svc_type == "ExternalName" {
        let name = spec
            .get("externalName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if name.is_empty() {
            errs.required("spec.externalName", "");
        }
    } else if ports.is_empty() && !headless {
        errs.required("spec.ports", "");
    }
    let mut names = std::collections::HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ppath = format!("spec.ports[{i}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.required(&format!("{ppath}.name"), "");
        } else if !name.is_empty() {
            for msg in dns1123_label(name) {
                errs.invalid(&format!("{ppath}.name"), &go_quote(name), &msg);
            }
            if !names.insert(name.to_string()) {
                errs.duplicate(&format!("{ppath}.name"), name);
            }
        }
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            errs.invalid(&format!("{ppath}.port"), &port.to_string(), PORT_RANGE_MSG);
        }
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if !matches!(proto, "TCP" | "UDP" | "SCTP") {
            errs.unsupported(&format!("{ppath}.protocol"), proto, &["SCTP", "TCP", "UDP"]);
        }
        match p.get("targetPort") {
            Some(Value::Number(n)) => {
                let t = n.as_i64().unwrap_or(0);
                if !(1..=65535).contains(&t) {
                    errs.invalid(
                        &format!("{ppath}.targetPort"),
                        &t.to_string(),
                        PORT_RANGE_MSG,
                    );
                }
            }
            Some(Value::String(s))
                if (s.len() > 15
                    || !s.chars().all(|c| is_alnum_lower(c) || c == '-')
                    || !s.chars().any(|c| c.is_ascii_lowercase())) =>
            {
                errs.invalid(
                    &format!("{ppath}.targetPort"),
                    &go_quote(s),
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                );
            }
            _ => {}
        }
        if let Some(np) = p.get("nodePort").and_then(Value::as_i64)
            && np != 0
        {
            if svc_type != "NodePort" && svc_type != "LoadBalancer" {
                errs.forbidden(
                    &format!("{ppath}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            } else if !(30000..=32767).contains(&np) {
                errs.invalid(
                    &format!("{ppath}.nodePort"),
                    &np.to_string(),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                );
            }
        }
    }
}
