//! Watches of the kinds in play into reflector stores, for the UI's live view: a change by
//! anyone to a watched object is reported within moments (SPEC §9 "Live").
//!
//! Metadata-only watches (`PartialObjectMetadata`) into reflector stores: a changed object
//! shows as a new resourceVersion, and a store of metadata costs a fraction of full objects at
//! thousands of resources. Each watch restarts with the default backoff when the connection
//! drops; after a restart anything may have changed meanwhile, which is reported as a resync.

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ClusterClient, ClusterError};
use crate::model::{ResourceId, split_api_version};

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChange {
    /// This object was created, changed or deleted.
    Object(ResourceId),
    /// A watch restarted: any object of its kind may have changed unseen.
    Resync,
}

/// A watched kind: `apiVersion`, kind, and the namespace (`None`: cluster-scoped or all).
pub type WatchedKind = (String, String, Option<String>);

/// Running watches; dropping it stops them.
pub struct LiveWatch {
    tasks: Vec<JoinHandle<()>>,
    stores: Vec<(WatchedKind, Store<PartialObjectMeta<DynamicObject>>)>,
    skipped: Vec<String>,
}

impl std::fmt::Debug for LiveWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWatch")
            .field("watches", &self.tasks.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl LiveWatch {
    /// How many watches run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Kinds that could not be watched (not served), with the reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Objects in the store of `kind` (metadata only), once the watch listed them.
    pub fn object_count(&self, kind: &WatchedKind) -> Option<usize> {
        self.stores
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, store)| store.len())
    }
}

impl Drop for LiveWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts one metadata watch per kind (and namespace) in `kinds`, sending every change after
/// the initial listing to `changes`. Kinds the cluster does not serve are skipped (see
/// [`LiveWatch::skipped`]); an unreachable cluster is an error.
pub async fn watch_kinds(
    cluster: &ClusterClient,
    kinds: &[WatchedKind],
    changes: mpsc::UnboundedSender<LiveChange>,
) -> Result<LiveWatch, ClusterError> {
    let discovery = cluster.discovery().await?;
    let mut live = LiveWatch {
        tasks: Vec::new(),
        stores: Vec::new(),
        skipped: Vec::new(),
    };
    for kind in kinds {
        let (api_version, kind_name, namespace) = kind;
        let (group, version) = split_api_version(api_version);
        let served = match discovery.resolve(group, version, kind_name) {
            Ok(served) => served,
            Err(not_served) => {
                live.skipped
                    .push(not_served.message(api_version, kind_name));
                continue;
            }
        };
        let resource = served.resource.clone();
        // `Api<PartialObjectMeta<_>>` asks for metadata only.
        let api: Api<PartialObjectMeta<DynamicObject>> = match namespace {
            Some(ns) => Api::namespaced_with(cluster.kube_client().clone(), ns, &resource),
            None => Api::all_with(cluster.kube_client().clone(), &resource),
        };
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        // managedFields are most of an object's metadata and nothing here reads them.
        let stream = reflector::reflector(
            writer,
            watch_stream(api, watcher::Config::default())
                .default_backoff()
                .modify(|object| object.metadata.managed_fields = None),
        );
        let sender = changes.clone();
        let group = group.to_owned();
        let kind_name = kind_name.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut listed_once = false;
            while let Some(event) = stream.next().await {
                let change = match event {
                    Ok(Event::Apply(object) | Event::Delete(object)) => {
                        let Some(name) = object.metadata.name.clone() else {
                            continue;
                        };
                        LiveChange::Object(ResourceId {
                            group: group.clone(),
                            kind: kind_name.clone(),
                            namespace: object.metadata.namespace.clone(),
                            name,
                        })
                    }
                    Ok(Event::InitDone) if listed_once => LiveChange::Resync,
                    Ok(Event::InitDone) => {
                        listed_once = true;
                        continue;
                    }
                    Ok(Event::Init | Event::InitApply(_)) => continue,
                    // The backoff retries; the error itself would only repeat.
                    Err(error) => {
                        tracing::debug!(%error, kind = %kind_name, "watch failed; retrying");
                        continue;
                    }
                };
                if sender.send(change).is_err() {
                    break;
                }
            }
        });
        live.tasks.push(task);
        live.stores.push((kind.clone(), store));
    }
    Ok(live)
}
