//! The harness plays the node on a real cluster, as kwok does: the real API server has no
//! scheduler or kubelet here, so the test namespace's pods are bound to a Node object of the
//! test's own and marked Running and Ready; the real controllers then compute ReplicaSet and
//! Deployment availability from them. A pod whose image is on a `.invalid` host stays Pending
//! (bound, not started), as an image that cannot be pulled would.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// How often the pods of the namespace are looked at.
const TICK: Duration = Duration::from_millis(200);

/// A running node player; stops (and deletes its Node) on drop.
pub struct NodePlayer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NodePlayer {
    /// Creates Node `node` (Ready) and starts playing it for the pods of `namespace`.
    pub fn start(kubeconfig: &Path, namespace: &str, node: &str) -> NodePlayer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let stop = Arc::clone(&stop);
            let kubeconfig = kubeconfig.to_path_buf();
            let namespace = namespace.to_owned();
            let node = node.to_owned();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let client = super::kube_client(&kubeconfig).await;
                    create_node(&client, &node).await;
                    let _ = ready_tx.send(());
                    while !stop.load(Ordering::Relaxed) {
                        play(&client, &namespace, &node).await;
                        tokio::time::sleep(TICK).await;
                    }
                    let nodes: Api<Node> = Api::all(client);
                    let _ = nodes.delete(&node, &Default::default()).await;
                });
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the node player could not create its Node within 60 s");
        NodePlayer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for NodePlayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn create_node(client: &kube::Client, name: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "type": "kgo-e2e"}},
    }))
    .unwrap();
    nodes
        .create(&PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("cannot create Node {name}: {e}"));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"},
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "500"},
    }});
    let _ = nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await;
}

/// One look at the namespace's pods: binds the unbound, starts the bound ones.
async fn play(client: &kube::Client, namespace: &str, node: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = pods.list(&ListParams::default()).await else {
        return;
    };
    for pod in list.items {
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = pod.spec.clone().unwrap_or_default();
        if spec.node_name.is_none() {
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let _ = pods
                .create_subresource::<serde_json::Value, serde_json::Value>(
                    "binding",
                    &name,
                    &PostParams::default(),
                    &binding,
                )
                .await;
            continue;
        }
        let pullable = spec
            .containers
            .iter()
            .all(|c| !c.image.as_deref().unwrap_or("").contains(".invalid/"));
        let running = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Running");
        if !pullable || running {
            continue;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let condition = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
        let containers: Vec<_> = spec
            .containers
            .iter()
            .map(|c| {
                json!({
                    "name": c.name, "image": c.image, "imageID": "", "ready": true,
                    "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                })
            })
            .collect();
        let status = json!({"status": {
            "phase": "Running",
            "hostIP": "10.255.0.1",
            "podIP": "10.255.1.1",
            "startTime": now,
            "conditions": [condition("Initialized"), condition("Ready"),
                           condition("ContainersReady"), condition("PodScheduled")],
            "containerStatuses": containers,
        }});
        let _ = pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await;
    }
}
