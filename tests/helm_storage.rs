//! Deployed Helm releases read from Helm's storage in the cluster (SPEC §11), no helm binary:
//! the release Secrets are written here exactly as Helm 3 writes them.

mod common;

use std::io::Write;

use base64::Engine;
use common::TestCluster;
use kubectl_gitops::cluster::ClusterClient;
use kubectl_gitops::ops::helm_release::latest_deployed_release;
use serde_json::{Value, json};

/// Helm's `encodeRelease` (helm `pkg/storage/driver/util.go`): the release as JSON, gzipped
/// at `gzip.BestCompression`, then standard base64.
fn encode_release(release: &Value) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&serde_json::to_vec(release).unwrap()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
}

/// The Secret Helm's secrets driver stores revision `version` in (helm
/// `pkg/storage/driver/secrets.go`, `newSecretsObject`): named
/// `sh.helm.release.v1.<name>.v<version>`, type `helm.sh/release.v1`, labels `owner=helm`,
/// `name`, `status`, `version`, and `data.release` the encoded release (which the API's own
/// base64 of `data` wraps once more).
fn release_secret(ns: &str, name: &str, version: u64, status: &str, replicas: u64) -> String {
    let manifest = format!(
        "---\n# Source: podinfo/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-config\ndata:\n  replicas: \"{replicas}\"\n---\n# Source: podinfo/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n"
    );
    let release = json!({
        "name": name,
        "namespace": ns,
        "version": version,
        "info": {"status": status, "description": "Install complete"},
        "chart": {"metadata": {"name": "podinfo", "version": format!("6.5.{version}"), "apiVersion": "v2"}},
        "config": {"replicaCount": replicas},
        "manifest": manifest,
    });
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{version}"),
            "namespace": ns,
            "labels": {"owner": "helm", "name": name, "status": status, "version": version.to_string()},
        },
        "data": {"release": base64::engine::general_purpose::STANDARD.encode(encode_release(&release))},
    });
    secret.to_string()
}

#[tokio::test]
async fn latest_deployed_release_from_helm_secrets() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    for (version, status, replicas) in [(1, "superseded", 1), (2, "deployed", 3), (3, "failed", 5)]
    {
        cluster
            .apply(&release_secret(&ns, "podinfo", version, status, replicas))
            .success();
    }
    let client = ClusterClient::connect(Some(cluster.kubeconfig()), None)
        .await
        .unwrap();
    let release = latest_deployed_release(&client, &ns, "podinfo")
        .await
        .unwrap()
        .expect("revision 2 is deployed");
    assert_eq!(
        (
            release.name.as_str(),
            release.namespace.as_str(),
            release.revision,
            release.status.as_str(),
            release.chart_name.as_str(),
            release.chart_version.as_str(),
        ),
        ("podinfo", ns.as_str(), 2, "deployed", "podinfo", "6.5.2")
    );
    assert_eq!(release.config, json!({"replicaCount": 3}));
    let objects = release.objects().unwrap();
    let ids: Vec<(String, String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["namespace"].as_str().unwrap().to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("ConfigMap".into(), ns.clone(), "podinfo-config".into()),
            ("Deployment".into(), ns.clone(), "podinfo".into()),
        ]
    );
    assert_eq!(objects[1]["spec"]["replicas"], 3);
    assert!(
        latest_deployed_release(&client, &ns, "absent")
            .await
            .unwrap()
            .is_none()
    );
}
