//! ApplySet tracking keys (SPEC §6, KEP-3659): the parent ConfigMap of an environment, its id,
//! and the group-kinds it says its members have.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Label on the parent holding the ApplySet id.
pub const APPLYSET_ID_LABEL: &str = "applyset.kubernetes.io/id";

/// Annotation on the parent listing the members' group-kinds (`Deployment.apps,ConfigMap`).
pub const CONTAINS_GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";

/// Label on each member naming the ApplySet it belongs to.
pub use k8s_model::normalize::PART_OF_LABEL;

/// Name of the parent ConfigMap of environment `env`. The env name comes from the config file
/// or a directory name (`Prod`, `my_env`), so it is folded into a valid object name (RFC 1123
/// subdomain): lower case, other characters as `-`, at most 253 characters.
pub fn parent_name(env: &str) -> String {
    let mut folded = String::with_capacity(env.len());
    for c in env.chars() {
        match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.') => folded.push(c),
            _ => folded.push('-'),
        }
    }
    let folded = folded.trim_matches(|c| c == '-' || c == '.');
    let name = if folded.is_empty() {
        "kubectl-gitops-env".to_owned()
    } else {
        format!("kubectl-gitops-{folded}")
    };
    let mut name: String = name.chars().take(253).collect();
    while name.ends_with(['-', '.']) {
        name.pop();
    }
    name
}

/// The ApplySet id of a parent ConfigMap, as kubectl computes it (`ApplySet.ID()` in
/// k8s.io/kubectl/pkg/cmd/apply/applyset.go): `applyset-<base64url(sha256(<name>.<namespace>.
/// <kind>.<group>))>-v1`, unpadded URL-safe base64; the core group is empty, hence the trailing dot.
pub fn applyset_id(parent_name: &str, parent_namespace: &str) -> String {
    let unencoded = format!("{parent_name}.{parent_namespace}.ConfigMap.");
    let hashed = Sha256::digest(unencoded.as_bytes());
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hashed);
    format!("applyset-{encoded}-v1")
}

/// Reads the `contains-group-kinds` annotation: `Kind.group` entries (`Kind` alone for core),
/// comma-separated; blanks skipped. Returns (group, kind) pairs.
pub fn parse_group_kinds(annotation: &str) -> Vec<(String, String)> {
    annotation
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('.') {
            Some((kind, group)) => (group.to_owned(), kind.to_owned()),
            None => (String::new(), entry.to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_names_are_valid_object_names() {
        assert_eq!(parent_name("prod"), "kubectl-gitops-prod");
        assert_eq!(
            parent_name("kgo-env-QTXDXq"),
            "kubectl-gitops-kgo-env-qtxdxq"
        );
        assert_eq!(parent_name("my_env "), "kubectl-gitops-my-env");
        assert_eq!(parent_name("..."), "kubectl-gitops-env");
        assert_eq!(parent_name(&"x".repeat(400)).len(), 253);
    }

    #[test]
    fn id_follows_kubectl_formula() {
        // Known answer computed outside Rust: printf 'kubectl-gitops-prod.default.ConfigMap.' |
        // openssl dgst -sha256 -binary | openssl base64 -A | tr -d '=' | tr '/+' '_-'
        let id = applyset_id("kubectl-gitops-prod", "default");
        assert_eq!(
            id,
            "applyset-1GQyo2T4a7gNGuXFu5vqjvjLgYQw1N32mU021GKB-_Y-v1"
        );
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
        assert!(!id.contains('=') && !id.contains('+') && !id.contains('/'));
        assert_ne!(id, applyset_id("kubectl-gitops-prod", "other"));
    }

    #[test]
    fn group_kinds_parse() {
        assert_eq!(
            parse_group_kinds("ConfigMap,Deployment.apps, Ingress.networking.k8s.io,"),
            vec![
                (String::new(), "ConfigMap".to_owned()),
                ("apps".to_owned(), "Deployment".to_owned()),
                ("networking.k8s.io".to_owned(), "Ingress".to_owned()),
            ]
        );
        assert!(parse_group_kinds("").is_empty());
    }
}
