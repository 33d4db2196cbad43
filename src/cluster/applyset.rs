//! ApplySet tracking keys (SPEC §6, KEP-3659): the parent ConfigMap of an environment, its id,
//! and the group-kinds it says its members have.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Label on the parent holding the ApplySet id.
pub const APPLYSET_ID_LABEL: &str = "applyset.kubernetes.io/id";

/// Annotation on the parent listing the members' group-kinds (`Deployment.apps,ConfigMap`).
pub const CONTAINS_GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";

/// Label on each member naming the ApplySet it belongs to.
pub use crate::model::normalize::PART_OF_LABEL;

/// Name of the parent ConfigMap of environment `env`.
pub fn parent_name(env: &str) -> String {
    format!("kubectl-gitops-{env}")
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
