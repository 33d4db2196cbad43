//! `kubectl gitops history [RESOURCE]` end to end (SPEC §5 history, §7 live mark): git
//! fixtures with fixed dates, the live side applied with the real kubectl.

mod cli_env;
mod common;

use cli_env::{
    EnvRepo, Gitops, SECRET_VALUES, assert_no_secret, commit_one_replica, config_map, deployment,
    helm, history_commit_ids, offline, secret,
};
use common::TestCluster;
use serde_json::Value;

/// A history of Deployment `web` and ConfigMap `settings` in the test namespace:
/// 1 add both; 2 scale web; 3 move web to another file; 4 change settings; 5 remove web;
/// 6 web back; 7 README only.
fn story(ns: &str) -> (EnvRepo, Vec<String>) {
    let mut repo = EnvRepo::new();
    let mut ids = Vec::new();
    ids.push(repo.commit(
        "add web and settings",
        &[
            ("web.yaml", &deployment(ns, 1, "1.27")),
            ("settings.yaml", &config_map(ns, "info")),
        ],
    ));
    ids.push(repo.commit("scale web", &[("web.yaml", &deployment(ns, 3, "1.27"))]));
    repo.git(&["mv", "web.yaml", "apps-web.yaml"]);
    ids.push(repo.commit("move web", &[]));
    ids.push(repo.commit("debug logs", &[("settings.yaml", &config_map(ns, "debug"))]));
    repo.git(&["rm", "-q", "apps-web.yaml"]);
    ids.push(repo.commit("remove web", &[]));
    ids.push(repo.commit(
        "web back",
        &[("web/deploy.yaml", &deployment(ns, 2, "1.28"))],
    ));
    ids.push(repo.commit("readme", &[("README.md", "hello\n")]));
    (repo, ids)
}

fn summaries(doc: &Value) -> Vec<String> {
    doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn offline_history_lists_resource_changes_newest_first() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (repo, ids) = story(&ns);
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["history", "--offline"]).code_is(0);
    // SPEC §5: every commit that changed the inputs; the README commit and the pure move
    // changed no resource and say so.
    let expected = format!(
        "{} (HEAD) readme\n  (no resource changes)\n\
         {} web back\n  A deployment.apps/web ({ns})\n\
         {} remove web\n  D deployment.apps/web ({ns})\n\
         {} debug logs\n  M configmap/settings ({ns})\n\
         {} move web\n  (no resource changes)\n\
         {} scale web\n  M deployment.apps/web ({ns})\n\
         {} add web and settings\n  A configmap/settings ({ns})\n  A deployment.apps/web ({ns})\n",
        &ids[6][..7],
        &ids[5][..7],
        &ids[4][..7],
        &ids[3][..7],
        &ids[2][..7],
        &ids[1][..7],
        &ids[0][..7],
    );
    assert_eq!(run.stdout, expected, "{run}");
    // The same commits as git's log of the environment.
    let git: Vec<String> = repo
        .git(&["log", "--first-parent", "--format=%h"])
        .lines()
        .map(str::to_owned)
        .collect();
    let ours: Vec<String> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(ours, git);
}

#[test]
fn json_shape_and_limit() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (repo, ids) = story(&ns);
    let gitops = Gitops::new(&cluster, &repo);
    let doc = gitops
        .run(&["history", "--offline", "-o", "json"])
        .code_is(0)
        .json();
    assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
    assert_eq!(doc["kind"], "History");
    assert_eq!(doc["revision"]["id"], ids[6].as_str());
    assert_eq!(doc["matchesLive"], Value::Null);
    let commits = doc["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 7);
    // A commit that changed no resource has no changes.
    assert_eq!(commits[0]["summary"], "readme");
    assert_eq!(commits[0]["changes"], serde_json::json!([]));
    let oldest = &commits[6];
    let log = repo.git(&["log", "-1", "--format=%H%n%s%n%an%n%ae%n%aI", &ids[0]]);
    let want: Vec<&str> = log.lines().collect();
    for (field, value) in ["id", "summary", "author", "email", "time"]
        .iter()
        .zip(want)
    {
        assert_eq!(oldest[field], value, "{field}");
    }
    assert_eq!(oldest["head"], false);
    assert_eq!(oldest["matchesLive"], false);
    assert_eq!(
        oldest["changes"][1],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns,
            "name": "web", "change": "added", "file": "web.yaml"})
    );
    assert_eq!(commits[2]["changes"][0]["change"], "removed");
    assert_eq!(commits[2]["changes"][0]["file"], "apps-web.yaml");

    let limited = gitops
        .run(&["history", "--offline", "--limit", "2", "-o", "yaml"])
        .code_is(0);
    let doc: Value = serde_saphyr::from_str(&limited.stdout).unwrap();
    assert_eq!(summaries(&doc), ["readme", "web back"], "{limited}");
}

#[test]
fn resource_history_follows_moves_removal_and_re_add() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (repo, _) = story(&ns);
    let gitops = Gitops::new(&cluster, &repo);
    let doc = gitops
        .run(&["history", "--offline", "deploy/web", "-o", "json"])
        .code_is(0)
        .json();
    assert_eq!(
        summaries(&doc),
        [
            "web back",
            "remove web",
            "scale web",
            "add web and settings"
        ]
    );
    let changes: Vec<&str> = doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["changes"].as_array().unwrap().len(), 1, "{c}");
            c["changes"][0]["change"].as_str().unwrap()
        })
        .collect();
    assert_eq!(changes, ["added", "removed", "modified", "added"]);
    let settings = gitops
        .run(&["history", "--offline", "cm/settings", "--limit", "1"])
        .code_is(0);
    assert!(settings.stdout.starts_with(&format!(
        "{} debug logs\n",
        &repo.git(&["rev-parse", "--short=7", "HEAD~3"]).trim()
    )));
    assert_eq!(settings.stdout.lines().count(), 2, "{settings}");
    let unknown = gitops
        .run(&["history", "--offline", "widgets/x"])
        .code_is(2);
    assert!(unknown.stderr.contains("widgets"), "{unknown}");
}

#[test]
fn patch_shows_each_change_with_secrets_masked() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit(
        "creds",
        &[
            ("creds.yaml", &secret(&ns, SECRET_VALUES[0])),
            ("web.yaml", &deployment(&ns, 1, "1.27")),
        ],
    );
    repo.commit(
        "rotate and scale",
        &[
            ("creds.yaml", &secret(&ns, SECRET_VALUES[1])),
            ("web.yaml", &deployment(&ns, 4, "1.27")),
        ],
    );
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run(&["history", "--offline", "-p", "--color", "never"])
        .code_is(0);
    assert_no_secret(&run, "history -p");
    assert!(
        run.stdout.contains("-  replicas: 1\n+  replicas: 4\n"),
        "{run}"
    );
    // Two different values get two different masks, so the change stays visible.
    assert!(
        run.stdout
            .contains("-  password: ++++++++\n+  password: +++++++++\n"),
        "{run}"
    );
    assert!(run.stdout.contains("--- /dev/null\n"), "{run}");
    let json = gitops
        .run(&["history", "--offline", "-p", "-o", "json"])
        .code_is(0);
    assert_no_secret(&json, "history -p -o json");
    let doc = json.json();
    assert_eq!(doc["commits"][0]["changes"][0]["kind"], "Deployment");
    let diff = doc["commits"][0]["changes"][0]["diff"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(diff.contains("+  replicas: 4"), "{diff}");
}

#[test]
fn live_mark_follows_what_the_cluster_holds() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    let first = commit_one_replica(&mut repo, &ns);
    let second = repo.commit(
        "three replicas",
        &[("web.yaml", &deployment(&ns, 3, "1.27"))],
    );
    let third = repo.commit("debug", &[("settings.yaml", &config_map(&ns, "debug"))]);
    // The cluster holds the first commit, applied by kubectl.
    cluster.apply(&deployment(&ns, 1, "1.27")).success();
    cluster.apply(&config_map(&ns, "info")).success();
    let gitops = Gitops::new(&cluster, &repo);
    let doc = gitops.run(&["history", "-o", "json"]).code_is(0).json();
    assert_eq!(doc["matchesLive"], first.as_str(), "{doc}");
    let marks: Vec<(bool, bool)> = doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["head"].as_bool().unwrap(),
                c["matchesLive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(marks, [(true, false), (false, false), (false, true)]);
    let text = gitops.run(&["history"]).code_is(0);
    assert!(
        text.stdout
            .contains(&format!("{} (HEAD) debug\n", &third[..7])),
        "{text}"
    );
    assert!(
        text.stdout
            .contains(&format!("{} (live) one replica\n", &first[..7])),
        "{text}"
    );
    // Scaled by hand to what the second commit says: the live state now matches it.
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=3"])
        .success();
    let doc = gitops.run(&["history", "-o", "json"]).code_is(0).json();
    assert_eq!(doc["matchesLive"], second.as_str(), "{doc}");
    // Per resource: the ConfigMap still holds the first version.
    let doc = gitops
        .run(&["history", "cm/settings", "-o", "json"])
        .code_is(0)
        .json();
    assert_eq!(doc["matchesLive"], first.as_str(), "{doc}");
    // Patched to a value no commit has: no commit matches.
    cluster
        .kubectl(&[
            "patch",
            "configmap/settings",
            "-p",
            r#"{"data":{"LOG_LEVEL":"warn"}}"#,
        ])
        .success();
    let doc = gitops.run(&["history", "-o", "json"]).code_is(0).json();
    assert_eq!(doc["matchesLive"], Value::Null, "{doc}");
    assert!(
        doc["commits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["matchesLive"] == false)
    );
}

#[test]
fn unreachable_cluster_warns_and_still_prints_the_history() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (repo, ids) = story(&ns);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run(&[
            "history",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--limit",
            "1",
        ])
        .code_is(0);
    assert!(run.stdout.starts_with(&ids[6][..7]), "{run}");
    assert!(
        run.stderr.contains("warning: live state not shown"),
        "{run}"
    );
    assert!(run.stderr.contains("127.0.0.1:1"), "{run}");
}

#[test]
fn second_run_reads_the_cache_and_a_corrupted_one_is_ignored() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (repo, _) = story(&ns);
    let gitops = Gitops::new(&cluster, &repo);
    let first = gitops.run(&["history", "--offline", "-v"]).code_is(0);
    assert!(first.stderr.contains("cache_hits=0"), "{first}");
    assert!(first.stderr.contains("cache_written=true"), "{first}");
    let second = gitops.run(&["history", "--offline", "-v"]).code_is(0);
    assert!(second.stderr.contains("cache_hits=1"), "{second}");
    assert!(second.stderr.contains("commits_walked=0"), "{second}");
    // Each commit's changes come from the changes cache: nothing is rendered again.
    assert!(second.stderr.contains("changes_computed=0"), "{second}");
    assert!(second.stderr.contains("changes_cached=7"), "{second}");
    assert_eq!(second.stdout, first.stdout);
    let cache = repo.dir().join(".git/kubectl-gitops/history-v1/root");
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let entry = entries.into_iter().next().unwrap().unwrap().path();
    std::fs::write(&entry, "garbage\n").unwrap();
    let changes = repo.dir().join(".git/kubectl-gitops/changes-v2/root");
    // <namespace>/<tools fingerprint>: one file per render setting.
    for namespace in std::fs::read_dir(&changes).unwrap() {
        for entry in std::fs::read_dir(namespace.unwrap().path()).unwrap() {
            std::fs::write(entry.unwrap().path(), "zz [1\n\u{0}garbage\n").unwrap();
        }
    }
    let third = gitops.run(&["history", "--offline", "-v"]).code_is(0);
    assert_eq!(third.stdout, first.stdout);
    assert!(third.stderr.contains("cache_hits=0"), "{third}");
    assert!(third.stderr.contains("changes_cached=0"), "{third}");
    let no_cache = gitops
        .run(&["history", "--offline", "--no-cache", "-v"])
        .code_is(0);
    assert_eq!(no_cache.stdout, first.stdout);
    assert!(
        no_cache.stderr.contains("cache_written=false"),
        "{no_cache}"
    );
}

#[test]
fn a_file_that_does_not_render_at_rev_exits_2_cold_warm_and_online() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let (mut repo, _) = story(&ns);
    repo.commit(
        "half-written file",
        &[(
            "broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n",
        )],
    );
    let gitops = Gitops::new(&cluster, &repo);
    let first = gitops.run(&["history", "--offline", "-v"]).code_is(2);
    assert!(first.stderr.contains("error: broken.yaml:"), "{first}");
    // The history still stands: the same commits as before the broken one.
    assert!(first.stdout.contains("web back"), "{first}");
    // Answered from the caches (nothing rendered): still exit 2, the same error.
    let second = gitops.run(&["history", "--offline", "-v"]).code_is(2);
    assert!(second.stderr.contains("changes_computed=0"), "{second}");
    assert_eq!(
        second
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect::<Vec<_>>(),
        first
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect::<Vec<_>>(),
    );
    assert_eq!(second.stdout, first.stdout);
    // Online (the live mark renders --rev itself) and for one resource: the same.
    let online = gitops.run(&["history", "cm/settings"]).code_is(2);
    assert!(online.stderr.contains("error: broken.yaml:"), "{online}");
    // At the commit before it, nothing is broken.
    let before = gitops
        .run(&["history", "--offline", "--rev", "HEAD~1"])
        .code_is(0);
    assert!(!before.stderr.contains("error:"), "{before}");
    // Fixed in a later commit: exit 0 again (the cached errors were the old tip's).
    repo.commit(
        "fix the file",
        &[(
            "broken.yaml",
            &config_map(&ns, "warn").replace("settings", "other"),
        )],
    );
    let fixed = gitops.run(&["history", "--offline"]).code_is(0);
    assert!(!fixed.stderr.contains("error:"), "{fixed}");
}

#[test]
fn the_history_of_a_path_gone_at_rev_is_listed_and_exits_0() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit(
        "staging env",
        &[("envs/staging/settings.yaml", &config_map(&ns, "info"))],
    );
    repo.commit(
        "staging debug",
        &[("envs/staging/settings.yaml", &config_map(&ns, "debug"))],
    );
    repo.git(&["rm", "-q", "-r", "envs/staging"]);
    repo.commit("retire staging", &[("README.md", "staging is gone\n")]);
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run(&[
            "history",
            "--offline",
            "--path",
            "envs/staging",
            "-o",
            "json",
        ])
        .code_is(0);
    assert_eq!(
        summaries(&run.json()),
        ["retire staging", "staging debug", "staging env"],
        "{run}"
    );
    assert!(!run.stderr.contains("error"), "{run}");
    // A config file that does not parse at --rev is an error, the history still printed.
    repo.commit(
        "bad config",
        &[(".kubectl-gitops.yaml", "ignoreDifferences: {not: [a list\n")],
    );
    let run = gitops
        .run(&["history", "--offline", "-o", "json"])
        .code_is(2);
    assert!(run.stderr.contains(".kubectl-gitops.yaml"), "{run}");
}

/// SPEC §5: the output streams. A kustomize unit whose oldest version makes kubectl wait (a
/// kubectl wrapper that blocks until released): the newest commit is printed while the walk
/// still waits on the oldest, and the whole history follows once released.
#[test]
fn history_streams_newest_first_while_older_commits_are_computed() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut repo = EnvRepo::new();
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  v: \"{v}\"\n"
        )
    };
    for v in ["old", "mid", "new"] {
        repo.commit(
            &format!("settings {v}"),
            &[
                ("app/kustomization.yaml", "resources: [cm.yaml]\n"),
                ("app/cm.yaml", &cm(v)),
            ],
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    let release = scratch.path().join("release");
    let wrapper = scratch.path().join("kubectl");
    let kubectl = common::find_kubectl();
    let mut script = std::fs::File::create(&wrapper).unwrap();
    writeln!(
        script,
        "#!/bin/sh\nif grep -q '\"old\"' \"$2/cm.yaml\" 2>/dev/null; then\n  while [ ! -f '{}' ]; do sleep 0.05; done\nfi\nexec '{}' \"$@\"",
        release.display(),
        kubectl.display()
    )
    .unwrap();
    drop(script);
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::gitops_binary())
        .arg("-C")
        .arg(repo.dir())
        .args(["--offline", "history"])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECTL_PATH", &wrapper)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::line_channel(child.stdout.take().unwrap());
    let first = lines
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the newest commit is printed before the walk ends");
    assert!(first.ends_with(" (HEAD) settings new"), "{first}");
    assert_eq!(
        lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap(),
        "  M configmap/settings (default)"
    );
    // The walk is still waiting on the oldest version.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "history ended before release"
    );
    std::fs::write(&release, "").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.iter().collect();
    let sha = |rev: &str| repo.git(&["rev-parse", "--short=7", rev]).trim().to_owned();
    assert_eq!(
        rest,
        [
            format!("{} settings mid", sha("HEAD~1")),
            "  M configmap/settings (default)".to_owned(),
            format!("{} settings old", sha("HEAD~2")),
            "  A configmap/settings (default)".to_owned(),
        ]
    );
}

/// `history -o json` (`args` after it) of `env/` in `repo`, offline, with the tests' helm;
/// exit 0.
fn helm_env_history(repo: &EnvRepo, args: &[&str]) -> Value {
    let helm = helm().display().to_string();
    let args = [&["--path", "env", "history", "-o", "json"], args].concat();
    offline(repo, &args, &[("HELM_BINARY", helm.as_str())])
        .code_is(0)
        .json()
}

/// How many times `helm template` ran in a `history --no-cache` walk of `env/` in `repo`
/// (its `-v` line's `helm_runs=`), renders kept in `cache`.
fn helm_runs_of_walk(repo: &EnvRepo, cache: &std::path::Path) -> usize {
    let helm = helm().display().to_string();
    let cache = cache.display().to_string();
    let env = [
        ("HELM_BINARY", helm.as_str()),
        ("KUBECTL_GITOPS_CACHE_DIR", cache.as_str()),
    ];
    let run = offline(
        repo,
        &["-v", "--path", "env", "history", "--no-cache"],
        &env,
    )
    .code_is(0);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("history walked"))
        .unwrap_or_else(|| panic!("no walk line: {run}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("helm_runs="))
        .unwrap_or_else(|| panic!("no helm_runs in {line}"))
        .parse()
        .unwrap()
}

/// Every object `helm template web <chart> --namespace apps --set replicas=N` makes, by
/// `(kind, name)`, at `rev` of `repo` (the chart read out of git): the reference a history of
/// a HelmRelease must agree with.
fn helm_template_objects(repo: &EnvRepo, rev: &str, replicas: u32) -> Vec<(String, String, Value)> {
    let chart = tempfile::tempdir().unwrap();
    for file in ["Chart.yaml", "templates/deploy.yaml", "templates/cm.yaml"] {
        let text = repo.git(&["show", &format!("{rev}:charts/web/{file}")]);
        let path = chart.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let out = std::process::Command::new(helm())
        .args(["template", "web"])
        .arg(chart.path())
        .args(["--namespace", "apps", "--set"])
        .arg(format!("replicas={replicas}"))
        .output()
        .expect("helm runs (../shared/bin/helm, $HELM_BINARY or on PATH)");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut objects: Vec<(String, String, Value)> = text
        .split("\n---")
        .filter_map(|doc| {
            let value: Value = serde_saphyr::from_str(doc).ok()?;
            Some((
                value["kind"].as_str()?.to_owned(),
                value["metadata"]["name"].as_str()?.to_owned(),
                value,
            ))
        })
        .collect();
    objects.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    objects
}

/// `(change, kind, name)` of the chart-made objects between two `helm template` outputs, sorted.
fn helm_changes(
    before: &[(String, String, Value)],
    after: &[(String, String, Value)],
) -> Vec<(String, String, String)> {
    let find = |side: &[(String, String, Value)], kind: &str, name: &str| {
        side.iter()
            .find(|(k, n, _)| k == kind && n == name)
            .map(|(_, _, v)| v.clone())
    };
    let mut changes = Vec::new();
    for (kind, name, value) in after {
        match find(before, kind, name) {
            None => changes.push(("added".to_owned(), kind.clone(), name.clone())),
            Some(old) if old != *value => {
                changes.push(("modified".to_owned(), kind.clone(), name.clone()));
            }
            Some(_) => {}
        }
    }
    for (kind, name, _) in before {
        if find(after, kind, name).is_none() {
            changes.push(("removed".to_owned(), kind.clone(), name.clone()));
        }
    }
    changes
}

/// `changes` and `(change, kind, name)` of each of `more`, sorted.
fn with(
    mut changes: Vec<(String, String, String)>,
    more: &[(&str, &str, &str)],
) -> Vec<(String, String, String)> {
    changes.extend(
        more.iter()
            .map(|(c, k, n)| ((*c).to_owned(), (*k).to_owned(), (*n).to_owned())),
    );
    changes.sort();
    changes
}

/// The HelmRelease `apps/web` of chart `charts/web` (a Deployment whose replicas are the
/// values' `replicas`, and a ConfigMap), with a GitRepository of this repo, in `env/`; the
/// Deployment's image is `image`.
fn web_release_files(replicas: u32, image: &str) -> Vec<(&'static str, String)> {
    let release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: ./charts/web\n      sourceRef:\n        kind: GitRepository\n        name: env\n  values:\n    replicas: {replicas}\n"
    );
    let source = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: env\n  namespace: apps\nspec:\n  interval: 1m\n  url: https://example.com/env.git\n";
    let deploy = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{{{ .Values.replicas }}}}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    );
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: hello\n";
    vec![
        (
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n".to_owned(),
        ),
        ("charts/web/templates/deploy.yaml", deploy),
        ("charts/web/templates/cm.yaml", cm.to_owned()),
        ("env/source.yaml", source.to_owned()),
        ("env/web.yaml", release),
    ]
}

/// Commits `files` (from [`web_release_files`]) to `repo`.
fn commit_files(repo: &mut EnvRepo, message: &str, files: &[(&str, String)]) -> String {
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    repo.commit(message, &files)
}

/// The HelmRelease environment: 1 add the release (replicas 1); 2 scale it (values
/// replicas 2); 3 add an unrelated ConfigMap. Returns the repo and the three shas.
fn web_release_story() -> (EnvRepo, [String; 3]) {
    let mut repo = EnvRepo::new();
    let added = commit_files(
        &mut repo,
        "add web release",
        &web_release_files(1, "nginx:1.27"),
    );
    let scaled = commit_files(
        &mut repo,
        "scale web",
        &web_release_files(2, "nginx:1.27")[4..],
    );
    let other = repo.commit(
        "add other settings",
        &[(
            "env/other.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: apps\ndata:\n  a: \"1\"\n",
        )],
    );
    (repo, [added, scaled, other])
}

/// A commit's changes in a `History` document, as sorted (change, kind, name).
fn changes_of(doc: &Value, id: &str) -> Vec<(String, String, String)> {
    let commit = doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no commit {id}: {doc:#}"));
    let mut changes: Vec<(String, String, String)> = commit["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    changes.sort();
    changes
}

/// History of an environment whose workload is a Flux HelmRelease of a chart in the repo
/// (issue #16: "a HelmRelease values change lists the chart objects it changes"): the commit
/// that adds the release adds what its chart makes, the values change modifies the chart's
/// Deployment, and the history of that Deployment is those two commits, not the unrelated
/// one after them. The chart-made changes are those between `helm template`'s outputs.
#[test]
fn history_of_a_helm_release_lists_the_objects_its_chart_makes() {
    let (repo, [added, scaled, other]) = web_release_story();
    let doc = helm_env_history(&repo, &[]);
    assert_eq!(
        history_commit_ids(&doc),
        [&other, &scaled, &added].map(String::clone),
        "{doc:#}"
    );
    let at_added = helm_template_objects(&repo, &added, 1);
    let at_scaled = helm_template_objects(&repo, &scaled, 2);
    // The first commit adds the controller objects and every object helm makes of the chart.
    let made = helm_changes(&[], &at_added);
    assert_eq!(made.len(), 2, "{made:?}");
    assert_eq!(
        changes_of(&doc, &added),
        with(
            made,
            &[
                ("added", "GitRepository", "env"),
                ("added", "HelmRelease", "web")
            ]
        ),
        "{doc:#}"
    );
    // The values change: what helm makes differently (the Deployment only) and the release.
    let remade = helm_changes(&at_added, &at_scaled);
    assert_eq!(
        remade,
        [(
            "modified".to_owned(),
            "Deployment".to_owned(),
            "web".to_owned()
        )]
    );
    assert_eq!(
        changes_of(&doc, &scaled),
        with(remade, &[("modified", "HelmRelease", "web")]),
        "{doc:#}"
    );
    assert_eq!(
        changes_of(&doc, &other),
        with(Vec::new(), &[("added", "ConfigMap", "other")]),
        "{doc:#}"
    );
    // The Deployment's own history: the values change and the release's arrival.
    let doc = helm_env_history(&repo, &["deploy/web", "-n", "apps"]);
    assert_eq!(
        history_commit_ids(&doc),
        [&scaled, &added].map(String::clone),
        "{doc:#}"
    ); // helm runs once per distinct (chart, values) pair: replicas 1 and 2 of the one chart;
    // a second walk finds both renders kept.
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(helm_runs_of_walk(&repo, cache.path()), 2);
    assert_eq!(helm_runs_of_walk(&repo, cache.path()), 0);
}

/// A change of the chart alone (outside `--path`) is a commit of the environment's history
/// that modifies what the chart makes; and a walk that starts where the environment has no
/// controller object (its plain files compared by their text) and meets one below lists the
/// objects the chart made as removed with the HelmRelease.
#[test]
fn history_of_a_helm_release_chart_change_and_of_its_removal() {
    let (mut repo, [added, scaled, other]) = web_release_story();
    let image = commit_files(
        &mut repo,
        "web 1.28",
        &web_release_files(2, "nginx:1.28")[1..2],
    );
    repo.git(&["rm", "-q", "env/web.yaml"]);
    let removed = repo.commit("remove web release", &[]);
    let at_image = helm_template_objects(&repo, &image, 2);
    // The chart's directory is an input of the environment while the release uses it.
    let doc = helm_env_history(&repo, &["--rev", &image]);
    assert_eq!(
        history_commit_ids(&doc),
        [&image, &other, &scaled, &added].map(String::clone),
        "{doc:#}"
    );
    let remade = helm_changes(&helm_template_objects(&repo, &scaled, 2), &at_image);
    assert_eq!(
        remade,
        [(
            "modified".to_owned(),
            "Deployment".to_owned(),
            "web".to_owned()
        )]
    );
    assert_eq!(changes_of(&doc, &image), remade, "{doc:#}");
    // From the tip, where no release is left.
    let doc = helm_env_history(&repo, &[]);
    assert_eq!(
        changes_of(&doc, &removed),
        with(
            helm_changes(&at_image, &[]),
            &[("removed", "HelmRelease", "web")]
        ),
        "{doc:#}"
    );
    assert_eq!(
        changes_of(&doc, &added),
        with(
            helm_changes(&[], &helm_template_objects(&repo, &added, 1)),
            &[
                ("added", "GitRepository", "env"),
                ("added", "HelmRelease", "web")
            ]
        ),
        "{doc:#}"
    );
    let doc = helm_env_history(&repo, &["deploy/web", "-n", "apps"]);
    assert_eq!(history_commit_ids(&doc)[0], removed, "{doc:#}");
}
