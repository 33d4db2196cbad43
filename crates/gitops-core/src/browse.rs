//! What the UI browses, as owned data: the environment's commits (the History pane) and what
//! reverting one would change (the revert dialog). Blocking; the UI runs them off its thread.

use gitops_git::history::PathWalk;
use gitops_git::{EnvRepo, commit_info_from_data};
use gitops_render::RenderOptions;
use k8s_model::CommitInfo;

use crate::Target;
use crate::ops::history::{ChangeWalk, HistoryOpsError, ResourceChange, environment_walk};

/// The first-parent commits from the target's revision that changed the environment's inputs,
/// newest first: the commits `history` lists (SPEC §5), read as the walk finds them.
pub struct EnvironmentCommits {
    repo: EnvRepo,
    walk: PathWalk,
    head: String,
}

impl EnvironmentCommits {
    /// Starts the walk at `target.rev` over `target.path`'s inputs; with `use_cache`, the walk
    /// cache under the git dir makes a second start instant.
    pub fn start(target: &Target, use_cache: bool) -> Result<EnvironmentCommits, HistoryOpsError> {
        let repo = EnvRepo::open(&target.repo)?;
        let start = repo.resolve(&target.rev)?;
        let head = repo
            .resolve("HEAD")
            .map(|id| id.to_string())
            .unwrap_or_default();
        let opts = RenderOptions::new(target.path.as_str(), "default");
        let walk = environment_walk(&repo, start, &opts, use_cache)?;
        Ok(EnvironmentCommits { repo, walk, head })
    }

    /// HEAD's commit id (empty when HEAD does not resolve).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Keeps what the walk learnt in its cache; call it once the walk is read to the end.
    pub fn finish(self) {
        self.walk.finish();
    }
}

impl Iterator for EnvironmentCommits {
    type Item = Result<CommitInfo, HistoryOpsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let walked = match self.walk.next_walked()? {
            Ok(walked) => walked,
            Err(e) => return Some(Err(e.into())),
        };
        // The walk read each commit it found; one taken from its cache is read now.
        let info = match &walked.data {
            Some(data) => commit_info_from_data(self.repo.root(), walked.id, data),
            None => self.walk.objects().commit_info(walked.id),
        };
        Some(info.map_err(HistoryOpsError::from))
    }
}

/// What reverting a commit would change in git.
#[derive(Debug, Clone)]
pub struct RevertPreview {
    /// The commit to revert.
    pub commit: CommitInfo,
    /// The resources it changed (their changes are what a revert undoes); empty when it changed
    /// no resource of the environment.
    pub changes: Vec<ResourceChange>,
}

/// What reverting `commit` (a revision) would change: the resource changes it made to the
/// target's environment.
pub fn revert_preview(target: &Target, commit: &str) -> Result<RevertPreview, HistoryOpsError> {
    let repo = EnvRepo::open(&target.repo)?;
    let id = repo.resolve(commit)?;
    let info = repo.commit_info(id)?;
    let render = RenderOptions::new(
        target.path.clone(),
        target.namespace.clone().unwrap_or_else(|| "default".into()),
    );
    let mut walk = ChangeWalk::new(&repo, id, &render, true)?;
    let changes = match walk.next().transpose()? {
        Some(step) if step.commit == id => step.changes,
        _ => Vec::new(),
    };
    Ok(RevertPreview {
        commit: info,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use gitops_git::fixture::FixtureRepo;

    use super::*;
    use crate::ops::history::ChangeKind;

    fn cm(name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: \"{value}\"\n"
        )
    }

    #[test]
    fn commits_are_the_environments_newest_first_and_a_revert_preview_names_the_changes() {
        let fx = FixtureRepo::new();
        fx.write("env/a.yaml", &cm("a", "1"));
        let first = fx.commit("add a");
        fx.write("other/x.yaml", &cm("x", "1"));
        fx.commit("outside the environment");
        fx.write("env/a.yaml", &cm("a", "2"));
        fx.write("env/b.yaml", &cm("b", "1"));
        let third = fx.commit("change a, add b");
        let target = Target {
            repo: fx.dir().to_path_buf(),
            path: "env".into(),
            ..Target::default()
        };

        let mut commits = EnvironmentCommits::start(&target, false).unwrap();
        assert_eq!(commits.head(), third);
        let listed: Vec<String> = commits.by_ref().map(|c| c.unwrap().id).collect();
        commits.finish();
        assert_eq!(listed, [third.clone(), first.clone()]);
        // From an older revision, only what it can see.
        let older: Vec<String> = EnvironmentCommits::start(&target.at(&first), false)
            .unwrap()
            .map(|c| c.unwrap().summary)
            .collect();
        assert_eq!(older, ["add a"]);

        let preview = revert_preview(&target, &third).unwrap();
        assert_eq!(preview.commit.summary, "change a, add b");
        let changes: Vec<(String, ChangeKind)> = preview
            .changes
            .iter()
            .map(|c| (c.id.name.clone(), c.change))
            .collect();
        assert_eq!(
            changes,
            [
                ("a".to_owned(), ChangeKind::Modified),
                ("b".to_owned(), ChangeKind::Added)
            ]
        );
        let outside = revert_preview(&target, "HEAD~1").unwrap();
        assert!(outside.changes.is_empty(), "{:?}", outside.changes);
        assert!(revert_preview(&target, "no-such-rev").is_err());
    }
}
