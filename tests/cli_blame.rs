//! `kubectl gitops blame` end to end (SPEC §7): per-line commits checked against
//! `git blame --porcelain` (the git CLI as the oracle), drift marks and `--live` attribution
//! against live changes made with kubectl in the test namespace, Secret masking, errors.

mod cli_env;
mod common;

use std::process::Command;

use cli_env::{
    EnvRepo, Gitops, Run, SECRET_VALUES, assert_no_secret, blame_commits_and_git, config_map,
    deployment, drifted_secret, git_blame, offline,
};
use common::{TestCluster, find_kubectl, gitops_binary};
use serde_json::Value;

/// The porcelain records: (line, drift, commit, manager, operation, text).
fn porcelain(run: &Run) -> Vec<Vec<String>> {
    run.stdout
        .lines()
        .map(|l| l.splitn(9, '\t').map(str::to_owned).collect())
        .collect()
}

/// Checks our per-line commits against git's for the resource, at `rev`.
fn assert_matches_git(repo: &EnvRepo, resource: &str, rev: &str) -> Value {
    let run = offline(repo, &["--rev", rev, "blame", resource, "-o", "json"], &[]).code_is(0);
    let doc = run.json();
    let (ours, git) = blame_commits_and_git(repo, rev, &doc);
    assert_eq!(ours, git, "{run}");
    let lines = doc["lines"].as_array().unwrap();
    // Offline: no drift marks, no live side.
    assert!(
        lines
            .iter()
            .all(|l| l["drift"].is_null() && l["live"].is_null()),
        "{run}"
    );
    doc
}

fn multi_doc(ns: &str, level: &str, tag: &str) -> String {
    format!("{}---\n{}", config_map(ns, level), deployment(ns, 2, tag))
}

#[test]
fn offline_lines_match_git_blame_across_edits_moves_and_documents() {
    let mut repo = EnvRepo::new();
    let a = repo.commit(
        "both",
        &[("apps/all.yaml", &multi_doc("prod", "info", "1.27"))],
    );
    repo.commit(
        "image",
        &[("apps/all.yaml", &multi_doc("prod", "info", "1.28"))],
    );
    repo.git(&["mv", "apps/all.yaml", "apps/site.yaml"]);
    repo.commit("move", &[]);
    let d = repo.commit(
        "level",
        &[("apps/site.yaml", &multi_doc("prod", "debug", "1.28"))],
    );
    let doc = assert_matches_git(&repo, "deploy/web", "HEAD");
    assert_eq!(doc["source"]["file"], "apps/site.yaml");
    assert_eq!(doc["source"]["document"], 1);
    let commits: Vec<&str> = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["commit"]["id"].as_str().unwrap())
        .collect();
    assert!(
        commits.contains(&a.as_str()),
        "lines from before the move keep their commit"
    );
    assert!(
        !commits.contains(&d.as_str()),
        "the ConfigMap edit is not this document's"
    );
    let cm = assert_matches_git(&repo, "cm/settings", "HEAD");
    assert!(
        cm["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["commit"]["id"] == d.as_str())
    );
    assert_matches_git(&repo, "deploy/web", "HEAD~2");
}

#[test]
fn offline_lines_match_git_blame_through_a_merge() {
    let mut repo = EnvRepo::new();
    repo.commit("base", &[("web.yaml", &deployment("prod", 2, "1.27"))]);
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.commit("side", &[("web.yaml", &deployment("prod", 3, "1.27"))]);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("main", &[("web.yaml", &deployment("prod", 2, "1.29"))]);
    repo.git(&["merge", "-q", "--no-edit", "side"]);
    let doc = assert_matches_git(&repo, "deployment.apps/web", "HEAD");
    let replicas = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["text"] == "  replicas: 3")
        .unwrap();
    assert_eq!(replicas["commit"]["summary"], "side", "{doc}");
}

#[test]
fn offline_text_porcelain_and_kustomize_unit() {
    let mut repo = EnvRepo::new();
    repo.commit(
        "unit",
        &[
            ("env/kustomization.yaml", "resources:\n- web.yaml\n"),
            ("env/web.yaml", &deployment("prod", 2, "1.27")),
        ],
    );
    let second = repo.commit("bump", &[("env/web.yaml", &deployment("prod", 4, "1.27"))]);
    let kubectl = find_kubectl();
    let env = [("KUBECTL_PATH", kubectl.to_str().unwrap())];
    let run = offline(&repo, &["blame", "deploy/web"], &env).code_is(0);
    let replicas = run
        .stdout
        .lines()
        .find(|l| l.ends_with("replicas: 4"))
        .unwrap();
    assert!(
        replicas.starts_with(&format!("{} (Ada Example 2026-01-02)", &second[..7])),
        "{run}"
    );
    assert!(!run.stdout.contains('\x1b'), "no colour in a pipe\n{run}");
    let run = offline(&repo, &["blame", "deploy/web", "-o", "porcelain"], &env).code_is(0);
    let records = porcelain(&run);
    let want = git_blame(&repo, "HEAD", "env/web.yaml", 1, records.len());
    let got: Vec<&str> = records.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(got, want, "{run}");
    assert!(records.iter().all(|r| r.len() == 9 && r[1] == "-"), "{run}");
}

#[test]
fn errors_name_the_resource_and_the_next_step() {
    let mut repo = EnvRepo::new();
    let first = repo.commit("cm", &[("cm.yaml", &config_map("prod", "info"))]);
    repo.commit("web", &[("web.yaml", &deployment("prod", 2, "1.27"))]);
    let run = offline(&repo, &["blame", "cm/nope"], &[]).code_is(2);
    assert!(run.stderr.contains("cm/nope is not in git at"), "{run}");
    // The Deployment exists at HEAD, not at the revision asked for.
    offline(&repo, &["blame", "deploy/web"], &[]).code_is(0);
    let run = offline(&repo, &["--rev", "HEAD~1", "blame", "deploy/web"], &[]).code_is(2);
    assert!(
        run.stderr
            .contains(&format!("deploy/web is not in git at {first}")),
        "{run}"
    );
    let run = offline(&repo, &["blame", "frobnicators/x"], &[]).code_is(2);
    assert!(run.stderr.contains("\"frobnicators\""), "{run}");
    let run = offline(&repo, &["blame", "configmaps"], &[]).code_is(2);
    assert!(run.stderr.contains("TYPE/NAME"), "{run}");
    // Without --offline and no reachable cluster: exit 2, with the way out.
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let out = Command::new(gitops_binary())
        .arg("-C")
        .arg(repo.dir())
        .args(["blame", "cm/settings"])
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1:1") && stderr.contains("--offline"),
        "{stderr}"
    );
}

/// The entry of the live object's managedFields that owns `spec.replicas`.
fn replicas_owner(live: &Value) -> (String, String) {
    let owners: Vec<&Value> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fieldsV1"]["f:spec"]["f:replicas"].is_object())
        .collect();
    assert_eq!(owners.len(), 1, "one owner of spec.replicas: {owners:?}");
    (
        owners[0]["manager"].as_str().unwrap().to_owned(),
        owners[0]["operation"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn drift_marks_and_live_attribution_after_scale_and_patch() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    let with_label = deployment(&ns, 2, "1.27").replace(
        "metadata:\n  name: web\n",
        "metadata:\n  name: web\n  labels:\n    team: blue\n",
    );
    let first = repo.commit("web", &[("web.yaml", &with_label)]);
    cluster.apply(&with_label).success();
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success();
    cluster
        .kubectl(&[
            "patch",
            "deployment/web",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/labels/team"}]"#,
        ])
        .success();
    let live = cluster.get_json(&["deployment/web", "--show-managed-fields"]);
    let (manager, operation) = replicas_owner(&live);
    let gitops = Gitops::new(&cluster, &repo);

    let run = gitops
        .run(&["blame", "deploy/web", "-o", "json"])
        .code_is(0);
    let doc = run.json();
    let line = |text: &str| -> Value {
        doc["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["text"] == text)
            .unwrap_or_else(|| panic!("no line {text:?}\n{run}"))
            .clone()
    };
    assert_eq!(doc["kind"], "Blame");
    assert_eq!(doc["resource"]["namespace"], ns.as_str());
    let replicas = line("  replicas: 2");
    assert_eq!(replicas["drift"], "changed", "{run}");
    assert_eq!(replicas["live"]["value"], "5", "{run}");
    assert_eq!(replicas["live"]["manager"], manager.as_str(), "{run}");
    assert_eq!(replicas["live"]["operation"], operation.as_str(), "{run}");
    assert_eq!(replicas["commit"]["id"], first.as_str());
    assert_eq!(line("    team: blue")["drift"], "missing", "{run}");
    assert_eq!(line("        image: nginx:1.27")["drift"], "same", "{run}");

    let text = gitops.run(&["blame", "deploy/web"]).code_is(0);
    let scaled = text
        .stdout
        .lines()
        .find(|l| l.contains("replicas: 2"))
        .unwrap();
    assert!(
        scaled.contains(" ~   replicas: 2  # live: 5 (") && scaled.contains(&manager),
        "{text}"
    );
    let team = text
        .stdout
        .lines()
        .find(|l| l.contains("team: blue"))
        .unwrap();
    assert!(team.contains(" -     team: blue"), "{text}");

    let run = gitops
        .run(&["blame", "deploy/web", "--live", "-o", "json"])
        .code_is(0);
    let doc = run.json();
    let lines = doc["lines"].as_array().unwrap();
    let find = |text: &str| {
        lines
            .iter()
            .find(|l| l["text"] == text)
            .unwrap_or_else(|| panic!("no {text:?}\n{run}"))
    };
    let replicas = find("  replicas: 5");
    assert_eq!(replicas["live"]["manager"], manager.as_str(), "{run}");
    assert!(replicas["commit"].is_null(), "{run}");
    assert_eq!(replicas["drift"], "changed");
    let image = find("        image: nginx:1.27");
    assert_eq!(
        image["commit"]["id"],
        first.as_str(),
        "git's value: our commit\n{run}"
    );
    assert_eq!(image["drift"], "same");
    let defaults: Vec<&Value> = lines
        .iter()
        .filter(|l| l["live"]["manager"] == "server default")
        .collect();
    assert!(!defaults.is_empty(), "defaulted fields\n{run}");
    assert!(defaults.iter().all(|l| l["drift"] == "liveOnly"), "{run}");
    for defaulted in [
        "  progressDeadlineSeconds: 600",
        "        terminationMessagePolicy: File",
    ] {
        assert_eq!(
            find(defaulted)["live"]["manager"],
            "server default",
            "{run}"
        );
    }
}

#[test]
fn secret_values_are_masked_in_every_format() {
    let cluster = TestCluster::start();
    let repo = drifted_secret(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    for args in [
        vec!["blame", "secret/creds"],
        vec!["blame", "secret/creds", "-o", "porcelain"],
        vec!["blame", "secret/creds", "-o", "json"],
        vec!["blame", "secret/creds", "-o", "yaml"],
        vec!["blame", "secret/creds", "--live"],
        vec!["blame", "secret/creds", "--live", "-o", "json"],
    ] {
        let run = gitops.run(&args).code_is(0);
        assert_no_secret(&run, &args.join(" "));
        assert!(run.stdout.contains("++++++++"), "masked value shown\n{run}");
    }
    let run = gitops
        .run(&["blame", "secret/creds", "-o", "json"])
        .code_is(0);
    let doc = run.json();
    let password = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["text"]
                .as_str()
                .unwrap()
                .trim_start()
                .starts_with("password:")
        })
        .unwrap();
    assert_eq!(password["drift"], "changed", "{run}");
    let shown = password["text"].as_str().unwrap();
    let live = password["live"]["value"].as_str().unwrap();
    let git_mask = shown.rsplit(' ').next().unwrap();
    assert!(
        git_mask.starts_with("++++++++") && live.starts_with("++++++++"),
        "{run}"
    );
    assert_ne!(git_mask, live, "distinct values get distinct masks");
    assert!(!SECRET_VALUES.iter().any(|v| run.stdout.contains(v)));
}

#[test]
fn offline_kustomize_overlay_is_blamed_on_its_rendered_output() {
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "unit",
        &[
            (
                "env/kustomization.yaml",
                "resources:\n- web.yaml\nimages:\n- name: nginx\n  newTag: \"1.28\"\n",
            ),
            ("env/web.yaml", &deployment("prod", 2, "1.27")),
        ],
    );
    let scaled = repo.commit("scale", &[("env/web.yaml", &deployment("prod", 3, "1.27"))]);
    let retag = repo.commit(
        "retag",
        &[(
            "env/kustomization.yaml",
            "resources:\n- web.yaml\nimages:\n- name: nginx\n  newTag: \"1.29\"\n",
        )],
    );
    let kubectl = find_kubectl();
    let env = [("KUBECTL_PATH", kubectl.to_str().unwrap())];
    let run = offline(&repo, &["blame", "deploy/web", "-o", "json"], &env).code_is(0);
    let doc = run.json();
    assert_eq!(doc["rendered"], true, "{run}");
    assert_eq!(doc["source"]["file"], "env/web.yaml", "{run}");
    let commit_of = |needle: &str| -> String {
        doc["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["text"].as_str().unwrap().trim().trim_start_matches("- ") == needle)
            .unwrap_or_else(|| panic!("no {needle:?}\n{run}"))["commit"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(commit_of("image: nginx:1.29"), retag, "{run}");
    assert_eq!(commit_of("replicas: 3"), scaled, "{run}");
    assert_eq!(commit_of("kind: Deployment"), first, "{run}");
}

/// An overlay whose base lies outside `--path`: a commit that changes only the base changes
/// what the overlay renders, so its lines are that commit's, not an older one's.
#[test]
fn offline_overlay_lines_changed_by_a_base_outside_the_path_are_the_bases_commit() {
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "unit",
        &[
            ("base/kustomization.yaml", "resources:\n- web.yaml\n"),
            ("base/web.yaml", &deployment("prod", 2, "1.27")),
            (
                "envs/prod/kustomization.yaml",
                "resources:\n- ../../base\ncommonLabels:\n  env: prod\n",
            ),
        ],
    );
    let base_change = repo.commit(
        "scale the base",
        &[("base/web.yaml", &deployment("prod", 3, "1.27"))],
    );
    let overlay_change = repo.commit(
        "relabel",
        &[(
            "envs/prod/kustomization.yaml",
            "resources:\n- ../../base\ncommonLabels:\n  env: production\n",
        )],
    );
    let kubectl = find_kubectl();
    let env = [("KUBECTL_PATH", kubectl.to_str().unwrap())];
    let run = offline(
        &repo,
        &["--path", "envs/prod", "blame", "deploy/web", "-o", "json"],
        &env,
    )
    .code_is(0);
    let doc = run.json();
    assert_eq!(doc["rendered"], true, "{run}");
    let commit_of = |needle: &str| -> String {
        doc["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["text"].as_str().unwrap().trim() == needle)
            .unwrap_or_else(|| panic!("no {needle:?}\n{run}"))["commit"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(commit_of("replicas: 3"), base_change, "{run}");
    assert_eq!(commit_of("env: production"), overlay_change, "{run}");
    assert_eq!(commit_of("kind: Deployment"), first, "{run}");
}

#[test]
fn offline_the_namespace_comes_from_the_kubeconfig_context_without_a_request() {
    // A manifest that sets no namespace, and a kubeconfig whose context says `team-a` for a
    // server nobody listens on: --offline reads the file and never calls the server.
    let mut repo = EnvRepo::new();
    repo.commit(
        "settings",
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LOG_LEVEL: info\n",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: team\n\
         clusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:9\n\
         contexts:\n- name: team\n  context:\n    cluster: nowhere\n    user: me\n    namespace: team-a\n\
         - name: other\n  context:\n    cluster: nowhere\n    user: me\n\
         users:\n- name: me\n  user:\n    token: not-used\n",
    )
    .unwrap();
    let env = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    let run = offline(&repo, &["blame", "cm/settings", "-o", "json"], &env).code_is(0);
    assert_eq!(run.json()["resource"]["namespace"], "team-a", "{run}");
    let run = offline(&repo, &["history", "-o", "json"], &env).code_is(0);
    assert_eq!(
        run.json()["commits"][0]["changes"][0]["namespace"],
        "team-a",
        "{run}"
    );
    // -n and --context still decide; a context without a namespace means `default`.
    let run = offline(
        &repo,
        &["-n", "ops", "blame", "cm/settings", "-o", "json"],
        &env,
    )
    .code_is(0);
    assert_eq!(run.json()["resource"]["namespace"], "ops", "{run}");
    let run = offline(
        &repo,
        &["--context", "other", "blame", "cm/settings", "-o", "json"],
        &env,
    )
    .code_is(0);
    assert_eq!(run.json()["resource"]["namespace"], "default", "{run}");
    // No kubeconfig at all: `default`, no error.
    let run = offline(&repo, &["blame", "cm/settings", "-o", "json"], &[]).code_is(0);
    assert_eq!(run.json()["resource"]["namespace"], "default", "{run}");
}

/// A commit's blame and render never change, so `blame` keeps them in the repository
/// (`.git/kubectl-gitops`): a second run reads them and says exactly what the first said,
/// render errors of other files included; removing what was kept changes nothing either.
#[test]
fn a_second_blame_says_what_the_first_said() {
    let mut repo = EnvRepo::new();
    repo.commit(
        "both",
        &[
            ("web.yaml", &deployment("prod", 2, "1.27")),
            ("cm.yaml", &config_map("prod", "info")),
        ],
    );
    repo.commit(
        "edit and break",
        &[
            ("web.yaml", &deployment("prod", 3, "1.28")),
            ("broken.yaml", "kind: [\n"),
        ],
    );
    let kept = repo.dir().join(".git/kubectl-gitops");
    let mut runs = Vec::new();
    for round in ["first", "kept", "removed"] {
        if round == "removed" {
            std::fs::remove_dir_all(&kept).unwrap();
        }
        let run = offline(&repo, &["blame", "deploy/web", "-o", "porcelain"], &[]).code_is(2);
        assert!(run.stderr.contains("broken.yaml"), "{round}: {run}");
        assert!(kept.join("blame-v1").is_dir(), "{round}");
        assert!(kept.join("render-index-v1").is_dir(), "{round}");
        runs.push((run.stdout.clone(), run.stderr.clone()));
        let run = offline(&repo, &["blame", "deploy/nope"], &[]).code_is(2);
        assert!(
            run.stderr.contains("deploy/nope is not in git at"),
            "{round}: {run}"
        );
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    let run = offline(&repo, &["blame", "deploy/web", "-o", "json"], &[]).code_is(2);
    let (ours, git) = blame_commits_and_git(&repo, "HEAD", &run.json());
    assert!(!ours.is_empty());
    assert_eq!(ours, git, "{run}");
}
