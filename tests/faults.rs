//! Faults (issue #7, SPEC §10's fault injection): with 15% of requests answered 500, 10% 429
//! with `Retry-After`, added latency and watches dropped, the commands still finish with the
//! same answers as on a healthy server; a sandbox killed midway loses nothing.
//!
//! These tests drive their own sandbox processes (fault flags, `--state` across restarts), so
//! they run against the sandbox even when the rest of the suite targets a real cluster.

mod cli_env;
mod common;
mod fault_sandbox;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cli_env::EnvRepo;
use fault_sandbox::{FAULTS, NS, Sandbox, prepared, rows};
#[test]
fn status_over_320_resources_survives_faults_with_the_same_answer() {
    let count = 320;
    // 300 live: 288 synced, 12 drifted; 20 missing.
    let (dir, repo, healthy) = prepared(count, 300, 25);
    let baseline = healthy.gitops(&repo, &["status", "-o", "json"]);
    assert_eq!(baseline.code, 1, "{baseline}");
    let expected = rows(&baseline);
    let count_of = |rows: &[(String, String, String, String)], state: &str| {
        rows.iter().filter(|r| r.2 == state).count()
    };
    assert_eq!(
        (
            expected.len(),
            count_of(&expected, "Synced"),
            count_of(&expected, "Drifted"),
            count_of(&expected, "Missing")
        ),
        (count, 288, 12, 20),
        "{baseline}"
    );
    healthy.stop();

    let faulty = Sandbox::start(dir.path(), &FAULTS);
    let mut retry_log = String::new();
    // The faults are random per request and a status makes ~15 requests (discovery asks only
    // the groups it needs): at least two runs, more until both kinds of fault were met (each
    // run must give the same answer), so that the checks below rest on faults that happened.
    let met = |log: &str| {
        let retries = || log.lines().filter(|l| l.contains("retrying in"));
        retries().any(|l| l.contains("500") || l.contains("injected"))
            && retries().any(|l| {
                (l.contains("429") || l.contains("Too many")) && l.contains("retrying in 1s")
            })
    };
    for attempt in 1..=8 {
        let run = faulty.gitops(&repo, &["-vv", "status", "-o", "json"]);
        assert_eq!(run.code, 1, "attempt {attempt}\n{run}\n{}", faulty.log());
        assert_eq!(rows(&run), expected, "attempt {attempt}\n{}", run.stderr);
        retry_log.push_str(&run.stderr);
        if attempt >= 2 && met(&retry_log) {
            break;
        }
    }
    // The faults really happened and were retried; a 429's `Retry-After: 1` was honoured.
    let retries: Vec<&str> = retry_log
        .lines()
        .filter(|l| l.contains("retrying in"))
        .collect();
    assert!(
        retries
            .iter()
            .any(|l| l.contains("500") || l.contains("injected")),
        "no 500 retried:\n{retry_log}"
    );
    assert!(
        retries
            .iter()
            .any(|l| (l.contains("429") || l.contains("Too many")) && l.contains("retrying in 1s")),
        "no 429 retried after its Retry-After:\n{}",
        retries.join("\n")
    );
    let text = faulty.gitops(&repo, &["status"]);
    assert_eq!(text.code, 1, "{text}");
    assert!(
        text.stderr.contains("288 Synced, 12 Drifted, 20 Missing"),
        "{text}"
    );
}

/// Names of the ConfigMaps in [`NS`] with their `value`, and how many there are of each name.
fn live_config_maps(sandbox: &Sandbox) -> Vec<(String, String)> {
    let list: serde_json::Value = serde_json::from_str(
        &sandbox.kubectl(&["get", "configmaps", "-n", NS, "-o", "json"], None),
    )
    .unwrap();
    let mut out: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                item["data"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The ConfigMaps sync must leave: every `cm-NNN` with git's value (plus what else is there).
fn assert_all_synced(sandbox: &Sandbox, count: usize) {
    let live = live_config_maps(sandbox);
    let ours: Vec<_> = live.iter().filter(|(n, _)| n.starts_with("cm-")).collect();
    assert_eq!(ours.len(), count, "{live:?}");
    assert!(ours.iter().all(|(_, v)| v == "git"), "{live:?}");
    let mut names: Vec<_> = live.iter().map(|(n, _)| n.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), live.len(), "no duplicates: {live:?}");
}

#[test]
fn sync_of_320_resources_survives_faults() {
    let count = 320;
    // Creates, updates and no-ops in one sync: 100 live, 10 of them drifted.
    let (dir, repo, healthy) = prepared(count, 100, 10);
    healthy.stop();

    let faulty = Sandbox::start(dir.path(), &FAULTS);
    let run = faulty.gitops(&repo, &["-vv", "sync", "--yes", "-o", "json"]);
    assert_eq!(run.code, 0, "{run}\n{}", faulty.log());
    let report = run.json();
    let results: Vec<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap_or_default())
        .collect();
    let count_of = |what: &str| results.iter().filter(|r| **r == what).count();
    assert_eq!(
        (
            results.len(),
            count_of("created"),
            count_of("configured"),
            count_of("unchanged")
        ),
        // The 100 kubectl applied are all configured: 10 take git's value back, and every one
        // gains the tracking label and annotations (SPEC §6).
        (count, 220, 100, 0),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.lines().any(|l| l.contains("retrying in")),
        "the faults were retried\n{}",
        run.stderr
    );
    faulty.stop();

    let healthy = Sandbox::start(dir.path(), &[]);
    assert_all_synced(&healthy, count);
    let again = healthy.gitops(&repo, &["sync", "--yes", "-o", "json"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.json()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "unchanged"),
        "a second sync changes nothing\n{}",
        again.stdout
    );
}

#[test]
fn sync_interrupted_by_a_dead_server_finishes_on_rerun() {
    let count = 320;
    let (dir, repo, healthy) = prepared(count, 0, 1);
    healthy.stop();

    // Slow enough (200 ms a request, 4 at a time) to be killed midway.
    let slow = Sandbox::start(dir.path(), &["--latency", "200"]);
    let sync = slow
        .command(&repo, &["sync", "--yes", "--concurrency", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once some of the ConfigMaps were written, well before all were.
    let state = dir.path().join("state");
    let written = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|s| s.matches("\"cm-").count())
            .unwrap_or(0)
    };
    common::poll_until(Duration::from_secs(120), "30 ConfigMaps written", || {
        (written(&state) >= 30).then_some(())
    });
    slow.kill();
    let interrupted = sync.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("applied") || stderr.contains("not applied"),
        "the report says what was and was not applied\n{stderr}"
    );

    let restarted = Sandbox::start(dir.path(), &[]);
    let partial = live_config_maps(&restarted)
        .iter()
        .filter(|(n, _)| n.starts_with("cm-"))
        .count();
    assert!(
        partial > 0 && partial < count,
        "killed midway: {partial} of {count}"
    );
    let rerun = restarted.gitops(&repo, &["sync", "--yes", "-o", "json"]);
    assert_eq!(rerun.code, 0, "{rerun}");
    let results = rerun.json()["resources"].as_array().unwrap().clone();
    assert_eq!(results.len(), count, "{}", rerun.stdout);
    let created = results.iter().filter(|r| r["result"] == "created").count();
    assert_eq!(created, count - partial, "only what was missing is created");
    assert_all_synced(&restarted, count);
    let parents = restarted.kubectl(
        &[
            "get",
            "configmaps",
            "--all-namespaces",
            "-l",
            "applyset.kubernetes.io/id",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(parents.lines().count(), 1, "one ApplySet parent: {parents}");
}

/// SPEC §6: `--prune` deletes Orphaned members only: never an object without the part-of label,
/// never another ApplySet's member, never a member annotated `kubectl-gitops.io/prune: "false"`.
#[test]
fn prune_deletes_only_this_environments_members() {
    let cluster = common::TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let cm = |name: &str, extra_metadata: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n{extra_metadata}data:\n  a: \"1\"\n"
        )
    };
    let keep = "  annotations:\n    kubectl-gitops.io/prune: \"false\"\n";
    let mut repo = EnvRepo::new();
    repo.commit(
        "three",
        &[
            ("stays.yaml", &cm("stays", "")),
            ("goes.yaml", &cm("goes", "")),
            ("kept.yaml", &cm("kept", keep)),
        ],
    );
    let gitops = cli_env::Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    cluster.apply(&cm("bystander", "")).success();
    cluster
        .apply(&cm(
            "other-set",
            "  labels:\n    applyset.kubernetes.io/part-of: applyset-c29tZW9uZS1lbHNl-v1\n",
        ))
        .success();
    repo.git(&["rm", "-q", "goes.yaml", "kept.yaml"]);
    repo.commit("only stays", &[]);

    let before = cluster.get_json(&["configmaps"]);
    let dry = gitops.run(&["sync", "--prune", "--dry-run"]).code_is(1);
    assert_eq!(
        cluster.get_json(&["configmaps"]),
        before,
        "dry run wrote\n{dry}"
    );

    let run = gitops
        .run(&["sync", "--prune", "--yes", "-o", "json"])
        .code_is(0);
    let results: Vec<(String, String)> = run.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(results.contains(&("goes".into(), "pruned".into())), "{run}");
    assert!(results.contains(&("kept".into(), "kept".into())), "{run}");
    let mut names: Vec<String> = cluster.get_json(&["configmaps"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|n| !n.starts_with("kube-root-ca"))
        .collect();
    names.sort();
    assert_eq!(names, ["bystander", "kept", "other-set", "stays"], "{run}");
}

/// `sync --wait` under the fault mix: the health checks retry too, and the Deployments become
/// healthy (the sandbox's controller follows their spec).
#[test]
fn sync_wait_for_health_survives_faults() {
    let (dir, mut repo, healthy) = prepared(0, 0, 1);
    let deployments: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("apps/web-{i}.yaml"),
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  namespace: {NS}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web-{i}}}\n  template:\n    metadata:\n      labels: {{app: web-{i}}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
                ),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = deployments
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit("web", &files);
    healthy.stop();
    let faulty = Sandbox::start(dir.path(), &FAULTS);
    let run = faulty.gitops(
        &repo,
        &["sync", "--yes", "--wait", "--timeout", "2m", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{run}\n{}", faulty.log());
    let created = run.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "Deployment" && r["result"] == "created")
        .count();
    assert_eq!(created, 5, "{run}");
    faulty.stop();
    let healthy = Sandbox::start(dir.path(), &[]);
    let list: serde_json::Value = serde_json::from_str(
        &healthy.kubectl(&["get", "deployments", "-n", NS, "-o", "json"], None),
    )
    .unwrap();
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["status"]["availableReplicas"], 2, "{item}");
    }
}
