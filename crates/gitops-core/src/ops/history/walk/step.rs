//! How [`ChangeWalk`] computes a commit's changes: by the text of the changed files where it
//! can, else by rendering both sides.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::ops::status::membership::is_controller;

use super::super::{ChangeKind, CommitChanges, HistoryOpsError, ResourceChange};
use super::{ChangeWalk, LINE_INDEXES_KEPT, LightDoc, LightDocs, Objects, Sides, Sources, objects};
use gitops_git::history::FileDiff;
use gitops_git::{ObjectId, RepoError};
use gitops_render::documents::Format;
use gitops_render::kustomize::KUSTOMIZATION_FILES;
use gitops_render::node_diff::{LineIndex, changed_documents_indexed};
use gitops_render::scalar_diff::scalar_changes;
use gitops_render::scan_identities;
use gitops_render::{
    CONFIG_FILE, EnvConfig, PlainFiles, RenderFailure, plain_files, render, render_plain_with,
};
use k8s_model::{Manifest, ResourceId};

impl ChangeWalk {
    /// Keeps the resources of each YAML file version of a clean render (`manifests` made from
    /// exactly `files`), for comparing later versions by text.
    pub(super) fn remember_light<'p>(
        &mut self,
        files: impl Iterator<Item = (&'p String, ObjectId, Format)>,
        manifests: &[Manifest],
    ) {
        if self.objects_needed {
            return;
        }
        let mut by_file: HashMap<&str, Vec<&Manifest>> = HashMap::new();
        for m in manifests {
            by_file.entry(m.source.file.as_str()).or_default().push(m);
        }
        for (path, blob, format) in files {
            if format != Format::Yaml || self.light.contains_key(&blob) {
                continue;
            }
            let ms = by_file
                .get(path.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            // Several resources from one document's lines (a flow-style `List`): its lines do
            // not say which. A block-style list's items have lines of their own.
            let lines = |m: &Manifest| (m.source.document, m.source.line, m.source.end_line);
            if ms.windows(2).any(|w| lines(w[0]) == lines(w[1])) {
                continue;
            }
            let docs = ms
                .iter()
                .map(|m| LightDoc {
                    id: m.id.clone(),
                    api_version: m.api_version.clone(),
                    line: m.source.line,
                    end_line: m.source.end_line,
                })
                .collect();
            self.light.insert(blob, Arc::new(docs));
        }
    }

    /// The changes of one file changed from `before` to `after` at `path`, when its text
    /// proves them: `after`'s resources are known, all come from `path` at the walk's
    /// position, and either the versions differ only in scalar values ([`scalar_changes`]:
    /// `before` has the same resources and lines, and the resources whose document holds a
    /// changed line are modified) or every difference lies in a node below the identity
    /// fields ([`changed_documents`]: `before` has the same resources, shifted, and those
    /// whose nodes parse differently are modified). `None`: render the file instead.
    fn light_step(
        &mut self,
        path: &str,
        before: ObjectId,
        after: ObjectId,
    ) -> Result<Option<Vec<ResourceChange>>, HistoryOpsError> {
        let Some(docs) = self.light_docs(after) else {
            return Ok(None);
        };
        let Some(sources) = &self.sources else {
            return Ok(None);
        };
        if docs
            .iter()
            .any(|d| sources.get(&d.id).is_none_or(|f| f != path))
        {
            return Ok(None);
        }
        let (old, new) = (self.blob_bytes(before)?, self.blob_bytes(after)?);
        let scalar = match self
            .prepared
            .scalar
            .iter()
            .position(|(pair, _)| *pair == (before, after))
        {
            Some(at) => self.prepared.scalar.swap_remove(at).1,
            None => scalar_changes(&old, &new),
        };
        let Some(lines) = scalar else {
            // Lines added or removed: the documents whose differing nodes parse differently.
            let ranges: Vec<(usize, usize)> = docs.iter().map(|d| (d.line, d.end_line)).collect();
            // The newer version's index is usually kept from the step before (it was the
            // older side there); the older one is derived from it.
            let Some(new_index) = self.line_index(after, &new, None) else {
                return Ok(None);
            };
            let Some(old_index) = self.line_index(before, &old, Some((&new, &new_index))) else {
                return Ok(None);
            };
            let Some(proof) =
                changed_documents_indexed((&old, &old_index), (&new, &new_index), &ranges)
            else {
                return Ok(None);
            };
            // Items added to a list document are added resources; the others keep their
            // place, shifted, modified or not.
            let changes = docs
                .iter()
                .zip(proof.modified.iter().zip(&proof.old_lines))
                .filter_map(|(doc, (modified, old))| match old {
                    None => Some(ResourceChange {
                        change: ChangeKind::Added,
                        ..modified_in(doc, path)
                    }),
                    Some(_) => modified.then(|| modified_in(doc, path)),
                })
                .collect();
            let shifted = docs
                .iter()
                .zip(proof.old_lines)
                .filter_map(|(doc, old)| {
                    old.map(|(line, end_line)| LightDoc {
                        line,
                        end_line,
                        ..doc.clone()
                    })
                })
                .collect();
            self.light.insert(before, Arc::new(shifted));
            self.light_files += 1;
            return Ok(Some(changes));
        };
        let mut touched = vec![false; docs.len()];
        for line in lines {
            match docs
                .iter()
                .position(|d| (d.line..=d.end_line).contains(&line))
            {
                Some(i) => touched[i] = true,
                None => return Ok(None),
            }
        }
        let changes = docs
            .iter()
            .zip(touched)
            .filter(|(_, touched)| *touched)
            .map(|(doc, _)| modified_in(doc, path))
            .collect();
        self.light.insert(before, docs);
        self.light_files += 1;
        Ok(Some(changes))
    }

    /// The line index of file version `blob` (its bytes `text`): kept from the last
    /// comparisons, or built (derived from `neighbour`'s, another version of the file, when
    /// given); `None` when it has none (tabs, not UTF-8).
    fn line_index(
        &mut self,
        blob: ObjectId,
        text: &[u8],
        neighbour: Option<(&[u8], &LineIndex)>,
    ) -> Option<Arc<LineIndex>> {
        if let Some((_, index)) = self.line_indexes.iter().find(|(id, _)| *id == blob) {
            return Some(Arc::clone(index));
        }
        let index = match self.prepared.indexes.iter().position(|(id, _)| *id == blob) {
            Some(at) => self.prepared.indexes.swap_remove(at).1,
            None => Arc::new(match neighbour {
                Some(from) => LineIndex::derived(from, text)?,
                None => LineIndex::new(text)?,
            }),
        };
        if self.line_indexes.len() == LINE_INDEXES_KEPT {
            self.line_indexes.pop_front();
        }
        self.line_indexes.push_back((blob, Arc::clone(&index)));
        Some(index)
    }

    /// The changes of files added or removed whose resources are known (`one_sided`), and
    /// the sources stepped to the parent for them; `None` (nothing stepped) when that is not
    /// provable: a resource of one of them is also in another changed file (moved between
    /// files with a change), or an added one does not come from that file at the walk's
    /// position, or a removed one exists there. A file moved unchanged (the same blob removed
    /// at one path and added at another) changes nothing.
    fn step_one_sided(
        &mut self,
        one_sided: &[(String, ObjectId, LightDocs, bool)],
        light: &[ResourceChange],
        before: &Objects,
        after: &Objects,
    ) -> Option<Vec<ResourceChange>> {
        if one_sided.is_empty() {
            return Some(Vec::new());
        }
        let sources = self.sources.as_ref()?;
        // Pure moves: a blob removed at exactly one path and added at exactly one other.
        let count = |blob: ObjectId, added: bool| {
            one_sided
                .iter()
                .filter(|(_, b, _, a)| *b == blob && *a == added)
                .count()
        };
        let moved = |blob: ObjectId| count(blob, true) == 1 && count(blob, false) == 1;
        let mut seen: BTreeSet<&ResourceId> = light.iter().map(|c| &c.id).collect();
        let mut changes = Vec::new();
        for (path, blob, docs, added) in one_sided {
            for doc in docs.iter() {
                let here = sources.get(&doc.id);
                let consistent = if *added {
                    here == Some(path)
                } else if moved(*blob) {
                    // Comes from the other end of the move at the walk's position.
                    here.is_some_and(|f| f != path)
                } else {
                    here.is_none()
                };
                if !consistent || before.contains_key(&doc.id) || after.contains_key(&doc.id) {
                    return None;
                }
                // Each resource once, except the two ends of a move.
                if !seen.insert(&doc.id) && !moved(*blob) {
                    return None;
                }
                if moved(*blob) {
                    continue;
                }
                changes.push(ResourceChange {
                    id: doc.id.clone(),
                    api_version: doc.api_version.clone(),
                    change: if *added {
                        ChangeKind::Added
                    } else {
                        ChangeKind::Removed
                    },
                    before: None,
                    after: None,
                    file: path.clone(),
                });
            }
        }
        let sources = self.sources.as_mut()?;
        let added: BTreeSet<String> = one_sided
            .iter()
            .filter(|(_, _, _, added)| *added)
            .map(|(path, ..)| path.clone())
            .collect();
        sources.drop_files(&added);
        for (path, _, docs, added) in one_sided {
            if !added {
                for doc in docs.iter() {
                    sources.insert(doc.id.clone(), path.clone());
                }
            }
        }
        self.light_files += one_sided.len();
        Some(changes)
    }

    /// The git dir (where the caches live).
    pub fn git_dir(&self) -> PathBuf {
        self.objects.git_dir()
    }

    /// A blob's bytes: read ahead, else read now (shared, not copied).
    fn blob_bytes(&self, id: ObjectId) -> Result<Arc<[u8]>, RepoError> {
        match self.current.as_ref().and_then(|w| w.blob(id)) {
            Some(data) => Ok(Arc::clone(data)),
            None => self.objects.shared_blob(id),
        }
    }

    /// A blob: read ahead by the walk thread, or read now.
    pub(super) fn blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        Ok(self.blob_bytes(id)?.to_vec())
    }

    /// The resources of YAML file version `blob`: known from an earlier render, or read by
    /// a scan of its text ([`scan_identities`]) and kept; `None` when neither (render it).
    fn light_docs(&mut self, blob: ObjectId) -> Option<LightDocs> {
        if let Some(docs) = self.light.get(&blob) {
            return Some(Arc::clone(docs));
        }
        // Unreadable: the render reports it.
        let bytes = self.blob_bytes(blob).ok()?;
        let docs: LightDocs = Arc::new(
            scan_identities(&bytes, &self.opts)?
                .into_iter()
                .map(|(id, api_version, line, end_line)| LightDoc {
                    id,
                    api_version,
                    line,
                    end_line,
                })
                .collect(),
        );
        self.light.insert(blob, Arc::clone(&docs));
        Some(docs)
    }

    /// All resources at `commit` and whether it rendered without errors.
    fn full(&mut self, commit: Option<ObjectId>) -> Result<(Objects, bool), HistoryOpsError> {
        let Some(commit) = commit else {
            return Ok((Objects::new(), true));
        };
        match render(&self.repo, commit, &self.opts) {
            Ok(rendered) => Ok((objects(rendered.manifests), rendered.errors.is_empty())),
            // No environment there (path absent) or an invalid config: no objects.
            Err(RenderFailure::Config(_))
            | Err(RenderFailure::Repo(RepoError::PathNotFound { .. }))
            | Err(RenderFailure::Repo(RepoError::NotADirectory { .. })) => {
                Ok((Objects::new(), false))
            }
            Err(source) => Err(HistoryOpsError::Render { commit, source }),
        }
    }

    /// The changed files' resources on each side, and the changes of the files compared by
    /// text; `None` when that could differ from two full renders: kustomize, a changed config
    /// or kustomization, render errors, a resource defined in a changed and an unchanged file.
    fn changed_files_sides(
        &mut self,
        commit: ObjectId,
        after_tree: Option<ObjectId>,
        parent: Option<ObjectId>,
        before_tree: Option<ObjectId>,
    ) -> Result<Option<Sides>, HistoryOpsError> {
        let (Some(config), Some(_)) = (self.tip_config.clone(), &self.sources) else {
            return Ok(None);
        };
        let read_ahead = match &mut self.current {
            Some(walked) if walked.id == commit && walked.trees.is_some() => walked.diffs.take(),
            _ => None,
        };
        let diffs = match read_ahead {
            Some(diffs) => diffs,
            None => self
                .objects
                .diff_trees(&self.path, before_tree, after_tree)?,
        };
        let Some(mut files) = self.sort_changed_files(diffs, config)? else {
            return Ok(None);
        };
        // A controller object added, changed or removed changes what it makes too, which its
        // file's text does not say: render both sides whole.
        let controller_changed = files.light.iter().any(|c| is_controller(&c.id))
            || files
                .one_sided
                .iter()
                .any(|(_, _, docs, _)| docs.iter().any(|d| is_controller(&d.id)));
        if controller_changed {
            return Ok(None);
        }
        if files.paths.is_empty() {
            let Some(changes) = self.step_one_sided(
                &files.one_sided,
                &files.light,
                &Objects::new(),
                &Objects::new(),
            ) else {
                return Ok(None);
            };
            files.light.extend(changes);
            if let Some(sources) = &mut self.sources {
                sources.forget(&files.light_added);
            }
            return Ok(Some((Objects::new(), Objects::new(), files.light)));
        }
        self.render_changed_files(commit, parent, files)
    }

    /// Sorts a commit's changed files: changes proven by their text, files added or removed
    /// whose resources are known, and the rest, to render. `None` when the commit changed the
    /// config or a kustomization (two full renders then).
    fn sort_changed_files(
        &mut self,
        diffs: Vec<FileDiff>,
        config: EnvConfig,
    ) -> Result<Option<ChangedFiles>, HistoryOpsError> {
        let base = gitops_git::normalize_path(&self.opts.path);
        let mut files = ChangedFiles {
            before: PlainFiles {
                config: config.clone(),
                files: BTreeMap::new(),
            },
            after: PlainFiles {
                config: config.clone(),
                files: BTreeMap::new(),
            },
            paths: BTreeSet::new(),
            light: Vec::new(),
            light_added: Vec::new(),
            one_sided: Vec::new(),
        };
        for diff in diffs {
            let relative = match base.as_str() {
                "" => diff.path.as_str(),
                base => diff
                    .path
                    .strip_prefix(base)
                    .and_then(|r| r.strip_prefix('/'))
                    .unwrap_or(&diff.path),
            };
            let name = relative.rsplit('/').next().unwrap_or(relative);
            if relative == CONFIG_FILE || KUSTOMIZATION_FILES.contains(&name) {
                return Ok(None);
            }
            if name.starts_with('.') || config.is_excluded(relative) {
                continue;
            }
            let Some(format) = Format::of(&diff.path) else {
                continue;
            };
            if !self.objects_needed
                && format == Format::Yaml
                && self.known_by_text(&diff, &mut files)?
            {
                continue;
            }
            if let Some(blob) = diff.before {
                files.before.files.insert(diff.path.clone(), (blob, format));
            }
            if let Some(blob) = diff.after {
                files.after.files.insert(diff.path.clone(), (blob, format));
            }
            files.paths.insert(diff.path);
        }
        Ok(Some(files))
    }

    /// Whether the change of a YAML file is known from its text: its changes proven (kept in
    /// `files.light`), or its resources known when it was added or removed.
    fn known_by_text(
        &mut self,
        diff: &FileDiff,
        files: &mut ChangedFiles,
    ) -> Result<bool, HistoryOpsError> {
        match (diff.before, diff.after) {
            (Some(old), Some(new)) => {
                if let Some(changes) = self.light_step(&diff.path, old, new)? {
                    files.light_added.extend(
                        changes
                            .iter()
                            .filter(|c| c.change == ChangeKind::Added)
                            .map(|c| c.id.clone()),
                    );
                    files.light.extend(changes);
                    return Ok(true);
                }
            }
            (None, Some(blob)) | (Some(blob), None) => {
                if let Some(docs) = self.light_docs(blob) {
                    files
                        .one_sided
                        .push((diff.path.clone(), blob, docs, diff.after.is_some()));
                    return Ok(true);
                }
            }
            (None, None) => {}
        }
        Ok(false)
    }

    /// Renders the changed files at `commit` and at `parent` and steps the sources to the
    /// parent. `None` when a side does not render clean, or a resource of theirs is defined
    /// elsewhere too (two full renders then).
    fn render_changed_files(
        &mut self,
        commit: ObjectId,
        parent: Option<ObjectId>,
        files: ChangedFiles,
    ) -> Result<Option<Sides>, HistoryOpsError> {
        let ChangedFiles {
            before,
            after,
            paths,
            mut light,
            light_added,
            one_sided,
        } = files;
        let render_side = |at: Option<ObjectId>, plain: &PlainFiles| match at {
            None => Ok(None),
            Some(at) => render_plain_with(self, at, &self.opts, plain, &paths)
                .map(Some)
                .map_err(|source| HistoryOpsError::Render { commit: at, source }),
        };
        let after_rendered = render_side(Some(commit), &after)?;
        let before_rendered = render_side(parent, &before)?;
        let clean = after_rendered.as_ref().is_none_or(|r| r.errors.is_empty())
            && before_rendered.as_ref().is_none_or(|r| r.errors.is_empty());
        if !clean {
            return Ok(None);
        }
        for (plain, rendered) in [(&after, &after_rendered), (&before, &before_rendered)] {
            if let Some(rendered) = rendered {
                let files = plain
                    .files
                    .iter()
                    .map(|(path, (blob, format))| (path, *blob, *format));
                self.remember_light(files, &rendered.manifests);
            }
        }
        let before_objects = before_rendered
            .map(|r| objects(r.manifests))
            .unwrap_or_default();
        let after_objects = after_rendered
            .map(|r| objects(r.manifests))
            .unwrap_or_default();
        if before_objects
            .keys()
            .chain(after_objects.keys())
            .any(is_controller)
        {
            return Ok(None);
        }
        let Some(sources) = &self.sources else {
            return Ok(None);
        };
        let elsewhere = |id: &ResourceId| sources.get(id).is_some_and(|f| !paths.contains(f));
        if before_objects
            .keys()
            .chain(after_objects.keys())
            .any(elsewhere)
        {
            return Ok(None);
        }
        if light_added
            .iter()
            .any(|id| before_objects.contains_key(id) || after_objects.contains_key(id))
        {
            return Ok(None);
        }
        let Some(changes) =
            self.step_one_sided(&one_sided, &light, &before_objects, &after_objects)
        else {
            return Ok(None);
        };
        light.extend(changes);
        let Some(sources) = &mut self.sources else {
            return Ok(None);
        };
        // Step the sources to the parent.
        sources.forget(&light_added);
        sources.drop_files(&paths);
        for (id, (_, _, file)) in &before_objects {
            sources.insert(id.clone(), file.clone());
        }
        Ok(Some((before_objects, after_objects, light)))
    }

    /// The resources of `parent` and `commit` that can differ, and the changes proven by text.
    fn sides(
        &mut self,
        commit: ObjectId,
        after_tree: Option<ObjectId>,
        parent: Option<ObjectId>,
        before_tree: Option<ObjectId>,
    ) -> Result<Sides, HistoryOpsError> {
        if let Some(sides) = self.changed_files_sides(commit, after_tree, parent, before_tree)? {
            return Ok(sides);
        }
        self.full_renders += 1;
        // The config may change here: resources known by blob may be stale below.
        self.light.clear();
        let (before, clean) = self.full(parent)?;
        let (after, _) = self.full(Some(commit))?;
        // The parent's config and units hold for the commits below it, until the next change.
        self.tip_config = match parent {
            Some(parent) => match plain_files(&self.repo, parent, &self.opts) {
                Ok(plain) => plain.map(|p| p.config),
                Err(_) => None,
            },
            None => None,
        };
        // Controller objects read more than their own files: their environment is compared
        // by full renders (the render cache keeps what helm and kustomize made).
        let controlled = before.keys().any(is_controller);
        self.sources = (clean && self.tip_config.is_some() && !controlled).then(|| {
            Sources::new(
                before
                    .iter()
                    .map(|(id, (_, _, file))| (id.clone(), file.clone())),
            )
        });
        Ok((before, after, Vec::new()))
    }

    pub(super) fn changes_of(
        &mut self,
        commit: ObjectId,
    ) -> Result<CommitChanges, HistoryOpsError> {
        let known = match &self.current {
            Some(walked) if walked.id == commit => walked.trees,
            _ => None,
        };
        let (after_tree, parent, before_tree) = match known {
            Some(trees) => trees,
            None => self.objects.path_trees(&self.path, commit)?,
        };
        let (mut before, mut after, mut changes) =
            self.sides(commit, after_tree, parent, before_tree)?;
        let ids: BTreeSet<ResourceId> = before.keys().chain(after.keys()).cloned().collect();
        for id in ids {
            let old = before.remove(&id);
            let new = after.remove(&id);
            let change = match (&old, &new) {
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(a), Some(b)) if a.1 != b.1 => ChangeKind::Modified,
                _ => continue,
            };
            let (api_version, file) = match (&new, &old) {
                (Some((v, _, f)), _) | (None, Some((v, _, f))) => (v.clone(), f.clone()),
                (None, None) => continue,
            };
            let keep = self.objects_needed;
            changes.push(ResourceChange {
                id,
                api_version,
                change,
                before: old.filter(|_| keep).map(|o| o.1),
                after: new.filter(|_| keep).map(|n| n.1),
                file,
            });
        }
        changes.sort_by(|a, b| crate::ops::history::change_order(&a.id, &b.id));
        Ok(CommitChanges {
            commit,
            parent,
            changes,
        })
    }
}

/// A document of `path` proven modified by its text.
fn modified_in(doc: &LightDoc, path: &str) -> ResourceChange {
    ResourceChange {
        id: doc.id.clone(),
        api_version: doc.api_version.clone(),
        change: ChangeKind::Modified,
        before: None,
        after: None,
        file: path.to_owned(),
    }
}

/// A commit's changed files, sorted by how their changes are found.
struct ChangedFiles {
    /// The files to render, at the parent.
    before: PlainFiles,
    /// The files to render, at the commit.
    after: PlainFiles,
    /// Their paths.
    paths: BTreeSet<String>,
    /// Changes proven by the files' text.
    light: Vec<ResourceChange>,
    /// Resources that items added to list documents made (proven by text): not in the
    /// parent; no rendered file may hold them.
    light_added: Vec<ResourceId>,
    /// Files added or removed whose resources are known without parsing: (path, blob,
    /// their resources, added).
    one_sided: Vec<(String, ObjectId, LightDocs, bool)>,
}
