//! `ops::status::evaluate` end to end: an environment repo of several commits, applied with the
//! real `kubectl apply --server-side`, drifted with `kubectl scale` / `kubectl patch`, then
//! evaluated against the sandbox (or a real cluster with `KUBECTL_GITOPS_E2E_KUBECONFIG`).

mod common;

use kubectl_gitops::Target;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestCluster;
use kubectl_gitops::cluster::{ClusterError, applyset};
use kubectl_gitops::drift::Strategy;
use kubectl_gitops::model::DriftState;
use kubectl_gitops::ops::status::{
    ResourceStatus, StatusError, StatusOptions, StatusReport, evaluate,
};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
";

const SETTINGS: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LOG_LEVEL: info
";

/// A git repo in `dir` built commit by commit with fixed authors and dates.
struct GitRepo {
    dir: PathBuf,
    commits: Vec<String>,
}

impl GitRepo {
    fn init(dir: &Path) -> GitRepo {
        std::fs::create_dir_all(dir).unwrap();
        let repo = GitRepo {
            dir: dir.to_path_buf(),
            commits: Vec::new(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let n = self.commits.len();
        let output = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Ada Lovelace")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada Lovelace")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .env(
                "GIT_AUTHOR_DATE",
                format!("2026-01-0{}T10:00:00+01:00", n + 1),
            )
            .env(
                "GIT_COMMITTER_DATE",
                format!("2026-01-0{}T10:00:00+01:00", n + 1),
            )
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Writes (or, for `None`, deletes) files and commits them; returns the full sha.
    fn commit(&mut self, message: &str, files: &[(&str, Option<&str>)]) -> String {
        for (path, content) in files {
            let file = self.dir.join(path);
            match content {
                Some(content) => {
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(&file, content).unwrap();
                }
                None => std::fs::remove_file(&file).unwrap(),
            }
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        let sha = self.git(&["rev-parse", "HEAD"]);
        self.commits.push(sha.clone());
        sha
    }
}

/// `kubectl apply --server-side` as sync would write it (field manager `kubectl-gitops`).
fn apply_as_sync(cluster: &TestCluster, manifests: &[&str]) {
    let joined = manifests.join("---\n");
    cluster
        .kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=kubectl-gitops",
                "-f",
                "-",
            ],
            &joined,
        )
        .success();
}

/// `kubectl patch` of the `settings` ConfigMap's LOG_LEVEL, as an operator would drift it.
fn set_log_level_live(cluster: &TestCluster, level: &str) {
    let patch = format!(r#"{{"data":{{"LOG_LEVEL":"{level}"}}}}"#);
    cluster
        .kubectl(&[
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            &patch,
        ])
        .success();
}

fn options(cluster: &TestCluster, repo: &Path) -> StatusOptions {
    StatusOptions {
        target: Target {
            repo: repo.to_path_buf(),
            namespace: Some(cluster.namespace().to_owned()),
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            ..Target::default()
        },
        ..StatusOptions::default()
    }
}

async fn status(opts: &StatusOptions) -> StatusReport {
    match evaluate(opts).await {
        Ok(report) => report,
        Err(error) => panic!("evaluate failed: {error}"),
    }
}

fn row<'a>(report: &'a StatusReport, kind: &str, name: &str) -> &'a ResourceStatus {
    report
        .resources
        .iter()
        .find(|r| r.id.kind == kind && r.id.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:#?}", report.resources))
}

fn states(report: &StatusReport) -> Vec<(String, String, DriftState)> {
    report
        .resources
        .iter()
        .map(|r| (r.id.kind.clone(), r.id.name.clone(), r.state))
        .collect()
}

/// A repo with Deployment, Service and ConfigMap at HEAD, applied live.
fn synced_env(cluster: &TestCluster) -> (GitRepo, StatusOptions) {
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    repo.commit(
        "web and settings",
        &[
            ("web/deployment.yaml", Some(DEPLOYMENT)),
            ("web/service.yaml", Some(SERVICE)),
            ("settings.yaml", Some(SETTINGS)),
        ],
    );
    apply_as_sync(cluster, &[DEPLOYMENT, SERVICE, SETTINGS]);
    let opts = options(cluster, &repo.dir);
    (repo, opts)
}

#[tokio::test]
async fn synced_environment_needs_no_dry_run_and_defaults_are_not_drift() {
    let cluster = TestCluster::start();
    let (repo, opts) = synced_env(&cluster);
    // The server filled defaults git does not set.
    let service = cluster.get_json(&["service", "web"]);
    assert!(service["spec"]["clusterIP"].is_string(), "{service}");
    let deployment = cluster.get_json(&["deployment", "web"]);
    assert!(deployment["spec"]["strategy"]["type"].is_string());
    assert!(deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"].is_string());

    let report = status(&opts).await;
    assert_eq!(
        states(&report),
        vec![
            ("ConfigMap".into(), "settings".into(), DriftState::Synced),
            ("Deployment".into(), "web".into(), DriftState::Synced),
            ("Service".into(), "web".into(), DriftState::Synced),
        ]
    );
    assert_eq!(
        report.stats.dry_runs, 0,
        "a synced environment needs no dry-run"
    );
    assert_eq!(report.stats.dry_runs_skipped, 3);
    // One LIST per kind and namespace, plus none for the ApplySet (no parent).
    assert_eq!(report.stats.lists, 3);
    assert_eq!(report.exit_code(), 0);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.revision.id, repo.commits[0]);
    assert_eq!(report.revision.summary, "web and settings");
    assert_eq!(report.revision.author, "Ada Lovelace");
    assert_eq!(report.revision.email, "ada@example.com");
    assert_eq!(report.revision.time, "2026-01-01T10:00:00+01:00");
    for r in &report.resources {
        assert_eq!(r.strategy, Some(Strategy::Server));
        assert!(r.fields.is_empty());
        assert_eq!(
            r.last_commit.as_ref().map(|c| &c.id),
            Some(&repo.commits[0])
        );
        assert!(r.live_resource_version.is_some());
        assert_eq!(r.live_revision, None);
        // The live objects hold the head version: they match the commit that introduced it.
        assert_eq!(r.matches_revision.as_ref(), Some(&repo.commits[0]));
    }
    let source = row(&report, "Service", "web").source.clone().unwrap();
    assert_eq!(source.file, "web/service.yaml");
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    assert_eq!(Some(report.context.clone()), kubeconfig.current_context);
    let server = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    assert_eq!(report.server, server.trim_end_matches('/'));
}

#[tokio::test]
async fn scale_and_patch_are_drift_with_exact_fields() {
    let cluster = TestCluster::start();
    let (_repo, opts) = synced_env(&cluster);
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success();
    set_log_level_live(&cluster, "debug");

    let report = status(&opts).await;
    let web = row(&report, "Deployment", "web");
    assert_eq!(web.state, DriftState::Drifted);
    assert_eq!(web.fields, vec!["spec.replicas"]);
    assert_eq!(web.strategy, Some(Strategy::Server));
    assert_eq!(web.changes[0].live, Some(serde_json::json!(5)));
    assert_eq!(web.changes[0].desired, Some(serde_json::json!(2)));
    let settings = row(&report, "ConfigMap", "settings");
    assert_eq!(settings.state, DriftState::Drifted);
    assert_eq!(settings.fields, vec!["data.LOG_LEVEL"]);
    assert!(settings.live_yaml.as_deref().unwrap().contains("debug"));
    assert!(settings.desired_yaml.as_deref().unwrap().contains("info"));
    assert_eq!(row(&report, "Service", "web").state, DriftState::Synced);
    assert_eq!(
        report.stats.dry_runs, 2,
        "only the two candidates are dry-run"
    );
    assert_eq!(report.exit_code(), 1);

    let client = status(&StatusOptions {
        strategy: Strategy::Client,
        ..opts.clone()
    })
    .await;
    assert_eq!(client.stats.dry_runs, 0);
    assert_eq!(
        row(&client, "Deployment", "web").fields,
        vec!["spec.replicas"]
    );
    assert_eq!(
        row(&client, "Deployment", "web").strategy,
        Some(Strategy::Client)
    );
    assert_eq!(
        row(&client, "ConfigMap", "settings").fields,
        vec!["data.LOG_LEVEL"]
    );

    // Without the diff texts (what `status` asks for) the states and fields are the same.
    let lean = status(&StatusOptions {
        texts: false,
        ..opts.clone()
    })
    .await;
    assert_eq!(states(&lean), states(&report));
    let lean_settings = row(&lean, "ConfigMap", "settings");
    assert_eq!(lean_settings.fields, vec!["data.LOG_LEVEL"]);
    assert_eq!(lean_settings.changes.len(), 1);
    assert!(
        lean.resources
            .iter()
            .all(|r| r.live_yaml.is_none() && r.desired_yaml.is_none())
    );

    // RESOURCE filters, as kubectl writes them.
    for (arg, kind) in [
        ("deploy/web", "Deployment"),
        ("deployment.apps/web", "Deployment"),
        ("cm/settings", "ConfigMap"),
        ("Service/web", "Service"),
    ] {
        let filtered = status(&StatusOptions {
            resources: vec![arg.to_owned()],
            ..opts.clone()
        })
        .await;
        let kinds: Vec<&str> = filtered
            .resources
            .iter()
            .map(|r| r.id.kind.as_str())
            .collect();
        assert_eq!(kinds, vec![kind], "{arg}");
    }
    let unknown = evaluate(&StatusOptions {
        resources: vec!["widgets/x".to_owned()],
        ..opts.clone()
    })
    .await;
    assert!(matches!(
        unknown,
        Err(StatusError::UnknownResourceType { .. })
    ));
}

#[tokio::test]
async fn replicas_owned_by_another_manager_and_ignored_are_synced() {
    let cluster = TestCluster::start();
    let (mut repo, opts) = synced_env(&cluster);
    // An autoscaler takes spec.replicas over.
    cluster
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--field-manager=horizontal-pod-autoscaler",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":7}}"#,
        ])
        .success();
    let without_rule = status(&opts).await;
    assert_eq!(
        row(&without_rule, "Deployment", "web").state,
        DriftState::Drifted
    );
    assert_eq!(
        row(&without_rule, "Deployment", "web").fields,
        vec!["spec.replicas"]
    );

    repo.commit(
        "ignore what the autoscaler owns",
        &[(
            ".kubectl-gitops.yaml",
            Some(
                "ignoreDifferences:\n- group: apps\n  kind: Deployment\n  managedFieldsManagers: [horizontal-pod-autoscaler]\n",
            ),
        )],
    );
    let with_rule = status(&opts).await;
    let web = row(&with_rule, "Deployment", "web");
    assert_eq!(web.state, DriftState::Synced, "{:?}", web.fields);
    assert_eq!(with_rule.stats.dry_runs, 0);
    // The config commit did not change the rendered Deployment.
    assert_eq!(
        web.last_commit.as_ref().map(|c| &c.id),
        Some(&repo.commits[0])
    );
}

#[tokio::test]
async fn secret_values_appear_in_no_output() {
    let cluster = TestCluster::start();
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-git-value\n";
    repo.commit("db secret", &[("secret.yaml", Some(secret))]);
    apply_as_sync(&cluster, &[secret]);
    cluster
        .kubectl(&[
            "patch",
            "secret",
            "db",
            "--type=merge",
            "-p",
            r#"{"stringData":{"password":"live-value-42"}}"#,
        ])
        .success();
    let report = status(&options(&cluster, &repo.dir)).await;
    let db = row(&report, "Secret", "db");
    assert_eq!(db.state, DriftState::Drifted);
    assert_eq!(db.fields, vec!["data.password"]);
    let everything = format!(
        "{}\n{:?}\n{}\n{}",
        serde_json::to_string(&report).unwrap(),
        report,
        db.live_yaml.clone().unwrap_or_default(),
        db.desired_yaml.clone().unwrap_or_default()
    );
    use base64::Engine as _;
    for value in ["hunter2-git-value", "live-value-42"] {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(!everything.contains(value), "{value} leaked");
        assert!(!everything.contains(&encoded), "{encoded} leaked");
    }
    assert!(everything.contains("++++++++"));
}

#[tokio::test]
async fn unknown_kind_missing_object_and_missing_namespace() {
    let cluster = TestCluster::start();
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";
    let absent_ns = format!("{}-absent", cluster.namespace());
    let elsewhere = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: elsewhere\n  namespace: {absent_ns}\ndata:\n  a: b\n"
    );
    repo.commit(
        "widget and configmaps",
        &[
            ("widget.yaml", Some(widget)),
            ("elsewhere.yaml", Some(&elsewhere)),
            ("settings.yaml", Some(SETTINGS)),
        ],
    );
    let report = status(&options(&cluster, &repo.dir)).await;
    let w = row(&report, "Widget", "w");
    assert_eq!(w.state, DriftState::Unknown);
    assert!(
        w.error
            .as_deref()
            .unwrap()
            .contains("does not serve Widget"),
        "{:?}",
        w.error
    );
    let settings = row(&report, "ConfigMap", "settings");
    assert_eq!(settings.state, DriftState::Missing);
    assert!(settings.notes.is_empty(), "{:?}", settings.notes);
    assert!(
        settings
            .desired_yaml
            .as_deref()
            .unwrap()
            .contains("LOG_LEVEL")
    );
    let elsewhere = row(&report, "ConfigMap", "elsewhere");
    assert_eq!(elsewhere.state, DriftState::Missing);
    assert_eq!(elsewhere.id.namespace.as_deref(), Some(absent_ns.as_str()));
    assert!(
        elsewhere
            .notes
            .iter()
            .any(|n| n.contains(&format!("namespace {absent_ns} does not exist"))),
        "{:?}",
        elsewhere.notes
    );
    assert_eq!(report.stats.dry_runs, 0);
    assert_eq!(report.exit_code(), 2, "Unknown makes the exit code 2");
}

#[tokio::test]
async fn unreachable_cluster_names_server_kubeconfig_and_context() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = GitRepo::init(&dir.path().join("env"));
    repo.commit("settings", &[("settings.yaml", Some(SETTINGS))]);
    // Bind and drop a port so that nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{port}\ncontexts:\n- name: gone-ctx\n  context:\n    cluster: gone\n    user: u\n    namespace: team\nusers:\n- name: u\n  user:\n    token: t\ncurrent-context: gone-ctx\n"
        ),
    )
    .unwrap();
    let opts = StatusOptions {
        target: Target {
            repo: repo.dir.clone(),
            kubeconfig: Some(kubeconfig.clone()),
            ..Target::default()
        },
        ..StatusOptions::default()
    };
    let error = evaluate(&opts).await.unwrap_err();
    assert!(
        matches!(
            error,
            StatusError::Cluster(ClusterError::Unreachable { .. })
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "cannot reach the cluster at https://127.0.0.1:{port}"
        )),
        "{message}"
    );
    assert!(message.contains("connection refused"), "{message}");
    assert!(
        message.contains(&kubeconfig.display().to_string()),
        "{message}"
    );
    assert!(message.contains("context gone-ctx"), "{message}");
    assert!(message.contains("--kubeconfig"), "{message}");
    // the client's error stays the source (the message says the short reason)
    let StatusError::Cluster(cluster) = &error else {
        unreachable!()
    };
    let source = std::error::Error::source(cluster).expect("kube's error as source");
    let kube_error = source
        .downcast_ref::<kube::Error>()
        .or_else(|| source.downcast_ref::<Box<kube::Error>>().map(|b| &**b));
    assert!(kube_error.is_some(), "{source:?}");

    let wrong_context = evaluate(&StatusOptions {
        target: Target {
            context: Some("nope".into()),
            ..opts.target.clone()
        },
        ..opts
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        wrong_context.contains("context \"nope\" is not in the kubeconfig"),
        "{wrong_context}"
    );
    assert!(wrong_context.contains("gone-ctx"), "{wrong_context}");
}

#[tokio::test]
async fn older_rev_path_restriction_and_last_commit() {
    let cluster = TestCluster::start();
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let staging_cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: staging-only\ndata:\n  a: b\n";
    let c1 = repo.commit(
        "prod and staging",
        &[
            ("envs/prod/web.yaml", Some(DEPLOYMENT)),
            ("envs/prod/settings.yaml", Some(SETTINGS)),
            ("envs/staging/cm.yaml", Some(staging_cm)),
        ],
    );
    let three = DEPLOYMENT.replace("replicas: 2", "replicas: 3");
    let c2 = repo.commit("scale web to 3", &[("envs/prod/web.yaml", Some(&three))]);
    let c3 = repo.commit(
        "staging only change",
        &[(
            "envs/staging/cm.yaml",
            Some(&staging_cm.replace("a: b", "a: c")),
        )],
    );
    apply_as_sync(&cluster, &[&three, SETTINGS]);
    let base = options(&cluster, &repo.dir);
    let opts = StatusOptions {
        target: Target {
            path: "envs/prod".into(),
            ..base.target.clone()
        },
        ..base
    };

    let head = status(&opts).await;
    assert_eq!(head.revision.id, c3);
    assert_eq!(head.path, "envs/prod");
    assert_eq!(
        states(&head),
        vec![
            ("ConfigMap".into(), "settings".into(), DriftState::Synced),
            ("Deployment".into(), "web".into(), DriftState::Synced),
        ],
        "--path keeps staging out"
    );
    assert_eq!(
        row(&head, "Deployment", "web")
            .last_commit
            .as_ref()
            .unwrap()
            .id,
        c2
    );
    assert_eq!(
        row(&head, "ConfigMap", "settings")
            .last_commit
            .as_ref()
            .unwrap()
            .id,
        c1
    );
    assert_eq!(
        row(&head, "Deployment", "web")
            .last_commit
            .as_ref()
            .unwrap()
            .summary,
        "scale web to 3"
    );

    let older = status(&StatusOptions {
        target: Target {
            rev: "HEAD~2".into(),
            ..opts.target.clone()
        },
        ..opts.clone()
    })
    .await;
    assert_eq!(older.revision.id, c1);
    let web = row(&older, "Deployment", "web");
    assert_eq!(web.state, DriftState::Drifted);
    assert_eq!(web.fields, vec!["spec.replicas"]);
    assert_eq!(web.changes[0].live, Some(serde_json::json!(3)));
    assert_eq!(web.changes[0].desired, Some(serde_json::json!(2)));
    assert_eq!(web.last_commit.as_ref().unwrap().id, c1);

    // A walk limit too short leaves lastCommit unknown rather than wrong: one commit of the
    // environment's history (c3 left envs/prod alone) finds web's, not settings'.
    let limited = status(&StatusOptions {
        last_commit_limit: 1,
        ..opts
    })
    .await;
    assert_eq!(
        row(&limited, "Deployment", "web")
            .last_commit
            .as_ref()
            .unwrap()
            .id,
        c2
    );
    assert_eq!(row(&limited, "ConfigMap", "settings").last_commit, None);
}

#[tokio::test]
async fn field_our_manager_owns_but_no_longer_sends_is_drift() {
    let cluster = TestCluster::start();
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let with_extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LOG_LEVEL: info\n  EXTRA: \"1\"\n";
    repo.commit(
        "settings with EXTRA",
        &[("settings.yaml", Some(with_extra))],
    );
    apply_as_sync(&cluster, &[with_extra]);
    repo.commit("drop EXTRA", &[("settings.yaml", Some(SETTINGS))]);
    let opts = options(&cluster, &repo.dir);

    let report = status(&opts).await;
    let settings = row(&report, "ConfigMap", "settings");
    assert_eq!(settings.state, DriftState::Drifted);
    assert_eq!(settings.fields, vec!["data.EXTRA"]);
    assert_eq!(report.stats.dry_runs, 1);

    // The client strategy cannot see it: fields only live has are not drift there.
    let client = status(&StatusOptions {
        strategy: Strategy::Client,
        ..opts
    })
    .await;
    assert_eq!(
        row(&client, "ConfigMap", "settings").state,
        DriftState::Synced
    );
}

#[tokio::test]
async fn invalid_manifest_is_an_error_with_the_servers_message() {
    let cluster = TestCluster::start();
    let (mut repo, opts) = synced_env(&cluster);
    repo.commit(
        "negative replicas",
        &[(
            "web/deployment.yaml",
            Some(&DEPLOYMENT.replace("replicas: 2", "replicas: -1")),
        )],
    );
    let report = status(&opts).await;
    let web = row(&report, "Deployment", "web");
    assert_eq!(web.state, DriftState::Error);
    let error = web.error.as_deref().unwrap();
    assert!(
        error.contains("must be greater than or equal to 0"),
        "{error}"
    );
    assert_eq!(report.exit_code(), 2);
}

#[tokio::test]
async fn applyset_members_not_in_git_are_orphaned() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let config = format!("env: test\napplySet:\n  namespace: {ns}\n");
    repo.commit(
        "settings",
        &[
            (".kubectl-gitops.yaml", Some(&config)),
            ("settings.yaml", Some(SETTINGS)),
        ],
    );
    let parent = applyset::parent_name("test");
    let id = applyset::applyset_id(&parent, &ns);
    let parent_cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {parent}\n  labels:\n    applyset.kubernetes.io/id: {id}\n  annotations:\n    applyset.kubernetes.io/contains-group-kinds: ConfigMap\n"
    );
    let member = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    applyset.kubernetes.io/part-of: {id}\ndata:\n  k: v\n"
        )
    };
    let settings_member = SETTINGS.replace(
        "  name: settings\n",
        &format!("  name: settings\n  labels:\n    applyset.kubernetes.io/part-of: {id}\n"),
    );
    let unrelated =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\ndata:\n  k: v\n";
    apply_as_sync(
        &cluster,
        &[&parent_cm, &settings_member, &member("old"), unrelated],
    );

    let report = status(&options(&cluster, &repo.dir)).await;
    assert_eq!(
        states(&report),
        vec![
            ("ConfigMap".into(), "settings".into(), DriftState::Synced),
            ("ConfigMap".into(), "old".into(), DriftState::Orphaned),
        ]
    );
    let old = row(&report, "ConfigMap", "old");
    assert_eq!(old.source, None);
    assert_eq!(old.id.namespace.as_deref(), Some(ns.as_str()));
    // Members are listed by metadata; an orphan is then read whole.
    let live = old.live_yaml.as_deref().unwrap();
    assert!(
        live.contains("name: old") && live.contains("k: v"),
        "{live}"
    );
    assert_eq!(report.exit_code(), 1);
}

/// Members of a cluster-scoped kind the environment also declares are found in the whole list
/// of that kind (not read twice): an orphan among them is shown whole, and an object labelled
/// as a member whose kind the parent does not name is no member (as for metadata-listed kinds).
#[tokio::test]
async fn cluster_scoped_members_not_in_git_are_orphaned() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let parent = applyset::parent_name("test");
    let id = applyset::applyset_id(&parent, &ns);
    let role = |name: &str, member: bool| {
        cluster.track_cluster_scoped("clusterrole", &format!("{ns}-{name}"));
        let labels = if member {
            format!("  labels:\n    applyset.kubernetes.io/part-of: {id}\n")
        } else {
            String::new()
        };
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {ns}-{name}\n{labels}rules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n"
        )
    };
    let binding = |name: &str, member: bool| {
        cluster.track_cluster_scoped("clusterrolebinding", &format!("{ns}-{name}"));
        let labels = if member {
            format!("  labels:\n    applyset.kubernetes.io/part-of: {id}\n")
        } else {
            String::new()
        };
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {ns}-{name}\n{labels}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {ns}-keep\nsubjects:\n- kind: ServiceAccount\n  name: default\n  namespace: {ns}\n"
        )
    };
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let config = format!("env: test\napplySet:\n  namespace: {ns}\n");
    repo.commit(
        "roles",
        &[
            (".kubectl-gitops.yaml", Some(&config)),
            ("role.yaml", Some(&role("keep", false))),
            ("binding.yaml", Some(&binding("bind", false))),
        ],
    );
    // The parent names ClusterRoles only: the labelled ClusterRoleBinding is not a member.
    let parent_cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {parent}\n  labels:\n    applyset.kubernetes.io/id: {id}\n  annotations:\n    applyset.kubernetes.io/contains-group-kinds: ClusterRole.rbac.authorization.k8s.io\n"
    );
    apply_as_sync(
        &cluster,
        &[
            &parent_cm,
            &role("keep", true),
            &role("old", true),
            &role("unrelated", false),
            &binding("bind", true),
            &binding("stray", true),
        ],
    );

    let report = status(&options(&cluster, &repo.dir)).await;
    let mut states = states(&report);
    states.sort();
    assert_eq!(
        states,
        vec![
            (
                "ClusterRole".into(),
                format!("{ns}-keep"),
                DriftState::Synced
            ),
            (
                "ClusterRole".into(),
                format!("{ns}-old"),
                DriftState::Orphaned
            ),
            (
                "ClusterRoleBinding".into(),
                format!("{ns}-bind"),
                DriftState::Synced
            ),
        ]
    );
    let old = row(&report, "ClusterRole", &format!("{ns}-old"));
    assert_eq!(old.source, None);
    assert_eq!(old.id.namespace, None);
    let live = old.live_yaml.as_deref().unwrap();
    assert!(live.contains("configmaps"), "{live}");
    assert_eq!(report.exit_code(), 1);
}

/// Aggregated discovery (two requests, as kubectl reads it) gives what asking group by group
/// gives: every kind with its scope, names and verbs in the same order, the preferred versions,
/// and an APIService whose backend is down as one failed group version, asked directly (its
/// 503) because the server's aggregated copy of it is stale.
#[tokio::test]
async fn aggregated_discovery_equals_discovery_group_by_group() {
    use kubectl_gitops::cluster::ClusterClient;
    let cluster = TestCluster::start();
    let group = format!("{}.example.com", cluster.namespace());
    let name = format!("v1.{group}");
    cluster.track_cluster_scoped("apiservice", &name);
    let api_service = format!(
        "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: {name}\nspec:\n  group: {group}\n  version: v1\n  groupPriorityMinimum: 1000\n  versionPriority: 15\n  insecureSkipTLSVerify: true\n  service:\n    namespace: {}\n    name: no-backend\n    port: 443\n",
        cluster.namespace()
    );
    cluster
        .kubectl_stdin(&["apply", "-f", "-"], &api_service)
        .success();
    let groups = [
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "networking.k8s.io",
        "policy",
        "autoscaling",
        group.as_str(),
    ];
    let connect = || ClusterClient::connect(Some(cluster.kubeconfig()), None);
    // The aggregator notes the unavailable APIService a moment after it is made.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (aggregated, by_group, requests) = loop {
        let client = connect().await.unwrap();
        let aggregated = client.discovery_of(groups).await.unwrap();
        let client_by_group = connect().await.unwrap().with_discovery_by_group();
        let by_group = client_by_group.discovery_of(groups).await.unwrap();
        let requests = (
            client.stats().discoveries(),
            client_by_group.stats().discoveries(),
        );
        let failed = |d: &kubectl_gitops::cluster::Discovery| {
            d.failed
                .iter()
                .any(|f| f.group_version == format!("{group}/v1"))
        };
        if failed(&aggregated) && failed(&by_group) {
            break (aggregated, by_group, requests);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{group}/v1 not reported failed: {:?} / {:?}",
            aggregated.failed,
            by_group.failed
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    // `/api`, `/apis` and the stale group version; against `/api/v1`, `/apis` and one
    // request per version of each group.
    assert_eq!(requests.0, 3, "{requests:?}");
    assert!(requests.1 >= 2 + groups.len(), "{requests:?}");
    assert!(aggregated.kinds.len() > 20, "{:?}", aggregated.kinds);
    assert_eq!(aggregated.kinds, by_group.kinds);
    assert_eq!(aggregated.preferred, by_group.preferred);
    assert_eq!(aggregated.failed, by_group.failed);
    assert!(
        aggregated.failed[0].message.contains("503"),
        "{:?}",
        aggregated.failed
    );
}

/// A LIST of metadata only: each item is the object's `metadata` with the object's own
/// `apiVersion` and `kind` (the server answers `PartialObjectMetadata` items), no `data`.
#[tokio::test]
async fn list_metadata_gives_identities_without_contents() {
    let cluster = TestCluster::start();
    apply_as_sync(&cluster, &[SETTINGS]);
    let client = kubectl_gitops::cluster::ClusterClient::connect(Some(cluster.kubeconfig()), None)
        .await
        .unwrap();
    let configmaps = kube::core::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
    };
    let items = client
        .list_metadata(&configmaps, Some(cluster.namespace()), None)
        .await
        .unwrap();
    let settings = items
        .iter()
        .find(|i| i["metadata"]["name"] == "settings")
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(settings["apiVersion"], "v1", "{settings}");
    assert_eq!(settings["kind"], "ConfigMap", "{settings}");
    assert_eq!(settings["metadata"]["namespace"], cluster.namespace());
    assert!(settings.get("data").is_none(), "{settings}");
    let whole = client
        .list(&configmaps, Some(cluster.namespace()), None)
        .await
        .unwrap();
    assert!(whole.iter().any(|i| i.get("data").is_some()), "{whole:?}");
}

#[tokio::test]
async fn tracking_keys_written_by_sync_need_no_dry_run_and_give_live_revision() {
    let cluster = TestCluster::start();
    let mut repo = GitRepo::init(&cluster.scratch().join("env"));
    let sha = repo.commit("settings", &[("settings.yaml", Some(SETTINGS))]);
    // What sync writes: the manifest plus the tracking keys, all owned by kubectl-gitops.
    let tracked = SETTINGS.replace(
        "  name: settings\n",
        &format!(
            "  name: settings\n  labels:\n    applyset.kubernetes.io/part-of: applyset-x-v1\n  annotations:\n    kubectl-gitops.io/revision: {sha}\n    kubectl-gitops.io/source: settings.yaml#0\n"
        ),
    );
    apply_as_sync(&cluster, &[&tracked]);
    let report = status(&options(&cluster, &repo.dir)).await;
    let settings = row(&report, "ConfigMap", "settings");
    assert_eq!(settings.state, DriftState::Synced, "{:?}", settings.fields);
    assert_eq!(settings.live_revision.as_deref(), Some(sha.as_str()));
    assert_eq!(report.stats.dry_runs, 0);

    // Drift on a tracked object: the dry-run (which does not resend the tracking keys) shows
    // the real change only, not the tracking keys it would drop.
    set_log_level_live(&cluster, "debug");
    let drifted = status(&options(&cluster, &repo.dir)).await;
    let settings = row(&drifted, "ConfigMap", "settings");
    assert_eq!(settings.state, DriftState::Drifted);
    assert_eq!(settings.fields, vec!["data.LOG_LEVEL"]);
    assert_eq!(settings.strategy, Some(Strategy::Server));
    assert_eq!(drifted.stats.dry_runs, 1);
}

/// A tiny API server for what the sandbox cannot do (refuse a dry-run with 403): answers each
/// request by `route(method, path)` with `(status line, JSON body)`, one request per connection.
async fn canned_api(route: fn(&str, &str) -> (&'static str, String)) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 8192];
                // Headers, then the body Content-Length announces.
                loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&request).to_string();
                let mut first = text.lines().next().unwrap_or_default().split(' ');
                let method = first.next().unwrap_or_default().to_owned();
                let target = first.next().unwrap_or_default();
                let path = target.split('?').next().unwrap_or_default().to_owned();
                let (status, body) = route(&method, &path);
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn forbidden_dry_run_falls_back_to_the_client_comparison() {
    fn route(method: &str, path: &str) -> (&'static str, String) {
        let not_found = || {
            (
                "404 Not Found",
                r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.to_owned(),
            )
        };
        match (method, path) {
            ("GET", "/api/v1") => ("200 OK", r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[
                {"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["get","list","patch"],"shortNames":["cm"]},
                {"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list"],"shortNames":["ns"]}]}"#.to_owned()),
            ("GET", "/apis") => ("200 OK", r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#.to_owned()),
            ("GET", "/api/v1/namespaces/team/configmaps") => ("200 OK", r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[
                {"metadata":{"name":"settings","namespace":"team","resourceVersion":"6","managedFields":[
                  {"manager":"kubectl-gitops","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:LOG_LEVEL":{},"f:EXTRA":{}}}}]},
                 "data":{"LOG_LEVEL":"debug","EXTRA":"1"}}]}"#.to_owned()),
            ("PATCH", "/api/v1/namespaces/team/configmaps/settings") => ("403 Forbidden", r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"configmaps \"settings\" is forbidden: User \"viewer\" cannot patch resource \"configmaps\"","reason":"Forbidden","code":403}"#.to_owned()),
            _ => not_found(),
        }
    }
    let server = canned_api(route).await;
    let dir = tempfile::tempdir().unwrap();
    let mut repo = GitRepo::init(&dir.path().join("env"));
    repo.commit("settings", &[("settings.yaml", Some(SETTINGS))]);
    let mut config = kube::Config::new(server.parse().unwrap());
    config.default_retry = false;
    let cluster = kubectl_gitops::cluster::ClusterClient::from_client(
        kube::Client::try_from(config).unwrap(),
        "viewer",
        &server,
    );
    let opts = StatusOptions {
        target: Target {
            repo: repo.dir.clone(),
            namespace: Some("team".into()),
            ..Target::default()
        },
        ..StatusOptions::default()
    };
    let report = kubectl_gitops::ops::status::evaluate_with(&cluster, &opts)
        .await
        .unwrap();
    let settings = row(&report, "ConfigMap", "settings");
    assert_eq!(settings.state, DriftState::Drifted);
    assert_eq!(settings.strategy, Some(Strategy::Client));
    assert_eq!(settings.fields, vec!["data.LOG_LEVEL"]);
    assert!(
        settings
            .notes
            .iter()
            .any(|n| n.contains("server-side dry-run forbidden")
                && n.contains("compared client-side")),
        "{:?}",
        settings.notes
    );
    assert_eq!(report.stats.dry_runs, 1);
    assert_eq!(report.context, "viewer");
}

/// Discovery of the groups asked (SPEC §5: only what the environment's kinds need): core and
/// those groups, each kind as the discovery of every group gives it; nothing of the others.
#[tokio::test]
async fn discovery_of_some_groups_holds_those_groups_only() {
    let cluster = TestCluster::start();
    let client = kubectl_gitops::cluster::ClusterClient::connect(Some(cluster.kubeconfig()), None)
        .await
        .unwrap();
    let some = client.discovery_of(["apps"]).await.unwrap();
    let groups: BTreeSet<&str> = some
        .kinds
        .iter()
        .map(|k| k.resource.group.as_str())
        .collect();
    assert_eq!(groups, BTreeSet::from(["", "apps"]));
    assert!(some.resolve("apps", "v1", "Deployment").is_ok());
    assert_eq!(some.scope("", "Namespace"), Some(false));
    let all = client.discovery().await.unwrap();
    assert!(
        all.kinds
            .iter()
            .any(|k| k.resource.group == "rbac.authorization.k8s.io")
    );
    let restricted: Vec<_> = all
        .kinds
        .iter()
        .filter(|k| k.resource.group.is_empty() || k.resource.group == "apps")
        .collect();
    assert_eq!(some.kinds.iter().collect::<Vec<_>>(), restricted);
    // A group the server does not list is simply not served.
    let none = client.discovery_of(["nothing.example.com"]).await.unwrap();
    assert!(none.kinds.iter().all(|k| k.resource.group.is_empty()));
    assert!(none.failed.is_empty());
}
