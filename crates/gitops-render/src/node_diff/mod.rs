//! Which documents of a YAML file changed between two versions, from their text and a parse of
//! only the nodes that differ.
//!
//! A history walk meets thousands of versions of large generated files (a CRD is 10,000 lines;
//! kube-prometheus has nine, changed ~900 times in all) where a commit adds a field or
//! rewrites a description. [`super::scalar_diff`] proves the common one-line edits without
//! parsing; anything that adds or removes lines used to parse both whole versions.
//! [`changed_documents`] parses only the smallest block node enclosing each difference:
//!
//! - the texts are compared from the start; at the first difference, the enclosing node is
//!   the nearest line before it indented less than the first content line at (or after) the
//!   difference on either side, and it ends, on each side, at the first content line indented
//!   no deeper (a compact sequence `- ` at the header's indentation stays inside a `key:`
//!   header); the comparison goes on after it;
//! - both versions of a node are parsed on their own with the real parser; values that differ
//!   prove the document changed: everything before the node is the same text, so the node sits
//!   at the same place in both values. When the "node" is really a run of lines inside a block
//!   or multi-line scalar, their texts differ, and so does that scalar. Equal values prove
//!   nothing (the lines may be a block scalar's, read as a comment): not proven;
//! - once a document is proven changed, its later nodes are only located, not parsed.
//!
//! Every difference lies in such a node, below the top level and outside `metadata`'s own
//! entries: the documents' boundaries, `apiVersion`, `kind`, `metadata.name` and
//! `metadata.namespace` are then the same text in both versions, so each document keeps its
//! identity. Anything else — a difference at the top level or in `metadata`'s entries, a node
//! that does not parse alone (an alias to an anchor outside it, a multi-line flow collection
//! cut at its closing line), escapes in a possibly quoted scalar, tabs in indentation, too many
//! nodes — answers `None`: the caller parses both versions, as before.

mod by_documents;
mod by_items;
mod by_nodes;
mod compare;
mod entries;
mod line_index;
mod literal;

use by_documents::by_documents;
use by_items::by_items;
use by_nodes::by_nodes;
pub use line_index::LineIndex;
use line_index::Lines;

/// What [`changed_documents`] proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedDocuments {
    /// For each document given, whether its value differs in the old version.
    pub modified: Vec<bool>,
    /// For each document given, its content lines (from 1) in the old version; `None` for
    /// an item added to a list document (not in the old version).
    pub old_lines: Vec<Option<(usize, usize)>>,
}

/// For each document of `new` (its content lines `docs`, from 1, as the parser numbers them),
/// whether its value differs from the same document of `old`, and where that document is in
/// `old`; `None` when that is not proven (module docs).
pub fn changed_documents(
    old: &[u8],
    new: &[u8],
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    changed_documents_indexed(
        (old, &LineIndex::new(old)?),
        (new, &LineIndex::new(new)?),
        docs,
    )
}

/// [`changed_documents`] with each version's [`LineIndex`] given (built from that text).
pub fn changed_documents_indexed(
    (old, old_index): (&[u8], &LineIndex),
    (new, new_index): (&[u8], &LineIndex),
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    let old = Lines::new(old, old_index)?;
    let new = Lines::new(new, new_index)?;
    by_nodes(&old, &new, old_index, docs).or_else(|| {
        // Both versions' documents, read once for both ways below.
        let spans = (old.document_spans()?, new.document_spans()?);
        by_documents(&old, &new, &spans, docs).or_else(|| by_items(&old, &new, &spans, docs))
    })
}

/// Each version's documents, old then new ([`Lines::document_spans`]).
type Spans = (Vec<(usize, usize)>, Vec<(usize, usize)>);

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::line_index::leading_spaces;
    use super::literal::{Literal, literal_block, split_lines};
    use super::*;
    use crate::documents::{Format, parse, parse_yaml_document};

    /// The plain way: each document parsed whole, compared by value.
    fn by_parsing(old: &str, new: &str) -> Vec<bool> {
        let a = parse(Format::Yaml, old.as_bytes()).unwrap();
        let b = parse(Format::Yaml, new.as_bytes()).unwrap();
        assert_eq!(a.len(), b.len());
        a.iter().zip(&b).map(|(a, b)| a.value != b.value).collect()
    }

    fn docs(text: &str) -> Vec<(usize, usize)> {
        parse(Format::Yaml, text.as_bytes())
            .unwrap()
            .iter()
            .map(|d| (d.line, d.end_line))
            .collect()
    }

    /// Asserts that a proof, when given, equals the plain way.
    fn check(old: &str, new: &str) -> Option<Vec<bool>> {
        let proven = changed_documents(old.as_bytes(), new.as_bytes(), &docs(new))?;
        assert_eq!(proven.modified, by_parsing(old, new), "{old}\n=>\n{new}");
        let old_docs: Vec<_> = docs(old).into_iter().map(Some).collect();
        assert_eq!(proven.old_lines, old_docs);
        Some(proven.modified)
    }

    const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.13.0
  name: things.example.com
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            description: |-
              The spec.
              Two lines.
            properties:
              a:
                type: string
              c:
                description: C is
                  folded over lines.
                type: integer
            type: object
        type: object
    served: true
";

    #[test]
    fn lines_added_in_a_nested_mapping_change_the_document() {
        let new = CRD.replace(
            "              c:\n",
            "              b:\n                type: boolean\n              c:\n",
        );
        assert_eq!(check(CRD, &new), Some(vec![true]));
    }

    #[test]
    fn block_and_folded_scalars_compare_by_value() {
        let literal = CRD.replace(
            "              Two lines.\n",
            "              Three\n              lines.\n",
        );
        assert_eq!(check(CRD, &literal), Some(vec![true]));
        let folded = CRD.replace(
            "C is\n                  folded over lines.",
            "C is folded\n                  over lines.",
        );
        // The same value: neutral.
        assert_eq!(check(CRD, &folded), Some(vec![false]));
        let reordered = CRD.replace(
            "              a:\n                type: string\n              c:\n                description: C is\n                  folded over lines.\n                type: integer\n",
            "              c:\n                type: integer\n                description: C is folded over lines.\n              a:\n                type: string\n",
        );
        assert_eq!(check(CRD, &reordered), Some(vec![false]));
    }

    #[test]
    fn identity_changes_are_left_to_the_parser() {
        for new in [
            CRD.replace("  name: things.example.com", "  name: other.example.com"),
            CRD.replace("kind: CustomResourceDefinition", "kind: Other"),
            CRD.replace("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"),
            format!("{CRD}---\n{CRD}"),
            format!("--- !tag\n{CRD}"),
        ] {
            assert_eq!(check(CRD, &new), None, "{new}");
        }
        // Annotations are below metadata's own entries; metadata's other entries compare
        // while those that make the identity stay the same text.
        let annotated = CRD.replace("v0.13.0", "v0.14.0\n    extra: x");
        assert_eq!(check(CRD, &annotated), Some(vec![true]));
        let labelled = CRD.replace("  name: things", "  labels:\n    a: b\n  name: things");
        assert_eq!(check(CRD, &labelled), Some(vec![true]));
        let namespaced = CRD.replace("  name: things", "  namespace: x\n  name: things");
        assert_eq!(check(CRD, &namespaced), None);
    }

    /// A difference at the top level (an entry added or removed, as a newer generator drops
    /// a CRD's `status:`): each document compared by its top-level entries, equal to parsing.
    #[test]
    fn top_level_entries_compare_document_by_document() {
        let status = format!("{CRD}status:\n  acceptedNames:\n    kind: \"\"\n  conditions: []\n");
        assert_eq!(check(&status, CRD), Some(vec![true]));
        assert_eq!(check(CRD, &status), Some(vec![true]));
        let commented = CRD.replace("spec:\n  versions:", "# a comment\nspec:\n  versions:");
        assert_eq!(check(CRD, &commented), Some(vec![false]));
        let both = status.replace("v0.13.0", "v0.14.0").replace(
            "    served: true\n",
            "    served: true\n    storage: true\n",
        );
        assert_eq!(
            check(
                &status,
                &both.replace(
                    "status:\n  acceptedNames:\n    kind: \"\"\n  conditions: []\n",
                    ""
                )
            ),
            Some(vec![true])
        );
        // Two documents: the second one's top level changes, the first stays.
        let two = format!("{CRD}---\n{}", CRD.replace("things", "others"));
        let second = format!(
            "{CRD}---\n{}status: {{}}\n",
            CRD.replace("things", "others")
        );
        assert_eq!(check(&two, &second), Some(vec![false, true]));
        // Keys reordered at the top level: the same value.
        let reordered = CRD.replace(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n",
            "kind: CustomResourceDefinition\napiVersion: apiextensions.k8s.io/v1\n",
        );
        assert_eq!(
            check(&format!("{CRD}x: 1\n"), &format!("{reordered}x: 1\n")),
            Some(vec![false])
        );
        // Metadata's identity moved under other text: left to the parser.
        let named = CRD.replace(
            "  name: things.example.com\n",
            "  name: things.example.com\n  namespace: x\n",
        );
        assert_eq!(check(&status, &named), None);
    }

    /// `rules:` then `- apiGroups:` at the same column (an indentless sequence, as kubectl and
    /// kustomize write it): items added, removed or edited are the `rules` entry's change,
    /// equal to parsing; a change at the top level proper (a key added after the sequence, an
    /// item of `items`) is still left to the parser.
    #[test]
    fn items_of_indentless_sequences_change_their_key() {
        const ROLE: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
- apiGroups:
  - \"\"
  resources:
  - pods
  verbs:
  - list
- apiGroups:
  - apps
  resources:
  - deployments
  verbs:
  - get
";
        let removed = ROLE.replace(
            "  verbs:\n  - list\n- apiGroups:\n  - apps\n",
            "  verbs:\n  - list\n  - watch\n- apiGroups:\n  - batch\n",
        );
        assert_eq!(check(ROLE, &removed), Some(vec![true]));
        let appended =
            format!("{ROLE}- apiGroups:\n  - batch\n  resources:\n  - jobs\n  verbs:\n  - get\n");
        assert_eq!(check(ROLE, &appended), Some(vec![true]));
        assert_eq!(check(&appended, ROLE), Some(vec![true]));
        let first_dropped = ROLE.replace(
            "- apiGroups:\n  - \"\"\n  resources:\n  - pods\n  verbs:\n  - list\n",
            "",
        );
        assert_eq!(check(ROLE, &first_dropped), Some(vec![true]));
        // The same rules written again with a comment between items: no change.
        let commented = ROLE.replace("  - list\n- apiGroups:", "  - list\n# apps\n- apiGroups:");
        assert_eq!(check(ROLE, &commented), Some(vec![false]));
        // A top-level key after the sequence is not one of its items: the document's
        // top-level entries compare.
        assert_eq!(
            check(ROLE, &format!("{ROLE}aggregationRule: {{}}\n")),
            Some(vec![true])
        );
        // An item appended to `items:` of a list document: that item added.
        let list = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n";
        let more = format!("{list}- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n");
        assert_eq!(
            check_list(list, &more),
            Some(vec![(false, false), (true, false)])
        );
    }

    #[test]
    fn several_documents_and_several_nodes() {
        let two = format!("{CRD}---\n{}", CRD.replace("things", "others"));
        let new = two.replacen(
            "                type: string\n",
            "                type: string\n                format: date\n",
            2,
        );
        assert_eq!(check(&two, &new), Some(vec![true, true]));
        let second_only = format!(
            "{CRD}---\n{}",
            CRD.replace("things", "others")
                .replace("served: true", "served: false\n    storage: true")
        );
        assert_eq!(check(&two, &second_only), Some(vec![false, true]));
        // A change, then lines whose node starts before it (found in the runs) and one that
        // only rewraps a scalar: located, not parsed.
        let both = CRD
            .replace("type: string", "type: number")
            .replace("C is\n                  folded over lines.", "C is folded\n                  over lines.")
            .replace("            type: object\n        type", "            type: object\n            x-kubernetes-preserve-unknown-fields: true\n        type");
        assert_eq!(check(CRD, &both), Some(vec![true]));
    }

    #[test]
    fn nodes_that_do_not_parse_alone_are_not_proven() {
        let flow = "a: 1\nb:\n  args: [\n    x,\n    y\n  ]\n";
        let new = flow.replace("    y\n", "    z\n");
        // Cut at its closing line by the nodes; compared whole as its entry by the
        // documents' top-level entries.
        assert_eq!(check(flow, &new), Some(vec![true]));
        let anchored = "a: &x [\n  1\n]\nb: *x\n";
        assert_eq!(check(anchored, &anchored.replace("  1", "  2")), None);
        let alias = "a: &x 1\nb:\n  c:\n    d: *x\n    e: 1\n";
        assert_eq!(check(alias, &alias.replace("e: 1", "e: *x")), None);
        // Entries other than the changed one are not parsed.
        assert_eq!(
            check(alias, &alias.replace("e: 1", "e: 2")),
            Some(vec![true])
        );
        // In a block scalar, `# x` is text (read alone, a comment): the node is the scalar's
        // entry.
        let script = "a:\n  run: |\n    echo\n      x # one\n";
        assert_eq!(
            check(script, &script.replace("one", "two")),
            Some(vec![true])
        );
        // Lines of a quoted scalar are no node either; the scalar's own entry is.
        let quoted = "a:\n  b: \"x\n    \\x41\"\n";
        assert_eq!(
            check(quoted, &quoted.replace("\\x41", "A")),
            Some(vec![false])
        );
        assert_eq!(
            check(quoted, &quoted.replace("\\x41", "B")),
            Some(vec![true])
        );
        // Equal values, but the anchor an alias names moved.
        let anchors = "a:\n  b: &x 1\n  c: &y 2\nd: *x\n";
        assert_eq!(
            check(
                anchors,
                &anchors.replace("&x 1", "&y 1").replace("&y 2", "&x 2")
            ),
            None
        );
        let tabs = "a:\n\tb: 1\n";
        assert!(changed_documents(tabs.as_bytes(), b"a:\n\tb: 2\n", &[(1, 2)]).is_none());
    }

    /// The items of a list document's two versions, compared as the proof compares them.
    /// The same items in the same order: each modified or not ([`check_list`], which
    /// compares with parsing).
    fn check_items(old: &str, new: &str) -> Option<Vec<bool>> {
        let proven = check_list(old, new)?;
        assert!(proven.iter().all(|(added, _)| !added), "{old}\n=>\n{new}");
        Some(proven.into_iter().map(|(_, modified)| modified).collect())
    }

    const LIST: &str = "\
apiVersion: v1
kind: ConfigMapList
items:
- apiVersion: v1
  data:
    a.json: |-
      {
        \"a\": 1
      }
  kind: ConfigMap
  metadata:
    name: one
- apiVersion: v1
  data:
    b.json: |-
      {}
  kind: ConfigMap
  metadata:
    labels:
      x: y
    name: two
";

    #[test]
    fn list_items_are_resources_of_their_own() {
        let data = LIST.replace("\"a\": 1", "\"a\": 1,\n        \"b\": 2");
        assert_eq!(check_items(LIST, &data), Some(vec![true, false]));
        let entry = LIST.replace("      {}\n", "      {}\n    c.json: |-\n      []\n");
        assert_eq!(check_items(LIST, &entry), Some(vec![false, true]));
        let labels = LIST.replace("      x: y\n", "      x: y\n      z: w\n");
        assert_eq!(check_items(LIST, &labels), Some(vec![false, true]));
        // An item's identity, the list's own keys, an item added: parsed.
        for new in [
            LIST.replace("name: two", "name: three"),
            LIST.replace(
                "  kind: ConfigMap\n  metadata:\n    name: one",
                "  kind: Secret\n  metadata:\n    name: one",
            ),
            LIST.replace("    labels:\n", "    namespace: x\n    labels:\n"),
            LIST.replace("kind: ConfigMapList", "kind: List"),
        ] {
            let proven = changed_documents(
                LIST.as_bytes(),
                new.as_bytes(),
                &parse(Format::Yaml, new.as_bytes()).unwrap()[0].item_lines,
            );
            assert_eq!(proven, None, "{new}");
        }
        let four =
            format!("{LIST}- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: four\n");
        assert_eq!(
            check_list(LIST, &four),
            Some(vec![(false, false), (false, false), (true, false)])
        );
        // A document is no node: metadata first, its entries changed.
        let first = "metadata:\n  name: a\n  labels:\n    x: y\nkind: ConfigMap\napiVersion: v1\n";
        assert_eq!(
            check(first, &first.replace("x: y", "x: z")),
            Some(vec![true])
        );
        assert_eq!(
            check(first, &first.replace("  labels:", "  annotations:")),
            Some(vec![true])
        );
        assert_eq!(check(first, &first.replace("  name: a", "  name: b")), None);
    }

    /// Block scalar headers, lines before the content, and contents (each indented 4 or more)
    /// that the literal block tests combine: usual ones and each unusual case.
    const LITERAL_HEADERS: [&str; 5] = ["|", "|-", "|+", "|2", ">"];
    const LITERAL_LEADS: [&str; 4] = ["", "\n", "  \n", "      \n"];
    const LITERAL_BODIES: [&str; 17] = [
        "    a\n",
        "    a\n      b\n",
        "    a\n\n    b\n",
        "    # not a comment\n    x: y\n",
        "    a\n    \n",
        "    a\n      \n",
        "    a\n\n\n",
        "    a\n\n",
        "    a\n  # trailing\n",
        "    a\n   b\n",
        "    a\tb\n     \tc\n",
        "      a\n",
        "    b\n",
        "    a\r\n",
        "    a",
        "",
        "    a\n    b",
    ];

    /// The literal block scalars [`literal_block`] reads have the value the parser gives;
    /// those it leaves to the parser are the unusual ones.
    #[test]
    fn literal_blocks_read_as_the_parser_reads_them() {
        let mut read = 0;
        for chomp in LITERAL_HEADERS {
            for lead in LITERAL_LEADS {
                for body in LITERAL_BODIES {
                    for indent in ["", "  "] {
                        let text = format!("{indent}key: {chomp}\n{lead}{body}");
                        let parsed = parse_yaml_document(&text).ok().flatten();
                        if let Some((key, value)) = literal_block(&text) {
                            assert_eq!(parsed, Some(serde_json::json!({ key: value })), "{text:?}");
                            read += 1;
                        }
                    }
                }
            }
        }
        assert!(read >= 60, "{read}");
        assert_eq!(literal_block("- key: |\n  a\n"), None);
    }

    /// Literal blocks compared line by line ([`Literal`]) differ exactly where the values
    /// [`literal_block`] builds differ, and are read where it reads them.
    #[test]
    fn literal_blocks_compare_as_their_values() {
        let mut texts = Vec::new();
        for key in ["key", "other"] {
            for chomp in LITERAL_HEADERS {
                for lead in LITERAL_LEADS {
                    for body in LITERAL_BODIES {
                        texts.push(format!("  {key}: {chomp}\n{lead}{body}"));
                    }
                }
            }
        }
        let mut compared = 0;
        for a in &texts {
            assert_eq!(
                Literal::of(a).is_some(),
                literal_block(a).is_some(),
                "{a:?}"
            );
            for b in &texts {
                if let (Some(x), Some(y)) = (Literal::of(a), Literal::of(b)) {
                    let plain = literal_block(a) != literal_block(b);
                    assert_eq!(x.differs(&y), plain, "{a:?} {b:?}");
                    compared += usize::from(plain);
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// Nodes compared below their first level: entries of entries, items of sequences with
    /// as many items on both sides, a compact sequence under a key, literal blocks; each
    /// equal to parsing.
    #[test]
    fn nested_nodes_compare_as_parsed() {
        let two = CRD.replace(
            "    served: true\n",
            "    served: true\n  - name: v2\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-list:\n        - a\n        - b\n    served: false\n",
        );
        for (from, to) in [
            ("        - b\n", "        - b\n        - c\n"),
            ("        - b\n", "        - c\n"),
            ("        - b\n", "        - 'b'\n"),
            ("        - a\n", "        # a comment\n        - a\n"),
            ("              Two lines.\n", "              Two lines.\n\n"),
            ("              Two lines.\n", "              Two  lines.\n"),
            ("description: |-\n", "description: |\n"),
            (
                "    served: false\n",
                "    served: false\n    deprecated: true\n",
            ),
        ] {
            let new = two.replace(from, to);
            assert_ne!(new, two);
            assert!(check(&two, &new).is_some(), "{to}");
        }
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    ports:\n    - containerPort: 80\n    image: x\n";
        for (from, to) in [
            (
                "    - containerPort: 80\n",
                "    - containerPort: 80\n    - containerPort: 81\n",
            ),
            ("containerPort: 80", "containerPort: 0x50"),
            ("    image: x\n", "    image: x\n    args:\n    - run\n"),
        ] {
            assert!(check(pod, &pod.replace(from, to)).is_some(), "{to}");
        }
        assert_eq!(check(pod, &pod.replace("80", "0x50")), Some(vec![false]));
    }

    /// A list document's items proven against parsing both versions, items matched by
    /// identity: each new item added (not in the old list) or modified or not, and where it
    /// was.
    fn check_list(old: &str, new: &str) -> Option<Vec<(bool, bool)>> {
        let (a, b) = (
            &parse(Format::Yaml, old.as_bytes()).unwrap()[0],
            &parse(Format::Yaml, new.as_bytes()).unwrap()[0],
        );
        let proven = changed_documents(old.as_bytes(), new.as_bytes(), &b.item_lines)?;
        let items = |d: &crate::documents::Document| {
            crate::documents::list_items(&d.value)
                .unwrap()
                .unwrap()
                .to_vec()
        };
        let identity = |v: &Value| {
            (
                v["apiVersion"].clone(),
                v["kind"].clone(),
                v["metadata"]["name"].clone(),
                v["metadata"]["namespace"].clone(),
            )
        };
        let (x, y) = (items(a), items(b));
        let mut expected = Vec::new();
        for item in &y {
            match x.iter().position(|o| identity(o) == identity(item)) {
                Some(at) => expected.push((Some(a.item_lines[at]), &x[at] != item)),
                None => expected.push((None, false)),
            }
        }
        // Every old item is still there: the proof never hides a removal.
        assert_eq!(
            expected.iter().filter(|(lines, _)| lines.is_some()).count(),
            x.len(),
            "{old}\n=>\n{new}"
        );
        let got: Vec<_> = proven
            .old_lines
            .iter()
            .copied()
            .zip(proven.modified.iter().copied())
            .collect();
        let want: Vec<_> = expected
            .iter()
            .map(|(lines, m)| (*lines, lines.is_some() && *m))
            .collect();
        assert_eq!(got, want, "{old}\n=>\n{new}");
        Some(
            expected
                .iter()
                .map(|(lines, m)| (lines.is_none(), *m))
                .collect(),
        )
    }

    /// Items added to a list document (a dashboard added to a `ConfigMapList`), alone or with
    /// others modified; an item removed or renamed stays with the parser.
    #[test]
    fn list_items_added_are_proven_by_their_text() {
        let item = |name: &str, data: &str| {
            format!(
                "- apiVersion: v1\n  data:\n    {name}.json: |-\n      {data}\n  kind: ConfigMap\n  metadata:\n    name: {name}\n"
            )
        };
        let list = |items: &[String]| {
            format!(
                "apiVersion: v1\nitems:\n{}kind: ConfigMapList\n",
                items.concat()
            )
        };
        let (a, b, c, d) = (
            item("a", "{}"),
            item("b", "[1]"),
            item("c", "{\"x\": 1}"),
            item("d", "2"),
        );
        let old = list(&[a.clone(), c.clone()]);
        // Added in the middle, at the end, at the start.
        assert_eq!(
            check_list(&old, &list(&[a.clone(), b.clone(), c.clone()])),
            Some(vec![(false, false), (true, false), (false, false)])
        );
        assert_eq!(
            check_list(&old, &list(&[a.clone(), c.clone(), d.clone()])),
            Some(vec![(false, false), (false, false), (true, false)])
        );
        assert_eq!(
            check_list(&old, &list(&[b.clone(), a.clone(), c.clone()])),
            Some(vec![(true, false), (false, false), (false, false)])
        );
        // Added, and another modified.
        let c2 = item("c", "{\"x\": 2}");
        assert_eq!(
            check_list(&old, &list(&[a.clone(), b.clone(), c2.clone()])),
            Some(vec![(false, false), (true, false), (false, true)])
        );
        // Modified in a way that parses the same: a comment, a key written another way.
        let a2 = a.replace("  kind: ConfigMap\n", "  # the kind\n  kind: ConfigMap\n");
        assert_eq!(
            check_list(&old, &list(&[a2, b.clone(), c.clone()])),
            Some(vec![(false, false), (true, false), (false, false)])
        );
        // Removed, renamed, or the text around the items changed: not proven.
        for new in [
            list(std::slice::from_ref(&a)),
            list(&[a.clone(), item("e", "{\"x\": 1}")]),
            list(&[a.clone(), b.clone(), c.clone()]).replace("kind: ConfigMapList", "kind: List"),
            format!(
                "{}---\n{}",
                list(&[a.clone(), b.clone(), c.clone()]),
                list(std::slice::from_ref(&d))
            ),
        ] {
            let docs = &parse(Format::Yaml, new.as_bytes()).unwrap()[0].item_lines;
            assert_eq!(
                changed_documents(old.as_bytes(), new.as_bytes(), docs),
                None,
                "{new}"
            );
        }
    }

    #[test]
    fn split_lines_splits_as_split() {
        for text in ["", "\n", "a", "a\n", "a\nb", "\n\n b\n", "\u{e9}\n\u{e9}"] {
            let plain: Vec<&str> = text.split('\n').collect();
            assert_eq!(split_lines(text).collect::<Vec<_>>(), plain, "{text:?}");
        }
    }

    #[test]
    fn leading_spaces_counts_as_one_by_one() {
        for n in 0..40 {
            for tail in ["", "a", "\t", " \u{e9}", "\n  "] {
                let text = format!("{}{tail}", " ".repeat(n));
                let plain = text.bytes().take_while(|b| *b == b' ').count();
                assert_eq!(leading_spaces(text.as_bytes()), plain, "{text:?}");
            }
        }
    }

    /// An index as its parts, parents built: equal parts, equal indexes.
    fn parts(index: &LineIndex) -> (usize, Vec<u32>, Vec<u16>, Vec<u32>) {
        let parents = index.parents().0.to_vec();
        (
            index.len,
            index.starts.clone(),
            index.indents.clone(),
            parents,
        )
    }

    /// The index derived from a neighbouring version equals the one built from the text, for
    /// every replacement of a range of a few texts (line breaks, indentation, comments, tabs,
    /// multi-byte and invalid UTF-8, no final line break), both ways.
    #[test]
    fn derived_indexes_equal_built_ones() {
        let bases: [&[u8]; 4] = [
            b"a:\n  b: 1\n  # c\n\n  d:\n  - e\n",
            "k: \u{e9}t\u{e9}\n  - x\nz: 2".as_bytes(),
            b"\n\n  x: |\n    t\n",
            b"",
        ];
        let inserts: [&[u8]; 9] = [
            b"",
            b"x",
            b"\n",
            b"\n  y: 1\n",
            b"  ",
            b"#",
            b"\t",
            "\u{e9}".as_bytes(),
            b"\xff",
        ];
        let mut derived = 0;
        for base in bases {
            for i in 0..=base.len() {
                for j in i..=base.len() {
                    for insert in inserts {
                        let edited = [&base[..i], insert, &base[j..]].concat();
                        for (old, new) in [(base, &edited[..]), (&edited[..], base)] {
                            let Some(old_index) = LineIndex::new(old) else {
                                continue;
                            };
                            let built = LineIndex::new(new);
                            let from = LineIndex::derived((old, &old_index), new);
                            assert_eq!(
                                from.as_ref().map(parts),
                                built.as_ref().map(parts),
                                "{:?} => {:?}",
                                String::from_utf8_lossy(old),
                                String::from_utf8_lossy(new),
                            );
                            derived += usize::from(from.is_some());
                        }
                    }
                }
            }
        }
        assert!(derived > 10_000, "{derived}");
        // An index given with another text than its own is not used.
        let index = LineIndex::new(b"a: 1\n").unwrap();
        assert_eq!(
            LineIndex::derived((b"a: 12\n", &index), b"b:\n  c: 1\n").map(|i| parts(&i)),
            LineIndex::new(b"b:\n  c: 1\n").map(|i| parts(&i))
        );
        assert!(Lines::new(b"a: 12\n", &index).is_none());
    }

    /// Documents' spans read from the line index equal the parser's split, or are `None`.
    #[test]
    fn document_spans_equal_the_parser_split() {
        let mut read = 0;
        for text in [
            "a: 1\n",
            "a: 1\n---\nb: 2\n",
            "---\na: 1\n---\nb: 2\n  c: 3\n",
            "# head\n---\na: 1\n# tail\n--- # two\n\nb: |\n  ---\n  x\n",
            "a: 1\n---\n",
            "---\n---\na: 1\n",
            "--- !tag\na: 1\n",
            "a: 1\n...\n---\nb: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "----\na: 1\n",
            "",
        ] {
            let index = LineIndex::new(text.as_bytes()).unwrap();
            let lines = Lines::new(text.as_bytes(), &index).unwrap();
            let split: Option<Vec<(usize, usize)>> = crate::documents::split_documents(text)
                .iter()
                .map(|s| s.content)
                .collect();
            if let Some(spans) = lines.document_spans() {
                assert_eq!(Some(spans), split, "{text:?}");
                read += 1;
            }
        }
        assert!(read >= 6, "{read}");
    }

    #[test]
    fn identical_texts_change_nothing() {
        assert_eq!(check(CRD, CRD), Some(vec![false]));
    }
}
