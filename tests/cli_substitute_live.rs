//! Flux `postBuild.substituteFrom` objects (SPEC §11): a ConfigMap or Secret is taken from the
//! rendered environment when defined there, else read live; `optional` honoured. The real
//! Kustomization CRD is installed as in tests/cli_ownership.rs; the objects it substitutes from
//! are plain core ConfigMaps and Secrets, as kustomize-controller reads them
//! (fluxcd/kustomize-controller `internal/controller/kustomization_varsub.go`: a Secret's
//! `data` decoded, `stringData` as written).

mod cli_env;
mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cli_env::{EnvRepo, Gitops, Run, offline};
use common::TestCluster;
use serde_json::Value;

/// A value only the cluster holds, in a ConfigMap.
const COLOR: &str = "teal-live-7d1c";
/// A value only the cluster holds, in a Secret: never printed.
const PASSWORD: &str = "live-subst-pw-4c2e9a";

/// Installs the Kustomization CRD from the corpus (server-side) and waits until it is served.
/// Left installed: other tests on a shared server may use it at the same time.
fn install_kustomization_crd(cluster: &TestCluster) {
    cli_env::install_crd(
        cluster,
        "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    );
}

/// The Kustomization `<ns>/<name>` (standing for flux-system's: each test has its namespace)
/// applying `./<path>` of this repo and substituting from `refs` (`(kind, name, optional)`).
fn kustomization(ns: &str, name: &str, path: &str, refs: &[(&str, &str, bool)]) -> String {
    let mut text = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  interval: 10m\n  path: ./{path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substituteFrom:\n"
    );
    for (kind, name, optional) in refs {
        text.push_str(&format!(
            "    - kind: {kind}\n      name: {name}\n      optional: {optional}\n"
        ));
    }
    text
}

fn config_map(ns: &str, name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  {key}: {value}\n"
    )
}

fn secret(ns: &str, name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: Opaque\ndata:\n  {key}: {}\n",
        STANDARD.encode(value)
    )
}

fn resource<'a>(doc: &'a Value, kind: &str, name: &str) -> &'a Value {
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {doc:#}"))
}

/// The environment `clusters`: Kustomization `apps` applying `apps/`, whose ConfigMap and
/// Secret take their values from `cluster-vars` and `cluster-secret`, which git does not
/// define; and a plain ConfigMap `plain`.
fn repo(ns: &str, refs: &[(&str, &str, bool)]) -> EnvRepo {
    let mut repo = EnvRepo::new();
    repo.commit(
        "apps",
        &[
            ("clusters/ks.yaml", &kustomization(ns, "apps", "apps", refs)),
            ("clusters/plain.yaml", &config_map(ns, "plain", "a", "\"1\"")),
            ("apps/app.yaml", &config_map(ns, "app", "color", "${COLOR}")),
            (
                "apps/creds.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-creds\ntype: Opaque\nstringData:\n  password: ${PASSWORD}\n",
            ),
        ],
    );
    repo
}

const LIVE_REFS: [(&str, &str, bool); 3] = [
    ("ConfigMap", "cluster-vars", false),
    ("Secret", "cluster-secret", false),
    ("Secret", "never-created", true),
];

/// Panics when `run` printed the Secret's value (plain or base64).
fn assert_no_password(run: &Run, how: &str) {
    for needle in [PASSWORD.to_owned(), STANDARD.encode(PASSWORD)] {
        assert!(
            !run.stdout.contains(&needle) && !run.stderr.contains(&needle),
            "{needle} printed by {how}\n{run}"
        );
    }
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_below(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn substitute_from_objects_only_live_are_read_from_the_cluster() {
    let cluster = TestCluster::start();
    install_kustomization_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let repo = repo(&ns, &LIVE_REFS);
    cluster
        .apply(&config_map(&ns, "cluster-vars", "COLOR", COLOR))
        .success();
    cluster
        .apply(&secret(&ns, "cluster-secret", "PASSWORD", PASSWORD))
        .success();
    // What kustomize-controller applied from them.
    cluster
        .apply(&config_map(&ns, "app", "color", COLOR))
        .success();
    cluster
        .apply(&secret(&ns, "app-creds", "password", PASSWORD))
        .success();
    cluster
        .apply(&config_map(&ns, "plain", "a", "\"1\""))
        .success();
    cluster
        .apply(&kustomization(&ns, "apps", "apps", &LIVE_REFS))
        .success();

    let gitops = Gitops::new(&cluster, &repo);
    let mut runs = Vec::new();
    let run = gitops.run(&["--path", "clusters", "-vvv", "status", "-o", "json"]);
    let doc = run.json();
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert_ne!(run.code, 2, "{run}");
    // Synced: the desired objects hold the live values (`${COLOR}` as written would drift).
    for (kind, name) in [("ConfigMap", "app"), ("Secret", "app-creds")] {
        let row = resource(&doc, kind, name);
        assert_eq!(row["status"], "Synced", "{kind}/{name}: {row:#}\n{run}");
        assert_eq!(
            row["owner"],
            format!("Kustomization {ns}/apps").as_str(),
            "{row:#}"
        );
    }
    runs.push(("status -o json".to_owned(), run));

    // The live value changes: the next run sees it (nothing keyed by git alone served the
    // old one), and the diff shows the desired object with it.
    cluster
        .apply(&config_map(&ns, "cluster-vars", "COLOR", "navy-live-2b9e"))
        .success();
    let run = gitops.run(&["--path", "clusters", "-vvv", "status", "-o", "json"]);
    let row = resource(&run.json(), "ConfigMap", "app").clone();
    assert_eq!(row["status"], "Drifted", "{row:#}\n{run}");
    runs.push(("status after the change".to_owned(), run));
    let run = gitops
        .run(&["--path", "clusters", "-vvv", "diff"])
        .code_is(1);
    assert!(run.stdout.contains("navy-live-2b9e"), "{run}");
    runs.push(("diff".to_owned(), run));
    for args in [
        vec!["status"],
        vec!["status", "-o", "yaml"],
        vec!["diff", "-o", "json"],
        vec!["sync", "--dry-run"],
        vec!["history", "-p"],
        vec!["blame", "secret/app-creds"],
    ] {
        let mut full = vec!["--path", "clusters", "-vvv"];
        full.extend(&args);
        let run = gitops.run(&full);
        assert!(!run.stderr.contains("panicked"), "{run}");
        assert_ne!(run.code, 2, "{}: {run}", args.join(" "));
        runs.push((args.join(" "), run));
    }
    for (how, run) in &runs {
        assert_no_password(run, how);
    }
    // Nor kept on disk: the render caches in the repo's git dir.
    let files = files_below(&repo.dir().join(".git").join("kubectl-gitops"));
    assert!(!files.is_empty(), "the render caches were written");
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for needle in [PASSWORD.to_owned(), STANDARD.encode(PASSWORD)] {
            assert!(!text.contains(&needle), "{needle} in {}", file.display());
        }
    }
}

#[test]
fn substitute_from_missing_live_is_skipped_when_optional_else_an_error() {
    let cluster = TestCluster::start();
    install_kustomization_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    // `apps` needs a ConfigMap no one has; `extras` one that is optional.
    let mut repo = repo(&ns, &[("ConfigMap", "nowhere", false)]);
    repo.commit(
        "extras",
        &[
            (
                "clusters/extras.yaml",
                &kustomization(&ns, "extras", "extras", &[("ConfigMap", "maybe", true)]),
            ),
            (
                "extras/extra.yaml",
                &config_map(&ns, "extra", "color", "${COLOR:=grey}"),
            ),
        ],
    );
    cluster
        .apply(&config_map(&ns, "plain", "a", "\"1\""))
        .success();
    cluster
        .apply(&config_map(&ns, "extra", "color", "grey"))
        .success();
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run(&["--path", "clusters", "status", "-o", "json"])
        .code_is(2);
    assert!(
        run.stderr.contains(&format!(
            "clusters/ks.yaml:1: Kustomization {ns}/apps: postBuild.substituteFrom ConfigMap \
             {ns}/nowhere is neither defined in the environment nor in the cluster (define it, \
             create it in namespace {ns}, or mark it `optional: true`)"
        )),
        "{run}"
    );
    assert!(!run.stderr.contains("maybe"), "{run}");
    // The rest is still evaluated: the optional ConfigMap skipped, its default used.
    let doc = run.json();
    assert_eq!(resource(&doc, "ConfigMap", "extra")["status"], "Synced");
    assert_eq!(resource(&doc, "ConfigMap", "plain")["status"], "Synced");

    // Offline (no cluster is read): the same Kustomization is the offline error, which says
    // that an online run reads the cluster. `diff --from` never reads the cluster either.
    let offline_error = format!(
        "postBuild.substituteFrom ConfigMap {ns}/nowhere is not defined in the environment, and \
         this run does not read the cluster (an online run reads it from there; or define it, \
         or mark it `optional: true`)"
    );
    let run = gitops
        .run(&["--path", "clusters", "diff", "--from", "HEAD~1"])
        .code_is(2);
    assert!(run.stderr.contains(&offline_error), "{run}");
    let run = offline(
        &repo,
        &["--path", "clusters", "-n", &ns, "blame", "cm/plain"],
        &[],
    )
    .code_is(2);
    assert!(run.stderr.contains(&offline_error), "{run}");
}

/// The UI evaluates on a current-thread runtime, and the head render runs on that runtime's
/// own thread: the live read must not need that runtime (waiting on it there would deadlock;
/// `Handle::block_on` would panic). `#[tokio::test]` is such a runtime.
#[tokio::test]
async fn a_current_thread_runtime_evaluates_with_live_reads() {
    use kubectl_gitops::Target;
    use kubectl_gitops::model::DriftState;
    use kubectl_gitops::ops::status::{StatusOptions, evaluate};

    let cluster = TestCluster::start();
    install_kustomization_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let refs = [("ConfigMap", "cluster-vars", false)];
    let mut repo = EnvRepo::new();
    repo.commit(
        "apps",
        &[
            (
                "clusters/ks.yaml",
                &kustomization(&ns, "apps", "apps", &refs),
            ),
            (
                "apps/app.yaml",
                &config_map(&ns, "app", "color", "${COLOR}"),
            ),
        ],
    );
    cluster
        .apply(&config_map(&ns, "cluster-vars", "COLOR", COLOR))
        .success();
    cluster
        .apply(&config_map(&ns, "app", "color", COLOR))
        .success();
    let opts = StatusOptions {
        target: Target {
            repo: repo.dir().to_path_buf(),
            path: "clusters".to_owned(),
            namespace: Some(ns.clone()),
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            ..Target::default()
        },
        ..StatusOptions::default()
    };
    let report = evaluate(&opts).await.expect("status evaluates");
    assert!(
        report.render_errors.is_empty(),
        "{:?}",
        report.render_errors
    );
    let app = report
        .resources
        .iter()
        .find(|r| r.id.kind == "ConfigMap" && r.id.name == "app")
        .expect("the Kustomization's ConfigMap is desired");
    assert_eq!(app.state, DriftState::Synced, "{app:#?}");
}
