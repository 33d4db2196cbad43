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

use gitops_cluster::{ClusterClient, ClusterError, core_resource};
use k8s_model::kinds::builtin_scope;
use k8s_model::split_api_version;

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
    /// The release's manifest is not YAML.
    #[error("the manifest of Helm release {namespace}/{name} v{revision} is not YAML: {problem}")]
    Manifest {
        /// The release's namespace.
        namespace: String,
        /// The release.
        name: String,
        /// The revision.
        revision: u64,
        /// The parser's message.
        problem: String,
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
                    problem: error.to_string(),
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
}
