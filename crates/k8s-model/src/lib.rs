//! Pure domain types: resource identity, manifests and their source, drift states, ignore rules.
//! No I/O here.

pub mod duration;
pub mod fieldset;
pub mod kinds;
pub mod mask;
pub mod merge;
pub mod names;
pub mod normalize;
pub mod path;
pub mod quantity;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Identity of a resource: group, kind, namespace, name (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceId {
    /// API group; `""` for the core group.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ResourceId {
    /// Group and kind as kubectl prints them: `Deployment.apps`, `ConfigMap`.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

impl fmt::Display for ResourceId {
    /// `<group>/<Kind>/<ns>/<name>`, the form diff headers use (SPEC §5); `_` for no namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        let ns = self.namespace.as_deref().unwrap_or("_");
        write!(f, "{group}/{}/{ns}/{}", self.kind, self.name)
    }
}

/// Splits `apiVersion` into group and version: `apps/v1` → (`apps`, `v1`), `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Where a desired resource comes from in the environment repo (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// File path relative to the repo root, `/`-separated.
    pub file: String,
    /// Index of the YAML document within the file, from 0.
    pub document: usize,
    /// First line of the document in the file, from 1.
    pub line: usize,
    /// Last line of the document in the file, inclusive.
    pub end_line: usize,
}

/// One desired resource: its identity, the object as written (after rendering), and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Identity (namespace filled from `-n`/context default for namespaced kinds).
    pub id: ResourceId,
    /// `apiVersion` as written.
    pub api_version: String,
    /// The object as a JSON value.
    pub object: Value,
    /// Where it comes from.
    pub source: Source,
    /// The GitOps controller object that applies it (SPEC §11): the Flux `Kustomization` or
    /// `HelmRelease`, or the Argo CD `Application`, whose rendering made it; `None` for a
    /// resource of `--path` itself.
    pub owner: Option<Owner>,
}

/// A controller object that applies resources for the environment (SPEC §11), shown as
/// `Kustomization flux-system/apps`, `HelmRelease podinfo/podinfo`, `Application argocd/guestbook`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Owner {
    /// The owner's identity: group and kind say which controller.
    pub id: ResourceId,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.id.kind, self.id.name),
            None => write!(f, "{} {}", self.id.kind, self.id.name),
        }
    }
}

/// A commit as every output shows it (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// Full sha.
    pub id: String,
    /// First line of the message.
    pub summary: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Author time, RFC 3339.
    pub time: String,
}

/// State of a resource (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DriftState {
    /// Live exists and a sync would change nothing.
    Synced,
    /// Live exists and a sync would change it.
    Drifted,
    /// Desired, not in the cluster.
    Missing,
    /// In the cluster, a member of this environment's ApplySet, not desired.
    Orphaned,
    /// The cluster does not serve the kind.
    Unknown,
    /// Could not be determined.
    Error,
}

impl DriftState {
    /// Where rows in this state go in the terminal UI's Resources pane (SPEC §9): those that
    /// need attention first — Error, Drifted, Missing, Orphaned, Unknown — then Synced.
    pub fn attention_rank(self) -> u8 {
        match self {
            DriftState::Error => 0,
            DriftState::Drifted => 1,
            DriftState::Missing => 2,
            DriftState::Orphaned => 3,
            DriftState::Unknown => 4,
            DriftState::Synced => 5,
        }
    }
}

/// One `ignoreDifferences` rule of the config file (SPEC §4, §8). Unset selectors match all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreRule {
    /// API group (`""` for core); `None` matches every group.
    #[serde(default)]
    pub group: Option<String>,
    /// Kind; `None` matches every kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Name; `None` matches every name.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace; `None` matches every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// RFC 6901 pointers of fields to ignore, e.g. `/spec/replicas`.
    #[serde(default)]
    pub json_pointers: Vec<String>,
    /// Ignore the fields these managers own live (from managedFields).
    #[serde(default)]
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreRule {
    /// Whether the rule's selectors match this resource.
    pub fn matches(&self, id: &ResourceId) -> bool {
        self.group.as_deref().is_none_or(|g| g == id.group)
            && self.kind.as_deref().is_none_or(|k| k == id.kind)
            && self.name.as_deref().is_none_or(|n| n == id.name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| Some(ns) == id.namespace.as_deref())
    }
}

/// The 7-character abbreviation of a commit id git prints.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ResourceId {
        ResourceId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("prod".into()),
            name: "web".into(),
        }
    }

    #[test]
    fn display_and_group_kind() {
        assert_eq!(web().to_string(), "apps/Deployment/prod/web");
        assert_eq!(web().group_kind(), "Deployment.apps");
        let ns = ResourceId {
            group: "".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: "prod".into(),
        };
        assert_eq!(ns.to_string(), "core/Namespace/_/prod");
        assert_eq!(ns.group_kind(), "Namespace");
    }

    #[test]
    fn api_version_split() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }

    #[test]
    fn ignore_rule_selectors() {
        let rule = IgnoreRule {
            group: Some("apps".into()),
            kind: Some("Deployment".into()),
            ..Default::default()
        };
        assert!(rule.matches(&web()));
        let other_ns = IgnoreRule {
            namespace: Some("dev".into()),
            ..Default::default()
        };
        assert!(!other_ns.matches(&web()));
        assert!(IgnoreRule::default().matches(&web()));
    }
}
