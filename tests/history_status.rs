//! `status`'s `matchesRevision` (SPEC §7): the newest commit in a resource's history whose
//! version the live object satisfies, for objects applied by another tool (kubectl).

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, commit_one_replica, config_map, deployment};
use common::TestCluster;
use serde_json::Value;

fn matches(gitops: &Gitops<'_>, kind: &str) -> Value {
    let doc = gitops.run(&["status", "-o", "json"]).json();
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}: {doc}"))["matchesRevision"]
        .clone()
}

#[test]
fn matches_revision_names_the_commit_live_was_applied_from() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    let first = commit_one_replica(&mut repo, &ns);
    let second = repo.commit("two replicas", &[("web.yaml", &deployment(&ns, 2, "1.27"))]);
    repo.commit("new image", &[("web.yaml", &deployment(&ns, 2, "1.28"))]);
    // Applied from the second commit by kubectl, not by us.
    cluster.apply(&deployment(&ns, 2, "1.27")).success();
    cluster.apply(&config_map(&ns, "info")).success();
    let gitops = Gitops::new(&cluster, &repo);
    assert_eq!(matches(&gitops, "Deployment"), second.as_str());
    // Synced: the commit that introduced the head's version.
    assert_eq!(matches(&gitops, "ConfigMap"), first.as_str());
    // Scaled back by hand to the first commit's replicas.
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=1"])
        .success();
    assert_eq!(matches(&gitops, "Deployment"), first.as_str());
    // A value no commit ever had: no match.
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=7"])
        .success();
    assert_eq!(matches(&gitops, "Deployment"), Value::Null);
}
