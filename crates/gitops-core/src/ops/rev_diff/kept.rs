//! What `diff --from` keeps across runs under the git dir, so that a comparison made once is
//! read back instead of rendered and computed again (the same pull request diffed again by CI,
//! the UI's mark walked along a history that shares most resource versions):
//!
//! - **a commit's index** (`diff-index-v1/<settings>/<commit>`): each resource's identity,
//!   apiVersion, source and the digest of its rendered object, with the render's errors and
//!   warnings. A commit's render is fixed for the same settings and tools (the settings
//!   directory names them), so it is kept only for a render that says so
//!   ([`gitops_render::Rendered::fixed`]: no remote base, no failed unit, no controller's
//!   objects, whose charts come from moving repositories).
//! - **a pair's comparison** (`rev-diff-v1/<sha256>.json`), content-addressed by this program's
//!   version, the identity and both objects' digests: one file of two JSON lines, the unified
//!   hunks at a number of context lines and then the field changes (each `null` when not
//!   made: a text diff only looks whether there are changes, a JSON one makes no hunks), so
//!   that a plain text diff parses the first line only (a Grafana dashboard's changes hold
//!   whole JSON documents). Both are of the prepared objects: Secret values are masked before
//!   anything is kept (SPEC §4).
//!
//! A file that is absent, unreadable or of another version is a miss: the caller computes
//! again. Nothing here is needed for a correct answer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::diff::Hunk;
use crate::drift::{Change, ChangeOp};
use gitops_git::ObjectId;
use gitops_render::{RenderError, RenderOptions};
use k8s_model::path::{FieldPath, PathSegment};
use k8s_model::{ResourceId, Source};

/// The digest of a rendered object: SHA-256 of an unambiguous encoding of its tree (each
/// node's type, each string's and container's length, keys in their order), fed as the tree
/// is walked: no JSON is written. Two objects with equal digests are equal; equal objects
/// written in another key order differ, which only costs a comparison that finds nothing.
///
/// The encoding's small pieces (tags, lengths, keys, short strings) are gathered in a buffer
/// and hashed a few kilobytes at a time: fed one by one, the hasher's per-call work was most of
/// the digest's cost (a tenth of a second of kube-prometheus' cold `diff --from` on two cores).
/// The bytes hashed are [`digest_plain`]'s, in the same order (tested).
pub(super) fn digest(object: &Value) -> String {
    /// Strings this long go to the hasher directly, after what is gathered.
    const DIRECT: usize = 1024;
    /// What is gathered is hashed once it is this long.
    const FLUSH: usize = 8 * 1024;
    struct Feed {
        hasher: Sha256,
        gathered: Vec<u8>,
    }
    impl Feed {
        fn bytes(&mut self, bytes: &[u8]) {
            if bytes.len() >= DIRECT {
                self.hasher.update(&self.gathered);
                self.gathered.clear();
                self.hasher.update(bytes);
            } else {
                self.gathered.extend_from_slice(bytes);
                if self.gathered.len() >= FLUSH {
                    self.hasher.update(&self.gathered);
                    self.gathered.clear();
                }
            }
        }
        fn text(&mut self, tag: u8, text: &str) {
            self.gathered.push(tag);
            self.gathered
                .extend_from_slice(&(text.len() as u64).to_le_bytes());
            self.bytes(text.as_bytes());
        }
        fn value(&mut self, value: &Value) {
            match value {
                Value::Null => self.gathered.push(b'n'),
                Value::Bool(true) => self.gathered.push(b't'),
                Value::Bool(false) => self.gathered.push(b'f'),
                Value::Number(number) => self.text(b'#', &number.to_string()),
                Value::String(string) => self.text(b's', string),
                Value::Array(items) => {
                    self.gathered.push(b'[');
                    self.gathered
                        .extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for item in items {
                        self.value(item);
                    }
                }
                Value::Object(map) => {
                    self.gathered.push(b'{');
                    self.gathered
                        .extend_from_slice(&(map.len() as u64).to_le_bytes());
                    for (key, item) in map {
                        self.text(b'k', key);
                        self.value(item);
                    }
                }
            }
        }
    }
    let mut feed = Feed {
        hasher: Sha256::new(),
        gathered: Vec::with_capacity(FLUSH + DIRECT + 64),
    };
    feed.value(object);
    feed.hasher.update(&feed.gathered);
    hex(&feed.hasher.finalize())
}

/// The plain way of [`digest`]: each piece of the encoding fed to the hasher as it is met.
#[cfg(test)]
pub(super) fn digest_plain(object: &Value) -> String {
    fn feed(hasher: &mut Sha256, value: &Value) {
        let text = |hasher: &mut Sha256, tag: u8, text: &str| {
            hasher.update([tag]);
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        };
        match value {
            Value::Null => hasher.update(b"n"),
            Value::Bool(true) => hasher.update(b"t"),
            Value::Bool(false) => hasher.update(b"f"),
            Value::Number(number) => text(hasher, b'#', &number.to_string()),
            Value::String(string) => text(hasher, b's', string),
            Value::Array(items) => {
                hasher.update(b"[");
                hasher.update((items.len() as u64).to_le_bytes());
                for item in items {
                    feed(hasher, item);
                }
            }
            Value::Object(map) => {
                hasher.update(b"{");
                hasher.update((map.len() as u64).to_le_bytes());
                for (key, item) in map {
                    text(hasher, b'k', key);
                    feed(hasher, item);
                }
            }
        }
    }
    let mut hasher = Sha256::new();
    feed(&mut hasher, object);
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One resource of a commit's render, without its object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Indexed {
    pub(super) id: ResourceId,
    pub(super) api_version: String,
    pub(super) source: Source,
    pub(super) digest: String,
}

/// What a commit's render gave, without the objects.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SideIndex {
    /// The program that rendered: another may render differently.
    version: String,
    pub(super) resources: Vec<Indexed>,
    pub(super) errors: Vec<RenderError>,
    pub(super) warnings: Vec<String>,
}

impl SideIndex {
    pub(super) fn new(
        resources: Vec<Indexed>,
        errors: Vec<RenderError>,
        warnings: Vec<String>,
    ) -> Self {
        SideIndex {
            version: crate::version::VERSION_LINE.to_owned(),
            resources,
            errors,
            warnings,
        }
    }
}

/// A pair's hunks as they are kept (the file's first line).
#[derive(Serialize, Deserialize)]
struct KeptHunks {
    /// Whether the objects differ once normalized (else there are no hunks).
    differs: bool,
    context: usize,
    hunks: Vec<Hunk>,
}

/// A [`Change`] of two commits (no live manager: there is no cluster).
#[derive(Serialize, Deserialize)]
struct KeptChange {
    path: Vec<KeptSegment>,
    op: ChangeOp,
    live: Option<Value>,
    desired: Option<Value>,
}

#[derive(Serialize, Deserialize)]
enum KeptSegment {
    Key(String),
    Item(Vec<(String, Value)>),
    Index(usize),
}

impl From<&Change> for KeptChange {
    fn from(change: &Change) -> Self {
        KeptChange {
            path: change
                .path
                .0
                .iter()
                .map(|segment| match segment {
                    PathSegment::Key(key) => KeptSegment::Key(key.clone()),
                    PathSegment::Item(fields) => KeptSegment::Item(fields.clone()),
                    PathSegment::Index(index) => KeptSegment::Index(*index),
                })
                .collect(),
            op: change.op,
            live: change.live.clone(),
            desired: change.desired.clone(),
        }
    }
}

impl From<KeptChange> for Change {
    fn from(kept: KeptChange) -> Self {
        Change {
            path: FieldPath(
                kept.path
                    .into_iter()
                    .map(|segment| match segment {
                        KeptSegment::Key(key) => PathSegment::Key(key),
                        KeptSegment::Item(fields) => PathSegment::Item(fields),
                        KeptSegment::Index(index) => PathSegment::Index(index),
                    })
                    .collect(),
            ),
            op: kept.op,
            live: kept.live,
            desired: kept.desired,
            live_manager: None,
            live_operation: None,
            live_time: None,
        }
    }
}

/// Where the kept indexes and comparisons are.
pub(super) struct Kept {
    indexes: PathBuf,
    pairs: PathBuf,
}

impl Kept {
    /// The kept data of the repository at `git_dir` for renders with `opts`.
    pub(super) fn new(git_dir: &Path, opts: &RenderOptions) -> Self {
        Kept {
            indexes: crate::ops::history::settings_dir(git_dir, "diff-index-v1", opts),
            pairs: git_dir.join("kubectl-gitops").join("rev-diff-v1"),
        }
    }

    /// The index of `commit`'s render, when kept by this version.
    pub(super) fn index(&self, commit: ObjectId) -> Option<SideIndex> {
        let bytes = std::fs::read(self.indexes.join(commit.to_string())).ok()?;
        serde_json::from_slice::<SideIndex>(&bytes)
            .ok()
            .filter(|index| index.version == crate::version::VERSION_LINE)
    }

    /// Keeps the index of `commit`'s render.
    pub(super) fn keep_index(&self, commit: ObjectId, index: &SideIndex) {
        gitops_git::keep_json(&self.indexes.join(commit.to_string()), index);
    }

    /// The pair's file.
    fn pair_file(&self, id: &ResourceId, (old, new): (Option<&str>, Option<&str>)) -> PathBuf {
        let key = format!(
            "rev-diff pair\n{}\n{id:?}\n{}\n{}\n",
            crate::version::VERSION_LINE,
            old.unwrap_or("-"),
            new.unwrap_or("-")
        );
        // One directory, not git's fan-out by the first two hex digits: a cold run keeps a
        // pair per differing resource, and making a hundred directories for them cost as
        // much as writing the files (ext4: kube-prometheus' cold `diff --from`, a tenth of
        // its CPU in `mkdir` and `open`).
        let name = hex(&Sha256::digest(key.as_bytes()));
        self.pairs.join(format!("{name}.json"))
    }

    /// The pair's two lines: hunks, changes.
    fn pair_lines(
        &self,
        id: &ResourceId,
        digests: (Option<&str>, Option<&str>),
    ) -> Option<(Vec<u8>, usize)> {
        let bytes = std::fs::read(self.pair_file(id, digests)).ok()?;
        let end = bytes.iter().position(|&b| b == b'\n')?;
        Some((bytes, end))
    }

    /// The kept field changes of `id` from the object of digest `old` to that of `new`
    /// (`None`: absent on that side); empty when they differ in form only.
    pub(super) fn changes(
        &self,
        id: &ResourceId,
        digests: (Option<&str>, Option<&str>),
    ) -> Option<Vec<Change>> {
        let (bytes, end) = self.pair_lines(id, digests)?;
        // `null`: not made (a comparison for text hunks only looks whether there are any).
        let kept: Option<Vec<KeptChange>> = serde_json::from_slice(&bytes[end + 1..]).ok()?;
        Some(kept?.into_iter().map(Change::from).collect())
    }

    /// The kept hunks of the pair at `context` lines, `None` for a pair that does not differ.
    pub(super) fn hunks(
        &self,
        id: &ResourceId,
        digests: (Option<&str>, Option<&str>),
        context: usize,
    ) -> Option<Option<Vec<Hunk>>> {
        // The first line alone: the changes after it can be a thousand times longer (a
        // dashboard's whole JSON), and plain text never reads them.
        let file = std::fs::File::open(self.pair_file(id, digests)).ok()?;
        let mut line = Vec::new();
        std::io::BufRead::read_until(&mut std::io::BufReader::new(file), b'\n', &mut line).ok()?;
        line.pop_if(|last| *last == b'\n')?;
        let kept: Option<KeptHunks> = serde_json::from_slice(&line).ok()?;
        let kept = kept.filter(|kept| kept.context == context)?;
        Some(kept.differs.then_some(kept.hunks))
    }

    /// Keeps a comparison (of prepared, masked objects): whether they differ, its hunks and
    /// its changes when they were made.
    pub(super) fn keep_pair(
        &self,
        id: &ResourceId,
        digests: (Option<&str>, Option<&str>),
        differs: bool,
        changes: Option<&[Change]>,
        hunks: Option<(usize, &[Hunk])>,
    ) {
        let hunks = hunks.map(|(context, hunks)| KeptHunks {
            differs,
            context,
            hunks: hunks.to_vec(),
        });
        let changes: Option<Vec<KeptChange>> =
            changes.map(|changes| changes.iter().map(KeptChange::from).collect());
        // JSON escapes line breaks inside strings: each part is one line.
        let (Ok(mut bytes), Ok(rest)) = (serde_json::to_vec(&hunks), serde_json::to_vec(&changes))
        else {
            return;
        };
        bytes.push(b'\n');
        bytes.extend(rest);
        gitops_git::keep_bytes(&self.pair_file(id, digests), &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_hashes_the_plain_ways_bytes() {
        let long = |n: usize| "x".repeat(n);
        // Many small pieces (several flushes of what is gathered), strings on both sides of
        // the direct threshold, long strings back to back and after small pieces.
        let many: serde_json::Map<String, Value> = (0..3000)
            .map(|i| {
                (
                    format!("key{i}"),
                    json!([i, i % 2 == 0, null, format!("v{i}"), 1.5]),
                )
            })
            .collect();
        let objects = [
            json!(null),
            json!({}),
            json!([]),
            json!({"a": 1, "b": [true, false, null, "s", -2.25, {"c": {}}]}),
            json!({"short": long(1023), "edge": long(1024), "long": long(70_000)}),
            json!([long(5000), long(5000), "x", long(1024), {"k": long(9000)}]),
            Value::Object(many),
        ];
        let mut digests = std::collections::BTreeSet::new();
        for object in &objects {
            let digest = digest(object);
            assert_eq!(digest, digest_plain(object), "{object:.80}");
            digests.insert(digest);
        }
        assert_eq!(
            digests.len(),
            objects.len(),
            "distinct objects, distinct digests"
        );
        // Key order is part of the encoding.
        let ab: Value = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
        let ba: Value = serde_json::from_str(r#"{"b": 2, "a": 1}"#).unwrap();
        assert_ne!(digest(&ab), digest(&ba));
        assert_eq!(digest(&ab), digest_plain(&ab));
    }
}
