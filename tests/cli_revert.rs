//! `kubectl gitops revert` end to end against real repos, with `git revert` on a second clone
//! as the oracle; refusals must leave the repository byte-identical.

mod revert_git;

use revert_git::{Repo, Sandbox, assert_same};

/// A history of three commits: settings, web, then a change to settings.
fn history(sandbox: &Sandbox) -> Repo {
    let repo = sandbox.init("origin");
    repo.write("settings.yaml", "a: 1\nb: 1\nc: 1\nd: 1\ne: 1\n");
    repo.commit("settings");
    repo.write("apps/web.yaml", "image: nginx:1\nreplicas: 2\n");
    repo.commit("web");
    repo.write("settings.yaml", "a: 1\nb: 2\nc: 1\nd: 1\ne: 1\n");
    repo.commit("settings: b is 2");
    repo
}

/// Reverts `rev` with git in one clone and with us in another; asserts equal commits.
fn assert_like_git(
    sandbox: &Sandbox,
    origin: &Repo,
    rev: &str,
    extra: &[&str],
    name: &str,
) -> Repo {
    let ours = sandbox.clone_of(origin, &format!("{name}-ours"));
    let theirs = sandbox.clone_of(origin, &format!("{name}-git"));
    let mut git_args = vec!["revert", "--no-edit"];
    git_args.extend_from_slice(extra);
    git_args.push(rev);
    theirs.git(&git_args);
    let mut args = vec!["revert"];
    args.extend_from_slice(extra);
    args.push(rev);
    let run = ours.gitops(&args);
    assert_eq!(run.code, 0, "{run}");
    // Same tree, message, parents, identity and dates: the very same commit id.
    assert_eq!(
        ours.git(&["cat-file", "-p", "HEAD"]),
        theirs.git(&["cat-file", "-p", "HEAD"])
    );
    assert_eq!(ours.rev("HEAD"), theirs.rev("HEAD"));
    assert_eq!(ours.porcelain(), "", "git status after our revert");
    ours
}

#[test]
fn revert_makes_the_commit_git_makes() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let before = origin.rev("HEAD");
    let ours = assert_like_git(&sandbox, &origin, "HEAD~1", &[], "web");
    assert!(!ours.dir().join("apps/web.yaml").exists());
    assert!(
        !ours.dir().join("apps").exists(),
        "empty directory left behind"
    );
    assert_eq!(ours.rev("HEAD~1"), before);
    let log = ours.git(&["reflog", "-1", "--format=%gs", "main"]);
    assert_eq!(log.trim(), "revert: Revert \"web\"");
    let head_log = ours.git(&["reflog", "-1", "--format=%gs", "HEAD"]);
    assert_eq!(head_log.trim(), "revert: Revert \"web\"");
}

#[test]
fn revert_prints_the_next_step_and_never_pushes() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    let target = ours.rev("HEAD");
    let run = ours.gitops(&["revert", "HEAD"]);
    assert_eq!(run.code, 0, "{run}");
    let new = ours.rev("HEAD");
    assert_eq!(
        run.stdout,
        format!(
            "Reverted {} \"settings: b is 2\" as {}; run `git push` to publish it.\n",
            &target[..7],
            &new[..7]
        )
    );
    // The remote's branch did not move.
    assert_eq!(ours.rev("origin/main"), target);
    assert_eq!(origin.rev("main"), target);
    assert_eq!(
        std::fs::read_to_string(ours.dir().join("settings.yaml")).unwrap(),
        "a: 1\nb: 1\nc: 1\nd: 1\ne: 1\n"
    );
}

#[test]
fn revert_json_names_both_commits_and_the_files() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    let target = ours.rev("HEAD~1");
    let run = ours.gitops(&["-o", "json", "revert", "HEAD~1"]);
    assert_eq!(run.code, 0, "{run}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
    assert_eq!(doc["kind"], "Revert");
    assert_eq!(doc["reverted"]["id"], target.as_str());
    assert_eq!(doc["reverted"]["summary"], "web");
    assert_eq!(doc["reverted"]["email"], "ada@example.com");
    assert_eq!(doc["commit"]["id"], ours.rev("HEAD").as_str());
    assert_eq!(doc["commit"]["summary"], "Revert \"web\"");
    assert_eq!(
        doc["files"],
        serde_json::json!([{"path": "apps/web.yaml", "change": "removed"}])
    );
}

#[test]
fn revert_of_a_merge_needs_mainline_and_then_matches_git() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    origin.git(&["checkout", "-q", "-b", "side", "HEAD~1"]);
    origin.write("apps/db.yaml", "image: postgres:16\n");
    origin.commit("db");
    origin.git(&["checkout", "-q", "main"]);
    origin.git(&["merge", "-q", "--no-edit", "side"]);

    let ours = sandbox.clone_of(&origin, "refused");
    let before = ours.snapshot();
    let run = ours.gitops(&["revert", "HEAD"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("use --mainline 1"), "{run}");
    assert!(run.stderr.contains(&ours.rev("HEAD")), "{run}");
    assert_same(&before, &ours.snapshot());

    let run = ours.gitops(&["revert", "--mainline", "3", "HEAD"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--mainline 3"), "{run}");
    assert_same(&before, &ours.snapshot());
    let run = ours.gitops(&["revert", "--mainline", "1", "HEAD~1"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("is not a merge"), "{run}");
    assert_same(&before, &ours.snapshot());

    let ours = assert_like_git(&sandbox, &origin, "HEAD", &["--mainline", "1"], "m1");
    assert!(!ours.dir().join("apps/db.yaml").exists());
    assert_like_git(&sandbox, &origin, "HEAD", &["--mainline", "2"], "m2");
}

#[test]
fn revert_of_the_root_commit_reverts_against_the_empty_tree() {
    let sandbox = Sandbox::new();
    let origin = sandbox.init("origin");
    origin.write("base.yaml", "x: 1\n");
    origin.commit("base");
    origin.write("other.yaml", "y: 1\n");
    origin.commit("other");
    let ours = assert_like_git(&sandbox, &origin, "HEAD~1", &[], "root");
    assert!(!ours.dir().join("base.yaml").exists());
    assert!(ours.dir().join("other.yaml").exists());
}

#[test]
fn modes_and_symlinks_are_restored() {
    let sandbox = Sandbox::new();
    let origin = sandbox.init("origin");
    origin.write("run.sh", "#!/bin/sh\necho hi\n");
    use std::os::unix::fs::PermissionsExt;
    let script = origin.dir().join("run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("run.sh", origin.dir().join("link")).unwrap();
    origin.commit("script and link");
    origin.git(&["rm", "-q", "run.sh", "link"]);
    origin.commit("drop them");
    assert_eq!(
        origin
            .git(&["ls-tree", "HEAD~1"])
            .lines()
            .map(|l| &l[..6])
            .collect::<Vec<_>>(),
        ["120000", "100755"]
    );
    let ours = assert_like_git(&sandbox, &origin, "HEAD", &[], "modes");
    let meta = std::fs::metadata(ours.dir().join("run.sh")).unwrap();
    assert_ne!(meta.permissions().mode() & 0o111, 0, "executable bit lost");
    assert_eq!(
        std::fs::read_link(ours.dir().join("link")).unwrap(),
        std::path::PathBuf::from("run.sh")
    );
}

#[test]
fn no_commit_stages_the_tree_git_stages() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    let theirs = sandbox.clone_of(&origin, "git");
    let head = ours.rev("HEAD");
    theirs.git(&["revert", "--no-commit", "HEAD~1"]);
    let run = ours.gitops(&["revert", "--no-commit", "HEAD~1"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("git commit"), "{run}");
    assert_eq!(ours.rev("HEAD"), head, "HEAD moved");
    assert_eq!(ours.git(&["write-tree"]), theirs.git(&["write-tree"]));
    assert_eq!(ours.porcelain(), theirs.porcelain());
    assert_eq!(ours.porcelain(), "D  apps/web.yaml\n");
    // `git commit` then records it with git's message.
    ours.git(&["commit", "-q", "--no-edit"]);
    theirs.git(&["commit", "-q", "--no-edit"]);
    assert_eq!(
        ours.git(&["log", "-1", "--format=%B"]),
        theirs.git(&["log", "-1", "--format=%B"])
    );
}

#[test]
fn message_flag_replaces_the_message() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    let run = ours.gitops(&["revert", "-m", "undo b", "HEAD"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(ours.git(&["log", "-1", "--format=%B"]), "undo b\n\n");
    assert_eq!(
        ours.git(&["log", "-1", "--format=%an <%ae>"]),
        "Ada Example <ada@example.com>\n"
    );
}

#[test]
fn identity_comes_from_git_config_and_env() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    ours.git(&["config", "user.name", "Config Name"]);
    ours.git(&["config", "user.email", "config@example.com"]);
    let run = ours.gitops_without(
        &["revert", "HEAD"],
        &["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"],
    );
    assert_eq!(run.code, 0, "{run}");
    let who = ours.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>"]);
    assert_eq!(
        who,
        "Config Name <config@example.com>|Ada Example <ada@example.com>\n"
    );
}

/// Runs our revert, expects a refusal mentioning `needles`, and an unchanged repository.
fn assert_refused(repo: &Repo, args: &[&str], needles: &[&str]) {
    let before = repo.snapshot();
    let run = repo.gitops(args);
    assert_eq!(run.code, 2, "{run}");
    for needle in needles {
        assert!(run.stderr.contains(needle), "missing {needle:?}\n{run}");
    }
    assert_same(&before, &repo.snapshot());
}

#[test]
fn refusals_change_nothing() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);

    let dirty = sandbox.clone_of(&origin, "dirty");
    dirty.write("settings.yaml", "local edit\n");
    assert_refused(
        &dirty,
        &["revert", "HEAD~1"],
        &["uncommitted changes", "settings.yaml"],
    );

    let staged = sandbox.clone_of(&origin, "staged");
    staged.write("new.yaml", "n: 1\n");
    staged.git(&["add", "new.yaml"]);
    assert_refused(
        &staged,
        &["revert", "HEAD~1"],
        &["uncommitted changes", "new.yaml"],
    );

    let detached = sandbox.clone_of(&origin, "detached");
    detached.git(&["checkout", "-q", "--detach", "HEAD"]);
    assert_refused(
        &detached,
        &["revert", "HEAD~1"],
        &["HEAD is detached", "git switch"],
    );

    let unknown = sandbox.clone_of(&origin, "unknown");
    assert_refused(
        &unknown,
        &["revert", "no-such-commit"],
        &["unknown revision \"no-such-commit\""],
    );

    let conflict = sandbox.clone_of(&origin, "conflict");
    conflict.write("settings.yaml", "a: 1\nb: 3\nc: 1\nd: 1\ne: 1\n");
    conflict.commit("settings: b is 3");
    conflict.git(&["status", "--porcelain"]);
    assert_refused(
        &conflict,
        &["revert", "HEAD~1"],
        &["conflicts", "settings.yaml"],
    );
    let git = conflict.git_run(&["revert", "--no-edit", "HEAD~1"]);
    assert_ne!(git.code, 0, "git agrees it conflicts\n{git}");
    assert_eq!(
        conflict.git(&["diff", "--name-only", "--diff-filter=U"]),
        "settings.yaml\n"
    );

    let nothing = sandbox.clone_of(&origin, "nothing");
    nothing.git(&["revert", "--no-edit", "HEAD"]);
    nothing.git(&["status", "--porcelain"]);
    assert_refused(&nothing, &["revert", "HEAD~1"], &["changes nothing"]);

    let in_the_way = sandbox.clone_of(&origin, "in-the-way");
    in_the_way.git(&["rm", "-q", "apps/web.yaml"]);
    in_the_way.commit("drop web");
    in_the_way.write("apps/web.yaml", "untracked\n");
    assert_refused(
        &in_the_way,
        &["revert", "HEAD"],
        &["untracked", "apps/web.yaml"],
    );
}

#[test]
fn untracked_files_elsewhere_are_allowed_and_kept() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    ours.write("notes.txt", "mine\n");
    let run = ours.gitops(&["revert", "HEAD"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(ours.porcelain(), "?? notes.txt\n");
    assert_eq!(
        std::fs::read_to_string(ours.dir().join("notes.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn sync_and_no_commit_do_not_combine() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    assert_refused(
        &ours,
        &["revert", "--no-commit", "--sync", "HEAD"],
        &["--sync"],
    );
}

#[test]
fn revert_yaml_has_the_same_shape() {
    let sandbox = Sandbox::new();
    let origin = history(&sandbox);
    let ours = sandbox.clone_of(&origin, "ours");
    let target = ours.rev("HEAD");
    let run = ours.gitops(&["-o", "yaml", "revert", "HEAD"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .starts_with("apiVersion: kubectl-gitops/v1\nkind: Revert\n"),
        "{run}"
    );
    assert!(run.stdout.contains(&format!("id: {target}")), "{run}");
    assert!(
        run.stdout.contains(&format!("id: {}", ours.rev("HEAD"))),
        "{run}"
    );
    assert!(run.stdout.contains("path: settings.yaml"), "{run}");
    assert!(run.stdout.contains("change: modified"), "{run}");
}
