//! Pod specs: containers, ports, restart policies.

use k8s_model::names::dns1123_label;
use serde_json::Value;

use super::{Errors, PORT_RANGE_MSG, go_quote};

/// `ValidatePodSpec` (the main rules): containers non-empty, names DNS labels and unique,
/// images required, ports in range, the restart policy.
pub(super) fn validate_pod_spec(
    pod: &Value,
    path: &str,
    restart_policies: Option<&[&str]>,
    errs: &mut Errors,
) {
    let containers = pod.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        errs.required(&format!("{path}.containers"), "");
    }
    let mut seen = std::collections::HashSet::new();
    for key in ["initContainers", "containers"] {
        for (i, c) in pod
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cpath = format!("{path}.{key}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => errs.required(&format!("{cpath}.name"), ""),
                Some(name) => {
                    for msg in dns1123_label(name) {
                        errs.invalid(&format!("{cpath}.name"), &go_quote(name), &msg);
                    }
                    if !seen.insert(name.to_string()) {
                        errs.duplicate(&format!("{cpath}.name"), name);
                    }
                }
            }
            let image = c.get("image").and_then(Value::as_str);
            if image.is_none_or(|s| s.trim().is_empty()) {
                errs.required(&format!("{cpath}.image"), "");
            }
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let ppath = format!("{cpath}.ports[{j}]");
                let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    errs.invalid(
                        &format!("{ppath}.containerPort"),
                        &port.to_string(),
                        PORT_RANGE_MSG,
                    );
                }
                if let Some(proto) = p.get("protocol").and_then(Value::as_str)
                    && !matches!(proto, "TCP" | "UDP" | "SCTP")
                {
                    errs.unsupported(&format!("{ppath}.protocol"), proto, &["SCTP", "TCP", "UDP"]);
                }
            }
        }
    }
    if let Some(allowed) = restart_policies {
        let policy = pod
            .get("restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("");
        let field = format!("{path}.restartPolicy");
        if policy.is_empty() {
            let list: Vec<String> = allowed.iter().map(|s| go_quote(s)).collect();
            errs.required(&field, &format!("valid values: {}", list.join(", ")));
        } else if !allowed.contains(&policy) {
            errs.unsupported(&field, policy, allowed);
        }
    }
}
