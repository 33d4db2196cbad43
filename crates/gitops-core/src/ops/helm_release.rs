//! Deployed Helm releases read from Helm's own storage in the cluster, no helm binary
//! (SPEC §11): what a chart's release deployed, to compare its objects with even when the
//! chart cannot be rendered here.
//!
//! Helm 3's default storage driver (helm `pkg/storage/driver/secrets.go`, `newSecretsObject`)
//! keeps each revision of a release in a Secret of type `helm.sh/release.v1` named
//! `sh.helm.release.v1.<release>.v<revision>`, labelled `owner=helm`, `name=<release>`,
//! `version=<revision>`, `status=<status>`, whose `data.release` holds what
//! `pkg/storage/driver/util.go` `encodeRelease` writes: the release as JSON, gzipped at best
//! compression, base64 (standard) encoded — inside the Secret's own base64 of `data`.
//! `decodeRelease` skips the gunzip when the bytes do not start with the gzip magic
//! `1f 8b 08` (releases stored before compression); so does [`decode_release`].

use std::io::Read;

use base64::Engine;
use serde_json::Value;

use crate::ops::history::{ChangeKind, ResourceChange};
use crate::ops::status::ResourceFilter;
use gitops_cluster::{ClusterClient, ClusterError, Discovery, core_resource};
use gitops_render::Rendered;
use k8s_model::kinds::builtin_scope;
use k8s_model::{Manifest, ResourceId, split_api_version};

/// The `type` of the Secrets Helm stores releases in.
pub const RELEASE_SECRET_TYPE: &str = "helm.sh/release.v1";

/// The gzip magic `decodeRelease` checks for.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// One revision of a release as Helm stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedRelease {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The revision (`version` in Helm's release).
    pub revision: u64,
    /// `info.status`: `deployed`, `superseded`, `failed`, ...
    pub status: String,
    /// The chart's `metadata.name`.
    pub chart_name: String,
    /// The chart's `metadata.version`.
    pub chart_version: String,
    /// The rendered manifest Helm applied (YAML documents).
    pub manifest: String,
    /// The values given to the release (`config`); may hold secrets: never print it.
    pub config: Value,
}

/// Why a release could not be read; each names the Secret and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The Secrets could not be listed.
    #[error("cannot read Helm release {namespace}/{name}: {source}")]
    Cluster {
        /// The release's namespace.
        namespace: String,
        /// The release.
        name: String,
        /// The failure.
        #[source]
        source: Box<ClusterError>,
    },
    /// A Secret whose `data.release` is not what Helm writes.
    #[error(
        "secret {namespace}/{secret} is not a Helm release Helm can read either: {problem}; check it with `helm history`"
    )]
    Undecodable {
        /// Its namespace.
        namespace: String,
        /// The Secret.
        secret: String,
        /// What is wrong.
        problem: String,
    },
    /// The release's manifest is not YAML. The parser's message is not given: it can quote
    /// the text it stopped at, and a manifest holds the release's Secrets (SPEC §4).
    #[error(
        "the manifest of Helm release {namespace}/{name} v{revision} is not YAML{at} (the \
         parser's message is withheld: a release manifest holds its Secrets); see it with \
         `helm get manifest {name} -n {namespace} --revision {revision}`"
    )]
    Manifest {
        /// The release's namespace.
        namespace: String,
        /// The release.
        name: String,
        /// The revision.
        revision: u64,
        /// ` at line N` of the manifest, when the parser says.
        at: String,
    },
}

/// The release JSON from `data.release` as Helm's `encodeRelease` wrote it (the Secret's own
/// base64 already decoded): base64, then gunzip when the gzip magic is there.
pub fn decode_release(stored: &[u8]) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|error| format!("data.release is not base64: {error}"))?;
    let json = if bytes.len() > 3 && bytes[..3] == GZIP_MAGIC {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut json)
            .map_err(|error| format!("data.release is not gzip: {error}"))?;
        json
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|error| format!("the release is not JSON: {error}"))
}

/// The release a Helm release Secret (as the API serves it) holds.
pub fn release_from_secret(secret: &Value) -> Result<DeployedRelease, ReleaseError> {
    let field = |pointer: &str| secret.pointer(pointer).and_then(Value::as_str);
    let namespace = field("/metadata/namespace").unwrap_or_default().to_owned();
    let name = field("/metadata/name").unwrap_or_default().to_owned();
    let undecodable = |problem: String| ReleaseError::Undecodable {
        namespace: namespace.clone(),
        secret: name.clone(),
        problem,
    };
    let data = field("/data/release").ok_or_else(|| undecodable("no data.release".into()))?;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|error| undecodable(format!("data.release is not base64: {error}")))?;
    let release = decode_release(&stored).map_err(undecodable)?;
    let text = |pointer: &str| {
        release
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(DeployedRelease {
        name: text("/name"),
        namespace: match text("/namespace") {
            ns if ns.is_empty() => namespace.clone(),
            ns => ns,
        },
        revision: release
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| undecodable("the release has no version".into()))?,
        status: text("/info/status"),
        chart_name: text("/chart/metadata/name"),
        chart_version: text("/chart/metadata/version"),
        manifest: text("/manifest"),
        config: release.get("config").cloned().unwrap_or(Value::Null),
    })
}

/// The latest deployed revision of release `name` in `namespace` (Helm's
/// `Storage.Deployed`: the Secrets labelled `owner=helm,name=<name>,status=deployed`, the
/// highest `version`); `None` when it has none.
pub async fn latest_deployed_release(
    cluster: &ClusterClient,
    namespace: &str,
    name: &str,
) -> Result<Option<DeployedRelease>, ReleaseError> {
    let secrets = core_resource("Secret", "secrets");
    let selector = format!("owner=helm,name={name},status=deployed");
    let listed = cluster
        .list(&secrets, Some(namespace), Some(&selector))
        .await
        .map_err(|error| ReleaseError::Cluster {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source: Box::new(error),
        })?;
    let version = |secret: &Value| {
        secret
            .pointer("/metadata/labels/version")
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let latest = listed
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(RELEASE_SECRET_TYPE))
        .max_by_key(|s| version(s));
    latest.map(release_from_secret).transpose()
}

impl DeployedRelease {
    /// The objects of its manifest, in order, each in the release's namespace unless it names
    /// one or its kind is a built-in cluster-scoped one (as Helm applies them).
    pub fn objects(&self) -> Result<Vec<Value>, ReleaseError> {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(&self.manifest).map_err(|error| {
                ReleaseError::Manifest {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    revision: self.revision,
                    at: gitops_render::documents::yaml_error(&error)
                        .line
                        .map(|line| format!(" at line {line}"))
                        .unwrap_or_default(),
                }
            })?;
        Ok(documents
            .into_iter()
            .filter(|doc| doc.is_object())
            .map(|mut object| {
                let group = object
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .map(|v| split_api_version(v).0.to_owned())
                    .unwrap_or_default();
                let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
                let namespaced = builtin_scope(&group, kind).unwrap_or(true);
                if namespaced
                    && let Some(metadata) =
                        object.get_mut("metadata").and_then(Value::as_object_mut)
                    && !metadata.contains_key("namespace")
                {
                    metadata.insert("namespace".into(), self.namespace.clone().into());
                }
                object
            })
            .collect())
    }
}

/// The revision of a Helm release deployed in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HelmReleaseRevision {
    /// `namespace/name` of the release (its storage namespace).
    pub release: String,
    /// Helm's revision (`version`).
    pub revision: u64,
    /// `info.status`, e.g. `deployed`.
    pub status: String,
    /// `<chart>-<version>`.
    pub chart: String,
}

impl HelmReleaseRevision {
    /// The revision of `release`, stored as `namespace/name`.
    fn of(namespace: &str, name: &str, release: &DeployedRelease) -> HelmReleaseRevision {
        HelmReleaseRevision {
            release: format!("{namespace}/{name}"),
            revision: release.revision,
            status: release.status.clone(),
            chart: format!("{}-{}", release.chart_name, release.chart_version),
        }
    }

    /// `Helm release ns/name revision N (status, chart x-y)`, as blame and history head
    /// their text with it.
    pub fn describe(&self) -> String {
        format!(
            "Helm release {} revision {} ({}, chart {})",
            self.release, self.revision, self.status, self.chart
        )
    }
}

/// The latest deployed release of the HelmRelease `id` as it is live (its release name and
/// storage namespace as helm-controller sets them), with its revision; `None` when the
/// HelmRelease or its release is not in the cluster or cannot be read (said at debug level:
/// the callers fall back to git alone).
pub async fn live_release(
    cluster: &ClusterClient,
    discovery: &Discovery,
    id: &ResourceId,
) -> Option<(HelmReleaseRevision, DeployedRelease)> {
    let served = discovery.preferred_kind(&id.group, &id.kind)?;
    let live = match cluster
        .get(&served.resource, id.namespace.as_deref(), &id.name)
        .await
    {
        Ok(live) => live?,
        Err(error) => {
            tracing::debug!("{id}: {error}");
            return None;
        }
    };
    let (namespace, name) = crate::ops::status::membership::helm_release_of(id, &live);
    match latest_deployed_release(cluster, &namespace, &name).await {
        Ok(release) => release.map(|release| {
            let revision = HelmReleaseRevision::of(&namespace, &name, &release);
            (revision, release)
        }),
        Err(error) => {
            tracing::debug!("{error}");
            None
        }
    }
}

/// A HelmRelease of the rendered environment whose chart did not render here.
#[derive(Debug, Clone)]
pub struct FailedRelease {
    /// The HelmRelease as rendered (its values after overlays).
    pub release: Manifest,
    /// Its render error, as the command reports it.
    pub error: String,
}

/// The HelmReleases of `rendered` that have a render error on their document (the error
/// `render_helm_release` puts on the HelmRelease's file and line).
pub fn failed_releases(rendered: &Rendered) -> Vec<FailedRelease> {
    rendered
        .manifests
        .iter()
        .filter(|m| m.id.kind == "HelmRelease" && m.id.group == HELM_RELEASE_GROUP)
        .filter_map(|m| {
            let error = rendered.errors.iter().find(|e| {
                e.file == m.source.file
                    && e.line
                        .is_some_and(|line| m.source.line <= line && line <= m.source.end_line)
            })?;
            Some(FailedRelease {
                release: m.clone(),
                error: error.to_string(),
            })
        })
        .collect()
}

/// The API group of Flux's HelmRelease.
const HELM_RELEASE_GROUP: &str = "helm.toolkit.fluxcd.io";

/// An object a HelmRelease's chart made, read from the manifest its deployed release holds,
/// because git cannot render the chart here (SPEC §11).
#[derive(Debug, Clone)]
pub struct ReleasedObject {
    /// Its identity.
    pub id: ResourceId,
    /// The object as the release's manifest holds it (namespace filled in as Helm applies it).
    pub object: Value,
    /// The HelmRelease that made it, as rendered at the revision.
    pub helm_release: Manifest,
    /// The deployed release it was read from.
    pub revision: HelmReleaseRevision,
    /// Why the chart was not rendered: the HelmRelease's render error.
    pub render_error: String,
}

/// The object `filter` selects among the deployed releases of the HelmReleases in `failed`
/// (without `-n`, the default namespace's first, as blame selects in git); `None` when no
/// release holds it or none can be read.
pub async fn released_object(
    cluster: &ClusterClient,
    discovery: &Discovery,
    failed: &[FailedRelease],
    filter: &ResourceFilter,
    default_namespace: &str,
) -> Option<ReleasedObject> {
    let mut found: Vec<ReleasedObject> = Vec::new();
    for failed in failed {
        let Some((revision, release)) = live_release(cluster, discovery, &failed.release.id).await
        else {
            continue;
        };
        let objects = match release.objects() {
            Ok(objects) => objects,
            Err(error) => {
                tracing::debug!("{error}");
                continue;
            }
        };
        for object in objects {
            let Some(id) = crate::ops::status::member_id(&object, discovery) else {
                continue;
            };
            if filter.matches(&id) {
                found.push(ReleasedObject {
                    id,
                    object,
                    helm_release: failed.release.clone(),
                    revision: revision.clone(),
                    render_error: failed.error.clone(),
                });
            }
        }
    }
    if found.len() > 1 {
        let preferred = found
            .iter()
            .position(|f| f.id.namespace.as_deref() == Some(default_namespace));
        if let Some(preferred) = preferred {
            return Some(found.swap_remove(preferred));
        }
    }
    found.into_iter().next()
}

/// What a HelmRelease's values are made of in git: its own `spec.values` and `valuesFrom`,
/// and the ConfigMaps and Secrets `valuesFrom` names. A commit changed the release's values
/// when it changed one of them ([`ReleaseValues::changed_by`]).
#[derive(Debug, Clone)]
pub struct ReleaseValues {
    /// The HelmRelease.
    pub release: ResourceId,
    /// The ConfigMaps and Secrets of its `valuesFrom`, in its namespace.
    pub sources: Vec<ResourceId>,
}

impl ReleaseValues {
    /// The values of the HelmRelease `release` as rendered.
    pub fn of(release: &Manifest) -> ReleaseValues {
        let sources = release
            .object
            .pointer("/spec/valuesFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|reference| {
                let kind = reference.get("kind").and_then(Value::as_str)?;
                let name = reference.get("name").and_then(Value::as_str)?;
                matches!(kind, "ConfigMap" | "Secret").then(|| ResourceId {
                    group: String::new(),
                    kind: kind.to_owned(),
                    namespace: release.id.namespace.clone(),
                    name: name.to_owned(),
                })
            })
            .collect();
        ReleaseValues {
            release: release.id.clone(),
            sources,
        }
    }

    /// Whether `change` changed the release's values: a `valuesFrom` source changed, or the
    /// HelmRelease was added, removed, or its `spec.values`/`spec.valuesFrom` modified (a
    /// change without its objects counts).
    pub fn changed_by(&self, change: &ResourceChange) -> bool {
        if self.sources.contains(&change.id) {
            return true;
        }
        if change.id != self.release {
            return false;
        }
        let values = |object: &Value| {
            (
                object.pointer("/spec/values").cloned(),
                object.pointer("/spec/valuesFrom").cloned(),
            )
        };
        match (change.change, &change.before, &change.after) {
            (ChangeKind::Modified, Some(before), Some(after)) => values(before) != values(after),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    /// Helm's `encodeRelease` (pkg/storage/driver/util.go): JSON, gzip at best compression,
    /// standard base64.
    fn encode_like_helm(release: &Value) -> String {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&serde_json::to_vec(release).unwrap()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    fn release() -> Value {
        json!({
            "name": "podinfo",
            "namespace": "apps",
            "version": 3,
            "info": {"status": "deployed"},
            "chart": {"metadata": {"name": "podinfo", "version": "6.5.0"}},
            "config": {"replicaCount": 2},
            "manifest": "---\n# Source: podinfo/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  ports:\n  - port: 9898\n---\n# Source: podinfo/templates/crb.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: podinfo\n",
        })
    }

    #[test]
    fn decodes_what_helm_encodes_and_what_it_stored_before_gzip() {
        assert_eq!(
            decode_release(encode_like_helm(&release()).as_bytes()),
            Ok(release())
        );
        // Before compression (decodeRelease's magic check): base64 of the JSON itself.
        let plain = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(&release()).unwrap());
        assert_eq!(decode_release(plain.as_bytes()), Ok(release()));
        assert!(decode_release(b"not base64!").is_err());
    }

    #[test]
    fn release_and_its_objects_from_the_secret() {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": RELEASE_SECRET_TYPE,
            "metadata": {"name": "sh.helm.release.v1.podinfo.v3", "namespace": "apps"},
            "data": {"release": base64::engine::general_purpose::STANDARD
                .encode(encode_like_helm(&release()))},
        });
        let release = release_from_secret(&secret).unwrap();
        assert_eq!(
            (
                release.name.as_str(),
                release.revision,
                release.chart_name.as_str(),
                release.chart_version.as_str(),
                release.status.as_str()
            ),
            ("podinfo", 3, "podinfo", "6.5.0", "deployed")
        );
        assert_eq!(release.config, json!({"replicaCount": 2}));
        let objects = release.objects().unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["metadata"]["namespace"], "apps");
        assert!(objects[1]["metadata"].get("namespace").is_none());
        let broken = json!({"metadata": {"name": "sh.helm.release.v1.x.v1", "namespace": "apps"},
            "data": {"release": "AAAA"}});
        let error = release_from_secret(&broken).unwrap_err().to_string();
        assert!(error.contains("apps/sh.helm.release.v1.x.v1"), "{error}");
    }

    fn manifest(kind: &str, group: &str, name: &str, object: Value, line: usize) -> Manifest {
        Manifest {
            id: ResourceId {
                group: group.into(),
                kind: kind.into(),
                namespace: Some("apps".into()),
                name: name.into(),
            },
            api_version: String::new(),
            object,
            source: k8s_model::Source {
                file: "apps/web.yaml".into(),
                document: 0,
                line,
                end_line: line + 9,
            },
            owner: None,
        }
    }

    /// A manifest that is not YAML because of a Secret's value: the error names the release,
    /// the line and `helm get manifest`, and quotes nothing of the manifest.
    #[test]
    fn a_manifest_that_is_not_yaml_is_reported_without_its_text() {
        let secret_value = "hunter2: s3cr3t-Value";
        for manifest in [
            // The value makes a second key `password` (duplicate) or breaks the mapping.
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  \
                 password: x\n  password: {secret_value}\n"
            ),
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  \
                 password: {secret_value}\n   - [{secret_value}\n"
            ),
            format!("apiVersion: v1\nkind: Secret\nstringData: {{a: \"{secret_value}\n"),
        ] {
            let mut release = release_from_secret(&json!({
                "apiVersion": "v1", "kind": "Secret", "type": RELEASE_SECRET_TYPE,
                "metadata": {"name": "sh.helm.release.v1.podinfo.v3", "namespace": "apps"},
                "data": {"release": base64::engine::general_purpose::STANDARD
                    .encode(encode_like_helm(&release()))},
            }))
            .unwrap();
            release.manifest = manifest;
            let message = release.objects().unwrap_err().to_string();
            for part in ["hunter2", "s3cr3t", "password"] {
                assert!(!message.contains(part), "{part} in: {message}");
            }
            assert!(
                message.starts_with(
                    "the manifest of Helm release apps/podinfo v3 is not YAML at line "
                ) && message.ends_with("`helm get manifest podinfo -n apps --revision 3`"),
                "{message}"
            );
        }
    }

    #[test]
    fn release_values_change_with_values_value_sources_and_the_release_itself() {
        let release = manifest(
            "HelmRelease",
            HELM_RELEASE_GROUP,
            "web",
            json!({"spec": {"values": {"a": 1}, "valuesFrom": [
                {"kind": "ConfigMap", "name": "web-values"}, {"kind": "Other", "name": "x"}]}}),
            1,
        );
        let values = ReleaseValues::of(&release);
        assert_eq!(values.sources.len(), 1);
        let change =
            |id: &ResourceId, kind, before: Option<Value>, after: Option<Value>| ResourceChange {
                id: id.clone(),
                api_version: String::new(),
                change: kind,
                before,
                after,
                file: String::new(),
            };
        let spec =
            |interval: &str, a: u32| json!({"spec": {"interval": interval, "values": {"a": a}}});
        let id = &release.id;
        assert!(values.changed_by(&change(id, ChangeKind::Added, None, Some(spec("1m", 1)))));
        assert!(values.changed_by(&change(
            id,
            ChangeKind::Modified,
            Some(spec("1m", 1)),
            Some(spec("1m", 2))
        )));
        assert!(!values.changed_by(&change(
            id,
            ChangeKind::Modified,
            Some(spec("1m", 1)),
            Some(spec("5m", 1))
        )));
        assert!(values.changed_by(&change(
            &values.sources[0],
            ChangeKind::Modified,
            None,
            None
        )));
        let other = ResourceId {
            name: "other".into(),
            ..id.clone()
        };
        assert!(!values.changed_by(&change(&other, ChangeKind::Added, None, None)));
    }

    #[test]
    fn failed_releases_are_the_helm_releases_with_an_error_on_their_document() {
        let broken = manifest("HelmRelease", HELM_RELEASE_GROUP, "web", json!({}), 1);
        let fine = manifest("HelmRelease", HELM_RELEASE_GROUP, "api", json!({}), 12);
        let config = manifest("ConfigMap", "", "web", json!({}), 23);
        let error = |line: usize| gitops_render::RenderError {
            file: "apps/web.yaml".into(),
            line: Some(line),
            message: "HelmRelease apps/web: no chart".into(),
        };
        let rendered = Rendered {
            commit: "0123456789abcdef0123456789abcdef01234567".parse().unwrap(),
            manifests: vec![broken, fine, config],
            errors: vec![error(1), error(23)],
            config: gitops_render::EnvConfig::defaults("apps"),
            warnings: Vec::new(),
            controller_inputs: None,
            fixed: false,
        };
        let failed = failed_releases(&rendered);
        let names: Vec<&str> = failed.iter().map(|f| f.release.id.name.as_str()).collect();
        assert_eq!(names, ["web"]);
        assert!(failed[0].error.contains("HelmRelease apps/web: no chart"));
    }
}
