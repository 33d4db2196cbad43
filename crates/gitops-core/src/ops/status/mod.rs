//! Evaluating an environment at a commit against the live cluster: the data behind `status`,
//! `diff` and the UI's Resources pane (SPEC §4, §5).
//!
//! ```no_run
//! use gitops_core::Target;
//! use gitops_core::ops::status::{evaluate, StatusOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = StatusOptions {
//!     target: Target { path: "envs/prod".into(), ..Target::default() },
//!     resources: vec!["deploy/web".into()], // RESOURCE arguments; empty for all
//!     ..StatusOptions::default()
//! };
//! let report = evaluate(&opts).await?; // errors: repo, config, cluster unreachable, bad RESOURCE
//! for warning in &report.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! std::process::exit(report.exit_code());
//! # }
//! ```
//!
//! Each [`ResourceStatus`] carries the state, the differing fields and changes, notes, and —
//! when [`StatusOptions::texts`] is set (the default) — both sides of the text diff (normalized,
//! Secrets masked). `matchesRevision` (SPEC §7) is the commit that introduced the version
//! the live object satisfies (client comparison): `lastCommit` when it satisfies the head's,
//! else found by [`crate::ops::history::matches_revisions`] within `last_commit_limit`.

use crate::Target;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use crate::drift::{Change, Strategy};
use gitops_cluster::{ClusterClient, ClusterError, Discovery};
use gitops_git::{EnvRepo, ObjectId, RepoError};
use gitops_render::{RenderFailure, RenderOptions, Rendered, ScopeLookup, render};
use k8s_model::kinds::builtin_scope;
use k8s_model::{DriftState, ResourceId, Source};

pub use k8s_model::CommitInfo;

mod evaluate;
pub mod membership;
mod resource;
mod resource_arg;
mod rows;

pub use evaluate::evaluate_with;
pub(crate) use evaluate::member_id;
pub use membership::ResourceOwner;
pub use resource::evaluate_resource;
use resource_arg::resolve_resource_args;
pub use resource_arg::{ResourceFilter, resolve_resource_arg};

/// The state of one resource at the evaluated commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` (desired's; live's for orphans).
    pub api_version: String,
    /// Synced, Drifted, Missing, Orphaned, Unknown or Error.
    pub state: DriftState,
    /// How drift was determined; `None` when no comparison ran (Missing, Orphaned, Unknown, Error).
    pub strategy: Option<Strategy>,
    /// Differing field paths, dotted (`spec.replicas`).
    pub fields: Vec<String>,
    /// Structured changes live → what sync would make it.
    pub changes: Vec<Change>,
    /// Where the desired resource comes from; `None` for orphans.
    pub source: Option<Source>,
    /// Last commit that changed the resource in git, when known.
    pub last_commit: Option<CommitInfo>,
    /// `kubectl-gitops.io/revision` of the live object, else the revision its owner's status
    /// says it deployed (SPEC §11).
    pub live_revision: Option<String>,
    /// Who applies it (SPEC §11): the manifest's controller, else the environment's
    /// controller the live object names, else the ApplySet when it is a member; `None` when
    /// none of them.
    pub owner: Option<ResourceOwner>,
    /// Newest commit whose version the live object satisfies (SPEC §7), when known.
    pub matches_revision: Option<String>,
    /// `resourceVersion` of the live object.
    pub live_resource_version: Option<String>,
    /// Why the state is Error or Unknown, or a note such as the fallback to the client strategy.
    pub error: Option<String>,
    /// The render error of the file or unit that makes this resource (SPEC §3, §11): the
    /// document's own file, or the controller object that owns it (a HelmRelease whose chart
    /// did not render: its objects are compared with what its deployed release holds).
    pub render_error: Option<String>,
    /// Notes for the user that are not errors (e.g. "server dry-run forbidden; compared client-side").
    pub notes: Vec<String>,
    /// The live object, normalized and masked, as YAML (the diff's left side); `None` when absent.
    #[serde(skip)]
    pub live_yaml: Option<String>,
    /// What sync would make it, normalized and masked, as YAML (the diff's right side).
    #[serde(skip)]
    pub desired_yaml: Option<String>,
}

/// The evaluation of one environment at one commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The evaluated commit.
    pub revision: CommitInfo,
    /// `--path` (repo-relative, `""` for the root).
    pub path: String,
    /// Kubeconfig context used.
    pub context: String,
    /// Server URL used.
    pub server: String,
    /// Every resource, desired and orphaned, sorted by state, kind, namespace, name.
    pub resources: Vec<ResourceStatus>,
    /// Files that could not be rendered (`file:line: message`); they make the exit code 2.
    pub render_errors: Vec<String>,
    /// Problems that left part of the evaluation out without making it wrong (e.g. orphans
    /// not listed for lack of permission); print them on stderr.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the evaluation cost (requests, dry-runs), for `-v` and benchmarks; not in outputs.
    #[serde(skip)]
    pub stats: EvaluationStats,
}

impl StatusReport {
    /// Count of resources per state, for the summary line and the JSON `summary`.
    pub fn summary(&self) -> std::collections::BTreeMap<DriftState, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for r in &self.resources {
            *counts.entry(r.state).or_insert(0) += 1;
        }
        counts
    }

    /// Exit code per SPEC §5: 2 when anything is Error/Unknown or a file failed to render,
    /// 1 when anything differs, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.render_errors.is_empty()
            || self
                .resources
                .iter()
                .any(|r| matches!(r.state, DriftState::Error | DriftState::Unknown))
        {
            2
        } else if self.resources.iter().any(|r| r.state != DriftState::Synced) {
            1
        } else {
            0
        }
    }
}

/// Default of [`StatusOptions::last_commit_limit`]: commits of the history looked at for
/// `lastCommit`.
pub const DEFAULT_LAST_COMMIT_LIMIT: usize = 200;

/// What to evaluate and how (the global flags of SPEC §2 plus `status`/`diff` options).
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The environment: repo, path, revision, namespace, cluster, kubectl.
    pub target: Target,
    /// `--diff-strategy`.
    pub strategy: Strategy,
    /// RESOURCE arguments (`deploy/web`, `cm/settings`, `deployment.apps`); empty for all.
    pub resources: Vec<String>,
    /// Bound on concurrent API requests.
    pub concurrency: usize,
    /// Commits of the environment's history (the commits `history` lists) looked at to find
    /// each resource's `lastCommit`; 0 skips the walk.
    pub last_commit_limit: usize,
    /// Keep both sides of the text diff in each row (`live_yaml`, `desired_yaml`): `diff` and
    /// the UI need them; `status` does not, and at thousands of resources they are most of the
    /// memory it would hold.
    pub texts: bool,
    /// Compute `matchesRevision` (SPEC §7) for drifted resources: a history walk that holds
    /// their live objects and the environment's past versions. Outputs that do not show it
    /// (the text table) skip it; Synced rows get it from `lastCommit` either way.
    pub matches_revision: bool,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            target: Target::default(),
            strategy: Strategy::Server,
            resources: Vec::new(),
            concurrency: gitops_cluster::DEFAULT_CONCURRENCY,
            last_commit_limit: DEFAULT_LAST_COMMIT_LIMIT,
            texts: true,
            matches_revision: true,
        }
    }
}

/// What one evaluation cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvaluationStats {
    /// LIST requests (pages) for live objects and ApplySet members.
    pub lists: usize,
    /// Server-side apply dry-runs.
    pub dry_runs: usize,
    /// Resources found Synced by the client comparison and the managedFields check, with no
    /// dry-run (server strategy).
    pub dry_runs_skipped: usize,
    /// Commits walked for `lastCommit`.
    pub commits_walked: usize,
}

/// Errors that stop an evaluation as a whole (per-resource problems are `Error` rows instead).
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The repo, revision or `--path` could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The environment could not be rendered at all (invalid config file).
    #[error(transparent)]
    Render(#[from] RenderFailure),
    /// The cluster could not be used (kubeconfig, unreachable, discovery refused).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A RESOURCE argument names no kind the cluster (or the built-in table) knows.
    #[error(
        "resource type {resource_type:?} (in {arg:?}) is unknown{where_}; write it as kubectl does: deploy/web, deployment.apps/web, cm/settings"
    )]
    UnknownResourceType {
        /// The argument as given.
        arg: String,
        /// Its type part.
        resource_type: String,
        /// ` to the cluster` or ` offline`.
        where_: &'static str,
    },
    /// A RESOURCE argument with an empty type or name.
    #[error("{arg:?} is not a resource; write TYPE/NAME (deploy/web) or TYPE (deployments)")]
    BadResourceArg {
        /// The argument as given.
        arg: String,
    },
    /// One resource evaluated again ([`evaluate_resource`]) is no longer where its report saw it.
    #[error("{what} at {revision}; evaluate the environment again")]
    Gone {
        /// What changed, naming the resource.
        what: String,
        /// The revision evaluated.
        revision: String,
    },
    /// A blocking task (git, render) panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The walk for `lastCommit` or the deployed revisions failed.
    #[error(transparent)]
    History(Box<crate::ops::history::HistoryOpsError>),
}

/// Evaluates the environment: connects to the cluster from `opts` and calls [`evaluate_with`].
pub async fn evaluate(opts: &StatusOptions) -> Result<StatusReport, StatusError> {
    let cluster = ClusterClient::connect(
        opts.target.kubeconfig.as_deref(),
        opts.target.context.as_deref(),
    )
    .await?;
    evaluate_with(&cluster, opts).await
}

/// Kind scopes from `discovery` first, then the built-in table for kinds the cluster does not
/// serve (they are Unknown anyway, but keep their identity stable).
pub(crate) fn discovered_scope(discovery: &Arc<Discovery>) -> ScopeLookup {
    let discovery = Arc::clone(discovery);
    Arc::new(move |group: &str, kind: &str| {
        discovery
            .scope(group, kind)
            .or_else(|| builtin_scope(group, kind))
    })
}

/// Renders `commit` and reads discovery of the groups its kinds need, only those (SPEC §5):
/// the render runs on the built-in scope table while the core group and the group list are
/// read, then discovery is asked for the rendered manifests' groups and the render is settled
/// with their scopes ([`Rendered::settle_scopes`]; rendered again in the rare case it cannot
/// settle). `render_opts.scope` is left as discovery's, for later renders of the same run.
/// Then the RESOURCE arguments `args` are resolved with that discovery
/// ([`resolve_resource_args`], which may read a fuller one: the discovery returned).
/// The render runs on this thread (see [`on_this_thread`]).
pub(crate) async fn render_discovered(
    cluster: &ClusterClient,
    repo: &EnvRepo,
    commit: ObjectId,
    render_opts: &mut RenderOptions,
    args: &[String],
    namespace: Option<&str>,
) -> Result<(Rendered, Vec<ResourceFilter>, Arc<Discovery>), StatusError> {
    let index = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.discovery_of(std::iter::empty()).await })
    };
    let builtin: ScopeLookup = Arc::new(builtin_scope);
    render_opts.scope = builtin.clone();
    let started = std::time::Instant::now();
    let rendered = on_this_thread(|| render(repo, commit, render_opts));
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "rendered");
    // An unreachable cluster is the first thing to say, before a render error.
    index.await.map_err(StatusError::Task)??;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "group index read"
    );
    let mut rendered = rendered?;
    let groups: BTreeSet<&str> = rendered
        .manifests
        .iter()
        .map(|m| m.id.group.as_str())
        .collect();
    let discovery = cluster.discovery_of(groups).await?;
    render_opts.scope = discovered_scope(&discovery);
    if !rendered.settle_scopes(&builtin, &render_opts.scope, &render_opts.default_namespace) {
        rendered = on_this_thread(|| render(repo, commit, render_opts))?;
    }
    let (filters, discovery) = resolve_resource_args(cluster, args, namespace, discovery).await?;
    Ok((rendered, filters, discovery))
}

/// Puts rows in the report's order: state, kind, namespace, name, group.
pub fn sort_rows(rows: &mut [ResourceStatus]) {
    rows.sort_by(|a, b| {
        (
            a.state,
            &a.id.kind,
            &a.id.namespace,
            &a.id.name,
            &a.id.group,
        )
            .cmp(&(
                b.state,
                &b.id.kind,
                &b.id.namespace,
                &b.id.name,
                &b.id.group,
            ))
    });
}

/// Runs blocking work on the current thread, telling a multi-thread runtime so (its other tasks
/// move to other workers). For the head render: what it allocates then lands in this thread's
/// malloc arena, which the rows made on this thread reuse as the manifests are dropped; from a
/// blocking thread's arena, those pages stayed resident beside the rows (~20 MB of peak RSS at
/// 5,000 resources).
fn on_this_thread<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Runs blocking git/render work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StatusError> + Send + 'static,
) -> Result<T, StatusError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(StatusError::Task)?
}

/// Reads a commit's metadata as every output shows it.
pub fn commit_info(repo: &EnvRepo, id: ObjectId) -> Result<CommitInfo, StatusError> {
    Ok(repo.commit_info(id)?)
}

#[cfg(test)]
mod tests {
    use super::evaluate::PackedManifest;
    use super::rows::owns_unsent_fields;
    use super::*;
    use k8s_model::Manifest;
    use serde_json::{Value, json};
    use std::collections::{BTreeMap, HashMap};

    /// Packed or not, a waiting manifest comes back as it went in, and its size is about its
    /// JSON's.
    #[test]
    fn waiting_manifests_come_back_packed_or_not() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n"},
            "data": {"z": "1", "a": "two", "list": [1, 2.5, true, null]}});
        let manifest = Manifest {
            id: ResourceId {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: Some("n".into()),
                name: "a".into(),
            },
            api_version: "v1".into(),
            object: object.clone(),
            source: k8s_model::Source {
                file: "a.yaml".into(),
                document: 0,
                line: 1,
                end_line: 9,
            },
            owner: None,
        };
        let json_len = serde_json::to_string(&object).unwrap().len();
        for pack in [true, false] {
            let packed = PackedManifest::pack(manifest.clone(), pack);
            assert_eq!(packed.json.is_some(), pack);
            assert!(packed.size * 2 > json_len && packed.size < json_len * 2);
            let back = packed.unpack().ok().unwrap();
            assert_eq!(back.object, object);
            let keys: Vec<&String> = back.object["data"].as_object().unwrap().keys().collect();
            assert_eq!(keys, ["z", "a", "list"]);
        }
    }

    fn cm(name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value:?}\n"
        )
    }

    /// The walk as it was before it re-rendered only changed files: a full render per commit.
    fn full_render_walk(
        repo: &EnvRepo,
        head: ObjectId,
        opts: &RenderOptions,
        targets: &BTreeSet<ResourceId>,
    ) -> HashMap<ResourceId, CommitInfo> {
        let objects = |commit| -> HashMap<ResourceId, Value> {
            match render(repo, commit, opts) {
                Ok(r) => r.manifests.into_iter().map(|m| (m.id, m.object)).collect(),
                Err(_) => HashMap::new(),
            }
        };
        let mut found = HashMap::new();
        let mut remaining = targets.clone();
        let mut current = head;
        while let Some(parent) = repo.first_parent(current).unwrap() {
            let (now, before) = (objects(current), objects(parent));
            for id in remaining.clone() {
                if now.get(&id) != before.get(&id) {
                    remaining.remove(&id);
                    found.insert(id, repo.commit_info(current).unwrap());
                }
            }
            current = parent;
        }
        for id in remaining {
            found.insert(id, repo.commit_info(current).unwrap());
        }
        found
    }

    #[test]
    fn last_changes_match_a_full_render_of_every_commit() {
        use gitops_git::fixture::FixtureRepo;
        let fx = FixtureRepo::new();
        for name in ["a", "b", "c", "d"] {
            fx.write(&format!("{name}.yaml"), &cm(name, "1"));
        }
        fx.commit("four config maps");
        fx.write("a.yaml", &cm("a", "2"));
        fx.commit("change a");
        // Sorts before c.yaml, so this c wins and c.yaml's is a duplicate; both read the same,
        // so c does not change here, though only 0dup.yaml does.
        fx.write("0dup.yaml", &cm("c", "1"));
        fx.commit("duplicate c");
        fx.git(&["rm", "-q", "0dup.yaml"]);
        fx.commit("drop the duplicate");
        fx.git(&["mv", "c.yaml", "moved-c.yaml"]);
        fx.commit("move c, same content");
        fx.write("broken.yaml", "not: [valid\n");
        fx.write("b.yaml", &cm("b", "2"));
        fx.commit("broken file and change b");
        fx.git(&["rm", "-q", "broken.yaml"]);
        fx.write(".kubectl-gitops.yaml", "exclude: [\"d.yaml\"]\n");
        fx.commit("exclude d");
        fx.write(".kubectl-gitops.yaml", "exclude: []\n");
        fx.write("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: e}}\n");
        fx.commit("include d again, add e");
        fx.write("z.yaml", &cm("z", "1"));
        fx.commit("add z");

        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let opts = RenderOptions::new("", "default");
        let rendered = render(&repo, head, &opts).unwrap();
        let targets: BTreeSet<ResourceId> =
            rendered.manifests.iter().map(|m| m.id.clone()).collect();
        let (found, walked) = crate::ops::history::last_changes(
            &repo,
            head,
            &opts,
            targets.iter().cloned(),
            DEFAULT_LAST_COMMIT_LIMIT,
        )
        .unwrap();
        let expected = full_render_walk(&repo, head, &opts, &targets);
        let summary = |m: &HashMap<ResourceId, CommitInfo>| -> BTreeMap<String, String> {
            m.iter()
                .map(|(id, c)| (id.name.clone(), c.summary.clone()))
                .collect()
        };
        assert_eq!(summary(&found), summary(&expected));
        assert_eq!(found.len(), 6, "{:?}", summary(&found));
        assert!(walked > 1);
        // The cases the changed-files step must hand over to a full render, spelled out.
        assert_eq!(summary(&found)["c"], "four config maps");
        assert_eq!(summary(&found)["d"], "include d again, add e");
        assert_eq!(summary(&found)["b"], "broken file and change b");
    }

    fn live_with_fields(fields_v1: Value) -> Value {
        json!({"metadata": {"managedFields": [
            {"manager": "kubectl-gitops", "operation": "Apply", "fieldsV1": fields_v1},
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:OTHER": {}}}},
        ]}})
    }

    #[test]
    fn owned_fields_desired_no_longer_sets_make_a_candidate() {
        let desired =
            json!({"metadata": {"name": "s", "labels": {"app": "s"}}, "data": {"A": "1"}});
        let same = live_with_fields(
            json!({"f:data": {"f:A": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}),
        );
        assert!(!owns_unsent_fields(&same, &desired));
        let dropped = live_with_fields(json!({"f:data": {"f:A": {}, "f:B": {}}}));
        assert!(owns_unsent_fields(&dropped, &desired));
        // Another manager's fields never count.
        let other_only = json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:data": {"f:B": {}}}}]}});
        assert!(!owns_unsent_fields(&other_only, &desired));
    }

    #[test]
    fn tracking_keys_sync_adds_are_not_candidates() {
        let desired = json!({"metadata": {"name": "s"}, "data": {"A": "1"}});
        let live = live_with_fields(json!({
            "f:data": {"f:A": {}},
            "f:metadata": {
                "f:labels": {"f:applyset.kubernetes.io/part-of": {}},
                "f:annotations": {"f:kubectl-gitops.io/revision": {}, "f:kubectl-gitops.io/source": {}},
            },
        }));
        assert!(!owns_unsent_fields(&live, &desired));
        let with_user_annotation = live_with_fields(json!({
            "f:metadata": {"f:annotations": {"f:team": {}}},
        }));
        assert!(owns_unsent_fields(&with_user_annotation, &desired));
    }

    #[test]
    fn keyed_list_items_are_matched_by_key() {
        let desired = json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        let owned = |name: &str| {
            live_with_fields(json!({"f:spec": {"f:containers": {
                format!("k:{{\"name\":\"{name}\"}}"): {".": {}, "f:name": {}, "f:image": {}}
            }}}))
        };
        assert!(!owns_unsent_fields(&owned("web"), &desired));
        assert!(owns_unsent_fields(&owned("sidecar"), &desired));
    }

    #[test]
    fn resource_args_resolve_offline() {
        let resolve = |arg: &str| resolve_resource_arg(arg, Some("prod"), None);
        let deploy = resolve("deploy/web").unwrap();
        assert_eq!(
            (
                deploy.group.as_str(),
                deploy.kind.as_str(),
                deploy.name.as_deref()
            ),
            ("apps", "Deployment", Some("web"))
        );
        assert_eq!(deploy.namespace.as_deref(), Some("prod"));
        assert_eq!(resolve("deployment.apps/web").unwrap(), deploy);
        assert_eq!(resolve("deployments/web").unwrap(), deploy);
        assert_eq!(resolve("cm/settings").unwrap().kind, "ConfigMap");
        assert_eq!(resolve("Service/web").unwrap().kind, "Service");
        assert_eq!(resolve("ingresses.networking.k8s.io").unwrap().name, None);
        // Cluster-scoped kinds ignore -n.
        assert_eq!(resolve("ns/prod").unwrap().namespace, None);
        assert!(matches!(
            resolve("widgets/x"),
            Err(StatusError::UnknownResourceType { .. })
        ));
        assert!(matches!(
            resolve("deploy/"),
            Err(StatusError::BadResourceArg { .. })
        ));
        assert!(matches!(
            resolve("/web"),
            Err(StatusError::BadResourceArg { .. })
        ));
    }

    #[test]
    fn filters_match_identity_and_namespace() {
        let id = |ns: Option<&str>| ResourceId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: ns.map(str::to_owned),
            name: "web".into(),
        };
        let filter = resolve_resource_arg("deploy/web", Some("prod"), None).unwrap();
        assert!(filter.matches(&id(Some("prod"))));
        assert!(!filter.matches(&id(Some("dev"))));
        let any_ns = resolve_resource_arg("deploy/web", None, None).unwrap();
        assert!(any_ns.matches(&id(Some("dev"))));
        let other = resolve_resource_arg("deploy/api", None, None).unwrap();
        assert!(!other.matches(&id(Some("dev"))));
    }
}
