//! RESOURCE arguments (`deploy/web`, `cm`): resolved to the kinds and names they select.

use std::sync::Arc;

use gitops_cluster::{ClusterClient, Discovery};
use k8s_model::ResourceId;
use k8s_model::kinds::builtin_type;

use super::StatusError;

/// A RESOURCE argument resolved to a kind, and optionally a name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFilter {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name; `None` selects every resource of the kind.
    pub name: Option<String>,
    /// Namespace (from `-n`) for namespaced kinds; `None` matches any.
    pub namespace: Option<String>,
}

impl ResourceFilter {
    /// Whether the filter selects `id`.
    pub fn matches(&self, id: &ResourceId) -> bool {
        self.group == id.group
            && self.kind == id.kind
            && self.name.as_deref().is_none_or(|n| n == id.name)
            && (self.namespace.is_none()
                || id.namespace.is_none()
                || self.namespace == id.namespace)
    }
}

/// The built-in type `resource_type` names, as (group, kind, namespaced), or the error naming
/// `arg` and where it was looked for.
fn builtin_or(
    arg: &str,
    resource_type: &str,
    where_: &'static str,
) -> Result<(String, String, Option<bool>), StatusError> {
    if let Some(found) = builtin_type(resource_type) {
        return Ok((
            found.group.to_owned(),
            found.kind.to_owned(),
            Some(found.namespaced),
        ));
    }
    let found = gitops_type(resource_type).ok_or_else(|| StatusError::UnknownResourceType {
        arg: arg.to_owned(),
        resource_type: resource_type.to_owned(),
        where_,
    })?;
    Ok((found.group.to_owned(), found.kind.to_owned(), Some(true)))
}

/// A kind of a GitOps controller's CRD that SPEC §11 renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitopsKind {
    /// API group.
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name.
    pub plural: &'static str,
    /// Short names.
    pub short_names: &'static [&'static str],
}

/// The Flux and Argo CD kinds (all namespaced), named offline as kubectl names them once
/// their CRDs are installed: `hr/podinfo`, `ks/apps`, `app/guestbook`,
/// `helmrelease.helm.toolkit.fluxcd.io/podinfo`. Taken from the CRDs of source-controller
/// v1.9.0, kustomize-controller v1.9.0, helm-controller v1.6.0, source-watcher v2.2.0 and
/// Argo CD (a test checks them against those CRDs in `../shared/corpus/crds`). Without a
/// cluster, `blame` and `diff --from` of these objects need no discovery.
pub const GITOPS_KINDS: &[GitopsKind] = &[
    gitops(
        "helm.toolkit.fluxcd.io",
        "HelmRelease",
        "helmreleases",
        &["hr"],
    ),
    gitops(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
        &["ks"],
    ),
    gitops(
        "source.extensions.fluxcd.io",
        "ArtifactGenerator",
        "artifactgenerators",
        &["ag"],
    ),
    gitops("source.toolkit.fluxcd.io", "Bucket", "buckets", &[]),
    gitops(
        "source.toolkit.fluxcd.io",
        "ExternalArtifact",
        "externalartifacts",
        &["ea"],
    ),
    gitops(
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
        &["gitrepo"],
    ),
    gitops(
        "source.toolkit.fluxcd.io",
        "HelmChart",
        "helmcharts",
        &["hc"],
    ),
    gitops(
        "source.toolkit.fluxcd.io",
        "HelmRepository",
        "helmrepositories",
        &["helmrepo"],
    ),
    gitops(
        "source.toolkit.fluxcd.io",
        "OCIRepository",
        "ocirepositories",
        &["ocirepo"],
    ),
    gitops(
        "argoproj.io",
        "Application",
        "applications",
        &["app", "apps"],
    ),
    gitops(
        "argoproj.io",
        "ApplicationSet",
        "applicationsets",
        &["appset", "appsets"],
    ),
    gitops(
        "argoproj.io",
        "AppProject",
        "appprojects",
        &["appproj", "appprojs"],
    ),
];

const fn gitops(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
) -> GitopsKind {
    GitopsKind {
        group,
        kind,
        plural,
        short_names,
    }
}

/// The GitOps kind `resource_type` names: plural, kind (any case) or short name, optionally
/// with `.group` or `.version.group`, as [`builtin_type`] reads built-in types.
pub fn gitops_type(resource_type: &str) -> Option<&'static GitopsKind> {
    let named = |name: &str, group_ok: &dyn Fn(&str) -> bool| {
        let name = name.to_ascii_lowercase();
        GITOPS_KINDS.iter().find(|k| {
            group_ok(k.group)
                && (name == k.plural
                    || name == k.kind.to_ascii_lowercase()
                    || k.short_names.contains(&name.as_str()))
        })
    };
    if let Some(found) = named(resource_type, &|_| true) {
        return Some(found);
    }
    let (name, rest) = resource_type.split_once('.')?;
    named(name, &|g| g == rest).or_else(|| {
        let (_version, group) = rest.split_once('.')?;
        named(name, &|g| g == group)
    })
}

/// Resolves a RESOURCE argument written as kubectl takes it (`deploy/web`,
/// `deployment.apps/web`, `Service/web`, `cm/settings`, or a type alone): through discovery
/// when given (short names, plural and singular), else through the built-in table.
/// `namespace` is `-n`; it restricts namespaced kinds only.
pub fn resolve_resource_arg(
    arg: &str,
    namespace: Option<&str>,
    discovery: Option<&Discovery>,
) -> Result<ResourceFilter, StatusError> {
    let (resource_type, name) = match arg.split_once('/') {
        Some((resource_type, name)) => (resource_type, Some(name)),
        None => (arg, None),
    };
    if resource_type.is_empty() || name.is_some_and(|n| n.is_empty() || n.contains('/')) {
        return Err(StatusError::BadResourceArg {
            arg: arg.to_owned(),
        });
    }
    let (group, kind, namespaced) = match discovery {
        Some(discovery) => match discovery.find_type(resource_type) {
            Some(served) => (
                served.resource.group.clone(),
                served.resource.kind.clone(),
                Some(served.namespaced),
            ),
            // A built-in kind the cluster does not serve (an old API removed) still selects
            // the manifests declaring it, which then show as Unknown.
            None => builtin_or(arg, resource_type, " to the cluster")?,
        },
        None => builtin_or(arg, resource_type, " offline")?,
    };
    Ok(ResourceFilter {
        namespace: namespace
            .filter(|_| namespaced != Some(false))
            .map(str::to_owned),
        group,
        kind,
        name: name.map(str::to_owned),
    })
}

/// Resolves RESOURCE arguments against `discovery` (the environment's groups); a resource
/// type none of them names (a custom kind's short name the environment does not use) asks
/// discovery of every group, as kubectl would, and that fuller discovery is returned.
pub(crate) async fn resolve_resource_args(
    cluster: &ClusterClient,
    args: &[String],
    namespace: Option<&str>,
    discovery: Arc<Discovery>,
) -> Result<(Vec<ResourceFilter>, Arc<Discovery>), StatusError> {
    let resolve = |discovery: &Discovery| {
        args.iter()
            .map(|arg| resolve_resource_arg(arg, namespace, Some(discovery)))
            .collect::<Result<Vec<_>, _>>()
    };
    match resolve(&discovery) {
        Ok(filters) => Ok((filters, discovery)),
        Err(StatusError::UnknownResourceType { .. }) => {
            let all = cluster.discovery().await?;
            Ok((resolve(&all)?, all))
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The table says what the controllers' own CRDs say: group, kind, plural, short names,
    /// namespaced; one entry per CRD.
    #[test]
    fn gitops_kinds_are_their_crds() {
        let corpus = std::env::var_os("KUBECTL_GITOPS_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
            });
        let crds = corpus.join("crds");
        if !crds.is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "no corpus at {}",
                corpus.display()
            );
            eprintln!("note: no corpus at {}; skipped", corpus.display());
            return;
        }
        let mut found = Vec::new();
        for dir in ["flux", "argocd"] {
            for entry in std::fs::read_dir(crds.join(dir)).unwrap().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                let crd: Value = serde_saphyr::from_str(&text).unwrap();
                let names = &crd["spec"]["names"];
                let short: Vec<String> = names["shortNames"]
                    .as_array()
                    .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                assert_eq!(
                    crd["spec"]["scope"],
                    "Namespaced",
                    "{}",
                    entry.path().display()
                );
                found.push((
                    crd["spec"]["group"].as_str().unwrap().to_owned(),
                    names["kind"].as_str().unwrap().to_owned(),
                    names["plural"].as_str().unwrap().to_owned(),
                    short,
                ));
            }
        }
        found.sort();
        let mut ours: Vec<(String, String, String, Vec<String>)> = GITOPS_KINDS
            .iter()
            .map(|k| {
                (
                    k.group.to_owned(),
                    k.kind.to_owned(),
                    k.plural.to_owned(),
                    k.short_names.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect();
        ours.sort();
        assert_eq!(ours, found);
    }

    #[test]
    fn gitops_kinds_resolve_offline_as_kubectl_names_them() {
        for (arg, kind) in [
            ("hr/podinfo", "HelmRelease"),
            ("helmrelease/podinfo", "HelmRelease"),
            ("helmreleases.helm.toolkit.fluxcd.io/podinfo", "HelmRelease"),
            (
                "HelmRelease.v2.helm.toolkit.fluxcd.io/podinfo",
                "HelmRelease",
            ),
            ("ks/apps", "Kustomization"),
            ("app/guestbook", "Application"),
            ("gitrepo/flux-system", "GitRepository"),
        ] {
            let filter = resolve_resource_arg(arg, Some("ns"), None).unwrap();
            assert_eq!(filter.kind, kind, "{arg}");
            assert_eq!(filter.namespace.as_deref(), Some("ns"), "{arg}");
        }
        // Built-in types come first: `kustomization` is no built-in, `deploy` is.
        assert_eq!(
            resolve_resource_arg("deploy/web", None, None)
                .unwrap()
                .group,
            "apps"
        );
        assert!(matches!(
            resolve_resource_arg("httproute/web", None, None),
            Err(StatusError::UnknownResourceType { .. })
        ));
    }
}
