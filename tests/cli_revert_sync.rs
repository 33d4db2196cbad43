//! `kubectl gitops revert --sync`: the revert commit is made, then synced to the cluster with
//! the same rules as `sync` (SPEC §6).

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, config_map};
use common::TestCluster;

/// The identity git config would give; the sealed runner clears the environment.
const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Ada Example"),
    ("GIT_AUTHOR_EMAIL", "ada@example.com"),
    ("GIT_COMMITTER_NAME", "Ada Example"),
    ("GIT_COMMITTER_EMAIL", "ada@example.com"),
];

/// A repo whose HEAD turned on debug logs, and a cluster running that HEAD; returns the bad
/// commit.
fn debug_logs_live() -> (TestCluster, EnvRepo, String) {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit("settings", &[("settings.yaml", &config_map(&ns, "info"))]);
    let bad = repo.commit(
        "debug logs",
        &[("settings.yaml", &config_map(&ns, "debug"))],
    );
    cluster.apply(&config_map(&ns, "debug")).success();
    (cluster, repo, bad)
}

#[test]
fn revert_sync_applies_the_new_head() {
    let (cluster, repo, bad) = debug_logs_live();
    let gitops = Gitops::new(&cluster, &repo);

    let run = gitops
        .run_env(&["revert", &bad, "--sync", "--yes"], &IDENTITY)
        .code_is(0);
    let head = repo.head();
    assert_ne!(head, bad, "no revert commit\n{run}");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), bad);
    assert!(
        run.stdout.contains(&format!(
            "Reverted {} \"debug logs\" as {}; run `git push` to publish it.",
            &bad[..7],
            &head[..7]
        )),
        "{run}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    let live = cluster.get_json(&["configmap", "settings"]);
    assert_eq!(live["data"]["LOG_LEVEL"], "info", "{run}");
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        head.as_str(),
        "synced the new HEAD\n{run}"
    );
    // The sync was of the revert commit: a status at HEAD is in sync.
    gitops.run(&["status"]).code_is(0);
}

#[test]
fn revert_sync_without_yes_off_a_terminal_commits_but_writes_nothing_live() {
    let (cluster, repo, bad) = debug_logs_live();
    let gitops = Gitops::new(&cluster, &repo);

    let run = gitops
        .run_env(&["revert", &bad, "--sync"], &IDENTITY)
        .code_is(2);
    // The revert is in git (it never needs the cluster); the sync refused without --yes.
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), bad, "{run}");
    assert!(run.stderr.contains("--yes"), "{run}");
    let live = cluster.get_json(&["configmap", "settings"]);
    assert_eq!(live["data"]["LOG_LEVEL"], "debug", "{run}");
}
