//! The UI's Detail texts, evaluated on demand for one resource
//! (`ops::status::evaluate_resource`), are the texts `diff` shows: the same live and desired
//! YAML as an evaluation with texts (what `kubectl gitops diff RESOURCE` prints), for every
//! state (Drifted, Synced, Missing, Orphaned), a kustomize unit and a plain file, both
//! strategies, HEAD and an older commit. Against the sandbox, or a real cluster with
//! `KUBECTL_GITOPS_E2E_KUBECONFIG`.

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, config_map, deployment};
use common::{TestCluster, find_kubectl};
use kubectl_gitops::Target;
use kubectl_gitops::cluster::ClusterClient;
use kubectl_gitops::drift::Strategy;
use kubectl_gitops::model::DriftState;
use kubectl_gitops::ops::status::{
    StatusError, StatusOptions, StatusReport, evaluate_resource, evaluate_with,
};

/// A ConfigMap `name` in `ns`.
fn named_config_map(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  x: \"1\"\n"
    )
}

/// Synced at the first commit (a kustomize unit, two plain files), then the second commit
/// changes a file, removes one (an orphan) and adds one (Missing), and someone scales `web`.
/// Returns the repo and both commits.
fn environment(cluster: &TestCluster) -> (EnvRepo, String, String) {
    let ns = cluster.namespace();
    let kubectl = find_kubectl();
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "web unit, settings, old",
        &[
            (
                "app/kustomization.yaml",
                "resources:\n- web.yaml\nimages:\n- name: nginx\n  newTag: \"1.28\"\n",
            ),
            ("app/web.yaml", &deployment(ns, 2, "1.27")),
            ("settings.yaml", &config_map(ns, "info")),
            ("old.yaml", &named_config_map(ns, "old")),
        ],
    );
    Gitops::new(cluster, &repo)
        .run_env(
            &["sync", "--yes"],
            &[("KUBECTL_PATH", kubectl.to_str().unwrap())],
        )
        .code_is(0);
    repo.git(&["rm", "-q", "old.yaml"]);
    let second = repo.commit(
        "debug logs, extra, old gone",
        &[
            ("settings.yaml", &config_map(ns, "debug")),
            ("extra.yaml", &named_config_map(ns, "extra")),
        ],
    );
    cluster
        .kubectl(&["scale", "deployment", "web", "--replicas=5"])
        .success();
    (repo, first, second)
}

fn options(cluster: &TestCluster, repo: &EnvRepo, rev: &str, strategy: Strategy) -> StatusOptions {
    StatusOptions {
        target: Target {
            repo: repo.dir().to_path_buf(),
            rev: rev.to_owned(),
            namespace: Some(cluster.namespace().to_owned()),
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            kubectl: Some(find_kubectl()),
            ..Target::default()
        },
        strategy,
        ..StatusOptions::default()
    }
}

/// Every row's texts from `evaluate_resource` equal the evaluation's (texts on), and those of
/// an evaluation restricted to the resource, as `diff RESOURCE` makes it.
async fn assert_texts_equal(client: &ClusterClient, opts: &StatusOptions, report: &StatusReport) {
    for row in &report.resources {
        let alone = evaluate_resource(client, opts, &row.id, &row.api_version, row.source.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", row.id));
        let what = format!(
            "{} ({:?}, {:?}, {})",
            row.id, row.state, opts.strategy, opts.target.rev
        );
        assert_eq!(alone.state, row.state, "{what}");
        assert_eq!(alone.strategy, row.strategy, "{what}");
        assert_eq!(alone.live_yaml, row.live_yaml, "{what}: live text");
        assert_eq!(alone.desired_yaml, row.desired_yaml, "{what}: desired text");
        assert!(
            alone.live_yaml.is_some() || alone.desired_yaml.is_some(),
            "{what}: no text at all"
        );
        let resource = format!("{}/{}", row.id.group_kind(), row.id.name);
        let filtered = evaluate_with(
            client,
            &StatusOptions {
                resources: vec![resource],
                ..opts.clone()
            },
        )
        .await
        .unwrap();
        let [diff_row] = &filtered.resources[..] else {
            panic!("{what}: {:#?}", filtered.resources)
        };
        assert_eq!(
            (&alone.live_yaml, &alone.desired_yaml),
            (&diff_row.live_yaml, &diff_row.desired_yaml),
            "{what}: diff RESOURCE's texts"
        );
    }
}

#[tokio::test]
async fn on_demand_texts_equal_diffs_for_every_state_strategy_and_commit() {
    let cluster = TestCluster::start();
    let (repo, first, second) = environment(&cluster);
    let client = ClusterClient::connect(Some(cluster.kubeconfig()), None)
        .await
        .unwrap();
    for rev in [&second, &first] {
        for strategy in [Strategy::Client, Strategy::Server] {
            let opts = options(&cluster, &repo, rev, strategy);
            let report = evaluate_with(&client, &opts).await.unwrap();
            if rev == &second {
                let state_of = |name: &str| {
                    report
                        .resources
                        .iter()
                        .find(|r| r.id.name == name)
                        .map(|r| r.state)
                };
                // Every state is covered; `web` comes from the kustomize unit.
                assert_eq!(state_of("web"), Some(DriftState::Drifted), "{report:#?}");
                assert_eq!(state_of("settings"), Some(DriftState::Drifted));
                assert_eq!(state_of("extra"), Some(DriftState::Missing));
                assert_eq!(state_of("old"), Some(DriftState::Orphaned));
            } else {
                assert!(
                    report
                        .resources
                        .iter()
                        .any(|r| r.state == DriftState::Synced),
                    "{report:#?}"
                );
            }
            assert_texts_equal(&client, &opts, &report).await;
        }
    }
}

#[tokio::test]
async fn a_resource_no_longer_in_its_file_is_named_in_the_error() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace();
    let mut repo = EnvRepo::new();
    repo.commit("settings", &[("settings.yaml", &config_map(ns, "info"))]);
    let client = ClusterClient::connect(Some(cluster.kubeconfig()), None)
        .await
        .unwrap();
    let opts = options(&cluster, &repo, "HEAD", Strategy::Client);
    let report = evaluate_with(&client, &opts).await.unwrap();
    let row = &report.resources[0];
    let mut elsewhere = row.source.clone().unwrap();
    elsewhere.file = "other.yaml".into();
    let error = evaluate_resource(&client, &opts, &row.id, &row.api_version, Some(&elsewhere))
        .await
        .unwrap_err();
    assert!(matches!(error, StatusError::Gone { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("settings") && message.contains("other.yaml"),
        "{message}"
    );
}
