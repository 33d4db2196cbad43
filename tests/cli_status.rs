//! `kubectl gitops status` end to end: a git environment applied with the real kubectl to the
//! test cluster, then drifted by hand (SPEC §5).

mod cli_env;
mod common;

use cli_env::{
    EnvRepo, Gitops, apply_settings_and_web, assert_no_secret, commit_extra_config_map, config_map,
    deployment, drifted_secret, has_escapes, settings_only,
};
use common::TestCluster;

/// A cluster with the repo's HEAD applied by kubectl: Deployment `web` and ConfigMap `settings`.
fn synced() -> (TestCluster, EnvRepo) {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit("settings", &[("settings.yaml", &config_map(&ns, "info"))]);
    repo.commit("web", &[("web.yaml", &deployment(&ns, 2, "1.27"))]);
    apply_settings_and_web(&cluster);
    (cluster, repo)
}

#[test]
fn synced_environment_exits_0_with_table_and_summary() {
    let (cluster, repo) = synced();
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["status"]).code_is(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "STATUS",
            "KIND",
            "NAMESPACE",
            "NAME",
            "DRIFT",
            "COMMIT",
            "AGE"
        ],
        "{run}"
    );
    assert_eq!(lines.len(), 3, "{run}");
    let head = repo.head();
    let first = repo.git(&["rev-parse", "HEAD~1"]);
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], "Synced", "{run}");
        assert_eq!(cells[2], cluster.namespace());
        assert_eq!(cells[4], "0");
        // COMMIT: the last commit that changed the resource; AGE: how old it is.
        let changed_by = if cells[3] == "web" { &head } else { &first };
        assert_eq!(cells[5], &changed_by[..7], "{run}");
        assert!(
            cells[6].ends_with('d'),
            "age of a commit from January: {run}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Deployment.apps") && l.contains(" web ")),
        "{run}"
    );
    let summary = format!(
        "2 resources: 2 Synced at {} (., {})",
        &head[..7],
        gitops.context()
    );
    assert!(
        run.stderr.lines().any(|l| l == summary),
        "want {summary:?}\n{run}"
    );
    assert!(
        !has_escapes(&run.stdout) && !has_escapes(&run.stderr),
        "colour in a pipe\n{run}"
    );
}

#[test]
fn drift_exits_1_and_counts_fields() {
    let (cluster, repo) = synced();
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success();
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["status"]).code_is(1);
    let web = run
        .stdout
        .lines()
        .find(|l| l.contains("Deployment.apps"))
        .unwrap_or_else(|| panic!("no Deployment row\n{run}"));
    let cells: Vec<&str> = web.split_whitespace().collect();
    assert_eq!((cells[0], cells[4]), ("Drifted", "1"), "{run}");
    assert!(run.stderr.contains("1 Synced, 1 Drifted"), "{run}");

    let json = gitops.run(&["status", "-o", "json"]).code_is(1).json();
    assert_eq!(json["apiVersion"], "kubectl-gitops/v1");
    assert_eq!(json["kind"], "Status");
    assert_eq!(json["revision"]["id"], repo.head());
    assert_eq!(json["revision"]["author"], "Ada Example");
    assert_eq!(json["path"], "");
    assert_eq!(json["context"], gitops.context());
    assert_eq!(json["summary"]["Drifted"], 1);
    assert_eq!(json["summary"]["Synced"], 1);
    let resources = json["resources"].as_array().unwrap();
    let web = resources
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .unwrap();
    assert_eq!(web["apiVersion"], "apps/v1");
    assert_eq!(web["namespace"], cluster.namespace());
    assert_eq!(web["name"], "web");
    assert_eq!(web["status"], "Drifted");
    assert_eq!(web["fields"], serde_json::json!(["spec.replicas"]));
    assert_eq!(web["source"]["file"], "web.yaml");
    assert_eq!(web["source"]["document"], 0);
    assert_eq!(web["source"]["line"], 1);
    for key in [
        "lastCommit",
        "liveRevision",
        "matchesRevision",
        "owner",
        "error",
    ] {
        assert!(web.get(key).is_some(), "{key} missing: {web}");
    }
    assert!(web["error"].is_null());
}

#[test]
fn yaml_matches_json_and_porcelain_is_one_line_per_resource() {
    let (cluster, repo) = synced();
    let gitops = Gitops::new(&cluster, &repo);
    let json = gitops.run(&["status", "-o", "json"]).code_is(0).json();
    let yaml = gitops.run(&["status", "-o", "yaml"]).code_is(0);
    let parsed: serde_json::Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(parsed["kind"], "Status");
    assert_eq!(parsed["resources"], json["resources"]);
    let porcelain = gitops.run(&["status", "-o", "porcelain"]).code_is(0);
    let ns = cluster.namespace();
    let mut ids: Vec<String> = porcelain
        .stdout
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("Synced apps/Deployment/{ns}/web"),
            format!("Synced core/ConfigMap/{ns}/settings")
        ]
    );
}

#[test]
fn wide_adds_source_live_revision_and_owner() {
    let (cluster, repo) = synced();
    let run = Gitops::new(&cluster, &repo)
        .run(&["status", "-o", "wide"])
        .code_is(0);
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header[7..], ["SOURCE", "LIVE-REV", "OWNER"], "{run}");
    assert!(run.stdout.contains("web.yaml#0:1"), "{run}");
    // Applied by kubectl: no controller, no ApplySet, no owner.
    for line in run.stdout.lines().skip(1) {
        assert!(line.ends_with(" -"), "{run}");
    }
}

#[test]
fn resource_filter_and_missing() {
    let (cluster, mut repo) = synced();
    let ns = cluster.namespace().to_owned();
    commit_extra_config_map(&mut repo, &ns);
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["status", "cm/extra"]).code_is(1);
    let rows: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{run}");
    assert!(
        rows[0].starts_with("Missing") && rows[0].contains("extra"),
        "{run}"
    );
    gitops.run(&["status", "deploy/web"]).code_is(0);
}

#[test]
fn unparsable_file_exits_2_and_names_it() {
    let (cluster, mut repo) = synced();
    repo.commit(
        "broken",
        &[("broken.yaml", "kind: ConfigMap\nmetadata: [unclosed\n")],
    );
    let run = Gitops::new(&cluster, &repo).run(&["status"]).code_is(2);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains("broken.yaml")),
        "{run}"
    );
    // The rest of the environment is still evaluated.
    assert!(run.stdout.contains("Synced"), "{run}");
}

#[test]
fn unreachable_cluster_exits_2_with_next_step() {
    let cluster = TestCluster::start();
    let repo = settings_only(&cluster);
    let dead = cluster.scratch().join("dead.kubeconfig");
    std::fs::write(
        &dead,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:9\n    insecure-skip-tls-verify: true\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: dead\nusers:\n- name: dead\n  user:\n    token: x\ncurrent-context: dead\n",
    )
    .unwrap();
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run_env(&["status"], &[("KUBECONFIG", dead.to_str().unwrap())])
        .code_is(2);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line\n{run}"));
    assert!(
        error.contains("https://127.0.0.1:9"),
        "names the server\n{run}"
    );
    assert!(error.contains("--kubeconfig"), "says what to do\n{run}");
    assert!(run.stdout.is_empty(), "{run}");
}

#[test]
fn offline_is_refused() {
    let cluster = TestCluster::start();
    let repo = settings_only(&cluster);
    let run = Gitops::new(&cluster, &repo)
        .run(&["status", "--offline"])
        .code_is(2);
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("--offline"),
        "{run}"
    );
}

#[test]
fn colour_in_a_pipe_only_when_forced() {
    let (cluster, repo) = synced();
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=3"])
        .success();
    let gitops = Gitops::new(&cluster, &repo);
    let forced = gitops.run(&["status", "--color", "always"]).code_is(1);
    assert!(forced.stdout.contains("\x1b[33mDrifted\x1b[0m"), "{forced}");
    let piped = gitops.run(&["status"]).code_is(1);
    assert!(!has_escapes(&piped.stdout), "{piped}");
    let never = gitops.run(&["status", "--color", "never"]).code_is(1);
    assert!(!has_escapes(&never.stdout));
    let no_color = gitops.run_env(&["status"], &[("NO_COLOR", "1")]).code_is(1);
    assert!(!has_escapes(&no_color.stdout));
}

#[test]
fn secret_values_never_printed() {
    let cluster = TestCluster::start();
    let repo = drifted_secret(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    for format in ["text", "wide", "json", "yaml", "porcelain"] {
        let run = gitops.run(&["status", "-o", format]).code_is(1);
        assert_no_secret(&run, &format!("-o {format}"));
        if format == "json" {
            assert_eq!(
                run.json()["resources"][0]["fields"],
                serde_json::json!(["data.password"])
            );
        }
    }
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let (cluster, repo) = synced();
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=3"])
        .success();
    let gitops = Gitops::new(&cluster, &repo);
    let Some(tty) = gitops.run_in_terminal(&["status"], &[]) else {
        eprintln!("note: util-linux `script` is not installed; terminal colour not checked");
        return;
    };
    assert!(tty.stdout.contains("\x1b[33mDrifted\x1b[0m"), "{tty}");
    let tty = gitops
        .run_in_terminal(&["status"], &[("NO_COLOR", "1")])
        .unwrap();
    assert!(tty.stdout.contains("Drifted"), "{tty}");
    assert!(!has_escapes(&tty.stdout), "{tty}");
}

#[test]
fn older_revision_is_evaluated() {
    let (cluster, mut repo) = synced();
    let ns = cluster.namespace().to_owned();
    repo.commit("scale web", &[("web.yaml", &deployment(&ns, 4, "1.27"))]);
    let gitops = Gitops::new(&cluster, &repo);
    // HEAD wants 4 replicas; HEAD~1 is what kubectl applied.
    let head = gitops.run(&["status", "-o", "json"]).code_is(1).json();
    assert_eq!(head["summary"]["Drifted"], 1);
    let older = gitops
        .run(&["status", "--rev", "HEAD~1", "-o", "json"])
        .code_is(0)
        .json();
    assert_eq!(
        older["revision"]["id"],
        repo.git(&["rev-parse", "HEAD~1"]).trim()
    );
    assert_eq!(older["summary"]["Synced"], 2);
}

#[test]
fn kind_the_cluster_does_not_serve_is_unknown_and_exits_2() {
    let (cluster, mut repo) = synced();
    let ns = cluster.namespace().to_owned();
    repo.commit(
        "widget",
        &[(
            "widget.yaml",
            &format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: {ns}\n"),
        )],
    );
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["status"]).code_is(2);
    let widget = run
        .stdout
        .lines()
        .find(|l| l.contains("Widget.example.com"))
        .unwrap_or_else(|| panic!("no Widget row\n{run}"));
    assert!(widget.starts_with("Unknown"), "{run}");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with(&format!("error: example.com/Widget/{ns}/w: "))),
        "{run}"
    );
    let json = gitops.run(&["status", "-o", "json"]).code_is(2).json();
    let widget = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Widget")
        .unwrap();
    assert_eq!(widget["status"], "Unknown");
    assert!(widget["error"].is_string(), "{widget}");
    // diff says the same with the same exit code, and prints no diff for it.
    let diff = gitops.run(&["diff"]).code_is(2);
    assert!(!diff.stdout.contains("Widget"), "{diff}");
}

/// A second sandbox that answers every request after `latency_ms`, killed on drop.
struct SlowSandbox {
    child: std::process::Child,
    kubeconfig: std::path::PathBuf,
}

impl SlowSandbox {
    fn start(dir: &std::path::Path, latency_ms: u32) -> SlowSandbox {
        use std::io::BufRead;
        let kubeconfig = dir.join("slow.kubeconfig");
        let mut child = std::process::Command::new(common::gitops_binary())
            .args([
                "sandbox",
                "--port",
                "0",
                "--latency",
                &latency_ms.to_string(),
            ])
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready "), "sandbox said {line:?}");
        SlowSandbox { child, kubeconfig }
    }
}

impl Drop for SlowSandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn progress_shows_on_a_slow_terminal_only() {
    let cluster = TestCluster::start();
    let mut repo = EnvRepo::new();
    repo.commit(
        "settings",
        &[("settings.yaml", &config_map("default", "info"))],
    );
    let slow = SlowSandbox::start(cluster.scratch(), 200);
    let kubeconfig = slow.kubeconfig.to_str().unwrap();
    let gitops = Gitops::new(&cluster, &repo);
    let env = [("KUBECONFIG", kubeconfig)];
    let Some(tty) = gitops.run_in_terminal(&["status"], &env) else {
        eprintln!("note: util-linux `script` is not installed; the spinner not checked");
        return;
    };
    assert!(tty.stdout.contains(" evaluating . at HEAD"), "{tty}");
    // The spinner's line is cleared before the table.
    assert!(tty.stdout.contains("\x1b[2KSTATUS"), "{tty:?}");
    let piped = gitops.run_env(&["status"], &env).code_is(1);
    assert!(!piped.stderr.contains("evaluating"), "{piped}");
    assert!(!has_escapes(&piped.stderr), "{piped}");
}

#[test]
fn client_strategy_makes_no_dry_run_and_says_so() {
    let (cluster, repo) = synced();
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success();
    let gitops = Gitops::new(&cluster, &repo);
    let json = gitops
        .run(&["status", "--diff-strategy", "client", "-o", "json"])
        .code_is(1)
        .json();
    let web = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .unwrap();
    assert_eq!(web["strategy"], "client");
    assert_eq!(web["fields"], serde_json::json!(["spec.replicas"]));
    let run = gitops
        .run(&["status", "--diff-strategy", "nope"])
        .code_is(2);
    assert!(run.stderr.contains("--diff-strategy"), "{run}");
}
