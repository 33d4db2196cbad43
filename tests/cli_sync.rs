//! `kubectl gitops sync` end to end (SPEC §6): ordering, preflight, conflicts, ignore rules,
//! ApplySet tracking and prune, idempotence, confirmation, dry-run, health waits, rollback.
//! Every environment gets its own name and ApplySet parent in the test namespace, so the tests
//! also run on a real cluster.

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, Run, config_map, deployment};
use common::TestCluster;

/// The config file giving the environment a unique name and its parent the test namespace.
fn env_config(cluster: &TestCluster) -> (String, String) {
    let env = cluster.unique_name("env");
    (
        ".kubectl-gitops.yaml".to_owned(),
        format!(
            "env: {env}\napplySet: {{namespace: {}}}\n",
            cluster.namespace()
        ),
    )
}

/// A unique environment ([`env_config`]) and a repo whose first commit, `message`, holds its
/// config file and `files`.
fn env_repo(
    cluster: &TestCluster,
    message: &str,
    files: &[(&str, &str)],
) -> ((String, String), EnvRepo) {
    let config = env_config(cluster);
    let mut all = vec![(config.0.as_str(), config.1.as_str())];
    all.extend_from_slice(files);
    let mut repo = EnvRepo::new();
    repo.commit(message, &all);
    (config, repo)
}

/// [`env_repo`] holding ConfigMap `settings` (`LOG_LEVEL: info`) in the test namespace.
fn settings_env(cluster: &TestCluster) -> ((String, String), EnvRepo) {
    let settings = config_map(cluster.namespace(), "info");
    env_repo(cluster, "settings", &[("settings.yaml", &settings)])
}

/// [`env_repo`] holding Deployment `web` (2 replicas of nginx 1.27) in the test namespace.
fn web_env(cluster: &TestCluster) -> ((String, String), EnvRepo) {
    let web = deployment(cluster.namespace(), 2, "1.27");
    env_repo(cluster, "web", &[("web.yaml", &web)])
}

fn parent_name(config: &(String, String)) -> String {
    let env = config
        .1
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("env: ")
        .to_owned();
    format!("kubectl-gitops-{env}")
}

fn named_config_map(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  value: {value:?}\n"
    )
}

/// (kind, name) → result of a `-o json` SyncResult.
fn results(run: &Run) -> Vec<(String, String, String)> {
    run.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn exists(cluster: &TestCluster, what: &[&str]) -> bool {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&[
        "-n",
        cluster.namespace(),
        "--ignore-not-found",
        "-o",
        "name",
    ]);
    !cluster.kubectl(&args).success().stdout.trim().is_empty()
}

#[test]
fn namespace_crd_and_their_objects_sync_in_order_from_empty() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let new_ns = cluster.unique_name("kgo-sync-ns");
    let group = format!("{}.example.com", cluster.unique_name("widgets"));
    let crd_name = format!("widgets.{group}");
    cluster.track_cluster_scoped("namespace", &new_ns);
    cluster.track_cluster_scoped("customresourcedefinition", &crd_name);
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {crd_name}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
    );
    let widget = format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: gadget\n  namespace: {ns}\nspec:\n  size: 3\n"
    );
    let early = named_config_map(&ns, "early", "1").replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    kubectl-gitops.io/sync-wave: \"-1\"\n",
    );
    // Files sort so that every dependent comes before what it depends on.
    let (_, repo) = env_repo(
        &cluster,
        "namespace, crd and their objects",
        &[
            ("a-widget.yaml", &widget),
            (
                "b-in-namespace.yaml",
                &named_config_map(&new_ns, "inside", "1"),
            ),
            ("c-crd.yaml", &crd),
            // An earlier wave goes before everything else, Namespaces included.
            ("e-early.yaml", &early),
            (
                "d-namespace.yaml",
                &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {new_ns}\n"),
            ),
        ],
    );
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["sync", "--yes", "-o", "json"]).code_is(0);
    let order: Vec<(String, String, String)> = results(&run);
    let position = |kind: &str| order.iter().position(|(k, _, _)| k == kind).unwrap();
    let named = |name: &str| order.iter().position(|(_, n, _)| n == name).unwrap();
    assert_eq!(named("early"), 0, "{run}");
    assert!(position("Namespace") < named("inside"), "{run}");
    assert!(
        position("CustomResourceDefinition") < position("Widget"),
        "{run}"
    );
    assert!(order.iter().all(|(_, _, r)| r == "created"), "{run}");
    let live = cluster.get_json(&["widgets", "gadget"]);
    assert_eq!(live["spec"]["size"], 3);
    let inside = cluster
        .kubectl(&["get", "configmap", "inside", "-n", &new_ns, "-o", "json"])
        .success()
        .json();
    assert_eq!(inside["data"]["value"], "1");
    // The members carry the tracking keys.
    let labels = &live["metadata"]["labels"];
    assert!(
        labels["applyset.kubernetes.io/part-of"]
            .as_str()
            .unwrap()
            .starts_with("applyset-"),
        "{live}"
    );
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        repo.head().as_str()
    );
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/source"],
        "a-widget.yaml#0"
    );
}

#[test]
fn preflight_failure_writes_nothing_and_names_the_invalid_object() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut files: Vec<(String, String)> = (0..9)
        .map(|i| {
            (
                format!("cm-{i}.yaml"),
                named_config_map(&ns, &format!("good-{i}"), "v"),
            )
        })
        .collect();
    // A Service port out of range: the server refuses it (422), a client-side parse does not.
    files.push((
        "svc.yaml".into(),
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: {ns}\nspec:\n  selector: {{app: x}}\n  ports:\n  - port: 70000\n"
        ),
    ));
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let (config, repo) = env_repo(&cluster, "ten objects, one invalid", &borrowed);
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["sync", "--yes"]).code_is(2);
    assert!(
        run.stderr.contains("core/Service/") && run.stderr.contains("/broken"),
        "{run}"
    );
    assert!(run.stderr.contains("nothing written"), "{run}");
    for i in 0..9 {
        assert!(
            !exists(&cluster, &["configmap", &format!("good-{i}")]),
            "{run}"
        );
    }
    assert!(!exists(&cluster, &["configmap", &parent_name(&config)]));
}

#[test]
fn field_owned_by_kubectl_scale_is_taken_over_and_named_or_refused_with_no_force() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (_, repo) = web_env(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5", "-n", &ns])
        .success();

    let plan = gitops.run(&["sync", "--dry-run", "-o", "json"]).code_is(1);
    let web = &plan.json()["resources"][0];
    assert_eq!(web["result"], "configured", "{plan}");
    let taken: Vec<(String, String)> = web["takenOver"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["path"].as_str().unwrap().to_owned(),
                t["manager"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        taken.contains(&("spec.replicas".to_owned(), "kubectl".to_owned())),
        "{plan}"
    );

    let refused = gitops.run(&["sync", "--yes", "--no-force"]).code_is(2);
    assert!(refused.stderr.contains("web"), "{refused}");
    assert!(refused.stderr.contains("--no-force"), "{refused}");
    let live = cluster.get_json(&["deployment", "web"]);
    assert_eq!(
        live["spec"]["replicas"], 5,
        "nothing written under --no-force"
    );

    gitops.run(&["sync", "--yes"]).code_is(0);
    let live = cluster.get_json(&["deployment", "web"]);
    assert_eq!(live["spec"]["replicas"], 2, "git wins by default");
}

#[test]
fn field_of_an_ignored_manager_is_not_sent_nor_taken_over() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let env = cluster.unique_name("env");
    let config = format!(
        "env: {env}\napplySet: {{namespace: {ns}}}\nignoreDifferences:\n- group: apps\n  kind: Deployment\n  managedFieldsManagers: [kubectl]\n"
    );
    let mut repo = EnvRepo::new();
    repo.commit(
        "web",
        &[
            (".kubectl-gitops.yaml", &config),
            ("web.yaml", &deployment(&ns, 2, "1.27")),
        ],
    );
    let gitops = Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5", "-n", &ns])
        .success();
    let plan = gitops.run(&["sync", "--dry-run", "-o", "json"]).code_is(0);
    let web = &plan.json()["resources"][0];
    assert_eq!(web["takenOver"], serde_json::json!([]), "{plan}");
    assert_eq!(web["result"], "unchanged", "{plan}");
    gitops.run(&["sync", "--yes"]).code_is(0);
    let live = cluster.get_json(&["deployment", "web", "--show-managed-fields"]);
    assert_eq!(
        live["spec"]["replicas"], 5,
        "an ignored field stays as live has it"
    );
    let ours = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "kubectl-gitops")
        .unwrap();
    assert!(
        ours["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "{live}"
    );
}

#[test]
fn prune_deletes_members_only_and_keeps_annotated_ones() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let keep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: {ns}\n  annotations:\n    kubectl-gitops.io/prune: \"false\"\ndata:\n  v: \"1\"\n"
    );
    let (_, repo) = env_repo(
        &cluster,
        "three",
        &[
            ("stay.yaml", &named_config_map(&ns, "stay", "1")),
            ("gone.yaml", &named_config_map(&ns, "gone", "1")),
            ("keep.yaml", &keep),
        ],
    );
    let gitops = Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    // A look-alike: same kind and namespace, no ApplySet label.
    cluster
        .apply(&named_config_map(&ns, "lookalike", "1"))
        .success();
    repo.git(&["rm", "-q", "gone.yaml", "keep.yaml"]);
    repo.git(&["commit", "-q", "-m", "drop two"]);

    let without_prune = gitops.run(&["sync", "--yes"]).code_is(0);
    assert!(exists(&cluster, &["configmap", "gone"]), "{without_prune}");

    let run = gitops
        .run(&["sync", "--yes", "--prune", "-o", "json"])
        .code_is(0);
    let rows = results(&run);
    assert!(
        rows.contains(&("ConfigMap".into(), "gone".into(), "pruned".into())),
        "{run}"
    );
    assert!(
        rows.contains(&("ConfigMap".into(), "keep".into(), "kept".into())),
        "{run}"
    );
    assert!(
        rows.contains(&("ConfigMap".into(), "stay".into(), "unchanged".into())),
        "{run}"
    );
    assert!(
        !rows.iter().any(|(_, name, _)| name == "lookalike"),
        "{run}"
    );
    assert!(!exists(&cluster, &["configmap", "gone"]));
    assert!(exists(&cluster, &["configmap", "keep"]));
    assert!(exists(&cluster, &["configmap", "lookalike"]));
    assert!(exists(&cluster, &["configmap", "stay"]));
}

#[test]
fn second_sync_is_all_unchanged_and_status_stays_synced() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (config, mut repo) = env_repo(
        &cluster,
        "two",
        &[
            ("settings.yaml", &config_map(&ns, "info")),
            ("web.yaml", &deployment(&ns, 2, "1.27")),
        ],
    );
    let gitops = Gitops::new(&cluster, &repo);
    let first = gitops.run(&["sync", "--yes", "-o", "json"]).code_is(0);
    assert!(
        results(&first).iter().all(|(_, _, r)| r == "created"),
        "{first}"
    );
    assert_eq!(first.json()["kind"], "SyncResult");
    assert_eq!(first.json()["revision"]["id"], repo.head().as_str());
    assert_eq!(
        first.json()["applySet"]["name"],
        parent_name(&config).as_str()
    );
    let second = gitops.run(&["sync", "--yes", "-o", "json"]).code_is(0);
    let rows = results(&second);
    assert_eq!(rows.len(), 2, "{second}");
    assert!(rows.iter().all(|(_, _, r)| r == "unchanged"), "{second}");
    let status = gitops.run(&["status"]);
    assert_eq!(status.code, 0, "tracking keys are not drift\n{status}");

    // A commit that changes one resource rewrites that one only.
    repo.commit("debug", &[("settings.yaml", &config_map(&ns, "debug"))]);
    let third = gitops.run(&["sync", "--yes", "-o", "json"]).code_is(0);
    let rows = results(&third);
    assert!(
        rows.contains(&("ConfigMap".into(), "settings".into(), "configured".into())),
        "{third}"
    );
    assert!(
        rows.contains(&("Deployment".into(), "web".into(), "unchanged".into())),
        "{third}"
    );
    let live = cluster.get_json(&["cm", "settings"]);
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        repo.head().as_str()
    );
}

#[test]
fn on_a_terminal_the_plan_is_shown_and_confirmation_asked() {
    let cluster = TestCluster::start();
    let (_, repo) = settings_env(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    let Some(run) = gitops.run_in_terminal(&["sync"], &[]) else {
        eprintln!("note: util-linux `script` is not installed; terminal confirmation not checked");
        return;
    };
    // No answer (end of input) is a no.
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stdout.contains("[y/N]"), "{run}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("created") && l.contains("settings")),
        "the plan names the change\n{run}"
    );
    assert!(run.stdout.contains("nothing written"), "{run}");
    assert!(!exists(&cluster, &["configmap", "settings"]), "{run}");
}

#[test]
fn without_a_terminal_sync_needs_yes_and_dry_run_exits_1_then_0() {
    let cluster = TestCluster::start();
    let (config, repo) = settings_env(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    let refused = gitops.run(&["sync"]).code_is(2);
    assert!(refused.stderr.contains("--yes"), "{refused}");
    assert!(!exists(&cluster, &["configmap", "settings"]), "{refused}");
    assert!(
        !exists(&cluster, &["configmap", &parent_name(&config)]),
        "{refused}"
    );

    let pending = gitops.run(&["sync", "--dry-run"]).code_is(1);
    assert!(
        pending
            .stdout
            .lines()
            .any(|l| l.starts_with("created") && l.contains("settings")),
        "{pending}"
    );
    assert!(!exists(&cluster, &["configmap", "settings"]), "{pending}");
    gitops.run(&["sync", "--yes"]).code_is(0);
    gitops.run(&["sync", "--dry-run"]).code_is(0);
}

#[test]
fn rollback_syncs_the_older_commit_and_says_the_cluster_differs_from_head() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (_, mut repo) = env_repo(
        &cluster,
        "info",
        &[("settings.yaml", &config_map(&ns, "info"))],
    );
    let first = repo.head();
    let head = repo.commit("debug", &[("settings.yaml", &config_map(&ns, "debug"))]);
    let gitops = Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    assert_eq!(
        cluster.get_json(&["cm", "settings"])["data"]["LOG_LEVEL"],
        "debug"
    );
    let run = gitops.run(&["sync", "--yes", "--rev", "HEAD~1"]).code_is(0);
    assert!(run.stderr.contains("differs from HEAD"), "{run}");
    assert!(run.stderr.contains(&head[..7]), "{run}");
    let live = cluster.get_json(&["cm", "settings"]);
    assert_eq!(live["data"]["LOG_LEVEL"], "info");
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        first.as_str()
    );
}

#[test]
fn wait_returns_when_deployments_are_available_and_times_out_with_3() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (_, mut repo) = web_env(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run(&["sync", "--yes", "--wait", "--timeout", "2m"])
        .code_is(0);
    let live = cluster.get_json(&["deployment", "web"]);
    assert_eq!(live["status"]["availableReplicas"], 2, "{run}");

    // An image on a `.invalid` host never becomes available.
    let broken = deployment(&ns, 2, "1.27").replace("nginx:1.27", "registry.invalid/nginx:1");
    repo.commit("broken image", &[("web.yaml", &broken)]);
    let run = gitops
        .run(&["sync", "--yes", "--wait", "--timeout", "3s"])
        .code_is(3);
    assert!(run.stderr.contains("web"), "{run}");
}

#[test]
fn kubectl_reads_the_applyset_parent_and_its_members() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (config, repo) = settings_env(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    let parent = cluster.get_json(&["configmap", &parent_name(&config)]);
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap()
        .to_owned();
    let annotations = &parent["metadata"]["annotations"];
    assert_eq!(
        annotations["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap"
    );
    assert!(
        annotations["applyset.kubernetes.io/tooling"]
            .as_str()
            .unwrap()
            .starts_with("kubectl-gitops/")
    );
    assert_eq!(
        annotations["kubectl-gitops.io/revision"],
        repo.head().as_str()
    );
    let members = cluster
        .kubectl(&[
            "get",
            "configmaps",
            "-n",
            &ns,
            "-l",
            &format!("applyset.kubernetes.io/part-of={id}"),
            "-o",
            "name",
        ])
        .success();
    assert_eq!(members.stdout.trim(), "configmap/settings", "{members}");
    // kubectl validates the parent (labels, annotations, id) and then refuses to manage a set
    // another tool owns: its message proves it read our parent as an ApplySet.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.yaml");
    std::fs::write(&file, config_map(&ns, "info")).unwrap();
    let out = cluster.kubectl_env(
        &[
            "apply",
            "--server-side",
            "--prune",
            &format!("--applyset=configmaps/{}", parent_name(&config)),
            "-n",
            &ns,
            "-f",
            file.to_str().unwrap(),
        ],
        &[("KUBECTL_APPLYSET", "true")],
    );
    assert!(
        out.stderr.contains("managed by tooling \"kubectl-gitops\""),
        "{out}"
    );
}
