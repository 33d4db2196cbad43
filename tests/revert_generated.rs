//! Revert against `git revert` over a generated history: a fixed-seed script of edits, adds,
//! deletes, renames, mode changes, symlinks and a merge over ~30 commits. Reverting each commit
//! on a fresh clone must make the very commit git makes (same id: tree, message, parents,
//! identity, dates), or refuse where git stops — conflicts on the same paths — leaving the
//! clone byte-identical.

mod revert_git;

use std::collections::BTreeSet;

use revert_git::{Repo, Sandbox, assert_same};

/// xorshift64*: a fixed sequence without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const LINES: usize = 30;

fn content(random: &mut Random) -> Vec<String> {
    (0..LINES)
        .map(|i| format!("key{i}: v{}", random.below(1000)))
        .collect()
}

fn tracked(repo: &Repo) -> Vec<String> {
    repo.git(&["ls-files"]).lines().map(str::to_owned).collect()
}

/// One random change to the work tree, staged.
fn mutate(repo: &Repo, random: &mut Random, serial: &mut usize, only_add: bool) {
    let files: Vec<String> = tracked(repo)
        .into_iter()
        .filter(|f| !f.ends_with(".link"))
        .collect();
    let dirs = ["apps", "base", "infra/db", "infra/net"];
    let new_path = |random: &mut Random, serial: &mut usize| {
        *serial += 1;
        format!("{}/file{serial}.yaml", dirs[random.below(dirs.len())])
    };
    let op = if files.len() < 4 || only_add {
        1
    } else {
        random.below(10)
    };
    match op {
        // Edit one or two lines of a file.
        0 | 2..=4 => {
            let file = &files[random.below(files.len())];
            let path = repo.dir().join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for _ in 0..1 + random.below(2) {
                let at = random.below(lines.len());
                lines[at] = format!("key{at}: e{}", random.below(1000));
            }
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            repo.git(&["add", file]);
        }
        // Add a file.
        1 | 5 => {
            let path = new_path(random, serial);
            repo.write(&path, &(content(random).join("\n") + "\n"));
            repo.git(&["add", &path]);
        }
        // Delete a file.
        6 => {
            let file = &files[random.below(files.len())];
            repo.git(&["rm", "-q", "-f", file]);
        }
        // Rename a file, sometimes editing it too.
        7 => {
            let file = files[random.below(files.len())].clone();
            let to = new_path(random, serial);
            std::fs::create_dir_all(repo.dir().join(&to).parent().unwrap()).unwrap();
            repo.git(&["mv", &file, &to]);
            if random.below(2) == 0 {
                let path = repo.dir().join(&to);
                let mut text = std::fs::read_to_string(&path).unwrap();
                text.push_str("renamed: true\n");
                std::fs::write(&path, text).unwrap();
                repo.git(&["add", &to]);
            }
        }
        // Toggle the executable bit.
        8 => {
            use std::os::unix::fs::PermissionsExt;
            let file = &files[random.below(files.len())];
            let path = repo.dir().join(file);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode ^ 0o111)).unwrap();
            repo.git(&["add", file]);
        }
        // A symlink to a file.
        _ => {
            let file = &files[random.below(files.len())];
            *serial += 1;
            let link = format!("links/l{serial}.link");
            std::fs::create_dir_all(repo.dir().join("links")).unwrap();
            std::os::unix::fs::symlink(format!("../{file}"), repo.dir().join(&link)).unwrap();
            repo.git(&["add", &link]);
        }
    }
}

/// ~30 commits with one merge of a side branch.
fn generated_history(sandbox: &Sandbox) -> Repo {
    let repo = sandbox.init("origin");
    let mut random = Random(0x5eed_1234_abcd_0001);
    let mut serial = 0;
    for n in 0..30 {
        if n == 15 {
            repo.git(&["checkout", "-q", "-b", "side", "HEAD~3"]);
            // Side changes only add files, so the merge is clean.
            for _ in 0..3 {
                mutate(&repo, &mut random, &mut serial, true);
                repo.commit(&format!("side change {serial}"));
            }
            repo.git(&["checkout", "-q", "main"]);
            repo.git(&["merge", "-q", "--no-edit", "side"]);
        }
        for _ in 0..1 + random.below(3) {
            mutate(&repo, &mut random, &mut serial, false);
        }
        repo.commit(&format!("change {n}: step {serial}"));
    }
    repo
}

/// What `git revert` did on its clone.
#[derive(Debug, PartialEq)]
enum GitOutcome {
    Committed(String),
    Conflicted(BTreeSet<String>),
    Empty,
}

fn git_revert(repo: &Repo, args: &[&str]) -> GitOutcome {
    let run = repo.git_run(args);
    if run.code == 0 {
        return GitOutcome::Committed(repo.rev("HEAD"));
    }
    let unmerged: BTreeSet<String> = repo
        .git(&["diff", "--name-only", "--diff-filter=U"])
        .lines()
        .map(str::to_owned)
        .collect();
    if !unmerged.is_empty() {
        GitOutcome::Conflicted(unmerged)
    } else {
        assert!(
            format!("{}{}", run.stdout, run.stderr).contains("nothing to commit"),
            "git revert failed otherwise\n{run}"
        );
        GitOutcome::Empty
    }
}

/// The paths our conflict refusal lists.
fn listed_conflicts(stderr: &str) -> BTreeSet<String> {
    let list = stderr
        .split_once("later changes in: ")
        .and_then(|(_, rest)| rest.split_once(" (nothing was changed"))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("no conflict list in {stderr}"));
    list.split(", ").map(str::to_owned).collect()
}

#[test]
fn reverting_each_commit_of_a_generated_history_matches_git() {
    let sandbox = Sandbox::new();
    let origin = generated_history(&sandbox);
    let commits: Vec<String> = origin
        .git(&["rev-list", "HEAD"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(commits.len() >= 30, "{}", commits.len());
    let (mut committed, mut conflicted, mut empty, mut merges) = (0, 0, 0, 0);
    let mut directory_renames = 0;
    for (i, commit) in commits.iter().enumerate() {
        let parents = origin.git(&["rev-list", "--parents", "-n1", commit]);
        let is_merge = parents.split_whitespace().count() > 2;
        let mut flags: Vec<&str> = Vec::new();
        if is_merge {
            flags.extend(["--mainline", "1"]);
            merges += 1;
        }
        let theirs = sandbox.clone_of(&origin, &format!("git-{i}"));
        let ours = sandbox.clone_of(&origin, &format!("ours-{i}"));
        let mut git_args = vec!["revert", "--no-edit"];
        git_args.extend(&flags);
        git_args.push(commit);
        let expected = git_revert(&theirs, &git_args);

        let before = ours.snapshot();
        let mut args = vec!["revert"];
        args.extend(&flags);
        args.push(commit);
        let run = ours.gitops(&args);
        match &expected {
            GitOutcome::Committed(id) => {
                assert_eq!(
                    run.code, 0,
                    "revert {commit} (#{i}): git committed {id}\n{run}"
                );
                if &ours.rev("HEAD") != id {
                    let a = ours.git(&["ls-tree", "-r", "HEAD"]);
                    let b = theirs.git(&["ls-tree", "-r", "HEAD"]);
                    let a: BTreeSet<&str> = a.lines().collect();
                    let b: BTreeSet<&str> = b.lines().collect();
                    panic!(
                        "revert {commit} (#{i}): commit differs\nours only: {:#?}\ngit only: {:#?}\n{}\n{}\n{}",
                        a.difference(&b).collect::<Vec<_>>(),
                        b.difference(&a).collect::<Vec<_>>(),
                        ours.git(&["cat-file", "-p", "HEAD"]),
                        theirs.git(&["cat-file", "-p", "HEAD"]),
                        origin.git(&["show", "--raw", "--format=%h %s", commit]),
                    );
                }
                assert_eq!(
                    ours.porcelain(),
                    "",
                    "revert {commit} (#{i}): status not clean"
                );
                committed += 1;
            }
            GitOutcome::Conflicted(paths) => {
                assert_eq!(run.code, 2, "revert {commit} (#{i}): git conflicted\n{run}");
                let listed = listed_conflicts(&run.stderr);
                if &listed != paths {
                    // gix has no directory-rename detection; git's can move more files into
                    // conflict. Without it, git must list exactly our paths.
                    let plain = sandbox.clone_of(&origin, &format!("git-nodirs-{i}"));
                    let mut plain_args = vec!["-c", "merge.directoryRenames=false"];
                    plain_args.extend(&git_args);
                    assert_eq!(
                        git_revert(&plain, &plain_args),
                        GitOutcome::Conflicted(listed),
                        "revert {commit} (#{i}): git listed {paths:?}"
                    );
                    directory_renames += 1;
                }
                assert_same(&before, &ours.snapshot());
                conflicted += 1;
            }
            GitOutcome::Empty => {
                assert_eq!(
                    run.code, 2,
                    "revert {commit} (#{i}): git found nothing\n{run}"
                );
                assert!(run.stderr.contains("changes nothing"), "{run}");
                assert_same(&before, &ours.snapshot());
                empty += 1;
            }
        }

        // Every fourth successful one again with --no-commit: the same staged tree as git's.
        if matches!(expected, GitOutcome::Committed(_)) && i % 4 == 0 {
            let theirs = sandbox.clone_of(&origin, &format!("git-nc-{i}"));
            let ours = sandbox.clone_of(&origin, &format!("ours-nc-{i}"));
            let mut git_args = vec!["revert", "--no-commit"];
            git_args.extend(&flags);
            git_args.push(commit);
            theirs.git(&git_args);
            let mut args = vec!["revert", "--no-commit"];
            args.extend(&flags);
            args.push(commit);
            let run = ours.gitops(&args);
            assert_eq!(run.code, 0, "revert --no-commit {commit}\n{run}");
            assert_eq!(ours.git(&["write-tree"]), theirs.git(&["write-tree"]));
            assert_eq!(ours.porcelain(), theirs.porcelain());
            assert_eq!(ours.rev("HEAD"), origin.rev("HEAD"));
        }
    }
    eprintln!(
        "committed {committed}, conflicted {conflicted} ({directory_renames} listed differently by git's directory-rename detection), empty {empty}, merges {merges}"
    );
    // The history must exercise both outcomes, or the comparison proves little.
    assert!(committed >= 10, "only {committed} clean reverts");
    assert!(conflicted >= 1, "no conflicting revert in the history");
    assert_eq!(merges, 1, "the history holds one merge");
}
