//! Reading packed objects with a delta-base cache that keeps every object of a delta chain.
//!
//! A pack stores most versions of a tree or file as a delta on another object, in chains 50
//! deep and more; `git fast-import` even chains each blob on the blob written just before it,
//! whatever its path. gix's decoder caches only the object asked for, so reading the versions
//! of a file one by one walks most of the chain each time. [`PackReader`] resolves a chain from
//! its far end, one delta at a time, and keeps each object on the way (git's
//! `delta_base_cache` does the same): reading any object of a chain whose middle was seen
//! before costs the deltas above that point only, in any order.
//!
//! Objects that are not in a pack (loose objects, alternates, a pack written after the reader
//! was opened) or not decodable this way (a delta on an object named by id) are not found
//! here: the caller reads them through gix.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use gix::odb::pack;
use gix::odb::pack::cache::DecodeEntry;

/// Objects of the packs of one repository, read with a chain-keeping delta cache.
pub struct PackReader {
    bundles: Vec<pack::Bundle>,
    cache: ChainCache,
    inflate: gix::zlib::Inflate,
    /// Scratch: a chain's entries below the object asked for.
    chain: Vec<pack::data::Entry>,
    scratch: Vec<u8>,
}

/// Bytes of decoded objects a reader keeps by default.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl PackReader {
    /// Opens the packs under `objects_dir/pack` (unreadable ones are skipped: their objects are
    /// then read through gix), keeping up to `cache_bytes` of decoded objects.
    pub fn open(objects_dir: &Path, hash: gix::hash::Kind, cache_bytes: usize) -> PackReader {
        let mut indexes: Vec<std::path::PathBuf> = std::fs::read_dir(objects_dir.join("pack"))
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "idx"))
                    .collect()
            })
            .unwrap_or_default();
        indexes.sort();
        let bundles = indexes
            .iter()
            .filter_map(|idx| match pack::Bundle::at(idx, hash) {
                Ok(bundle) => Some(bundle),
                Err(error) => {
                    tracing::debug!(pack = %idx.display(), %error, "pack not opened; its objects are read through gix");
                    None
                }
            })
            .collect();
        PackReader {
            bundles,
            cache: ChainCache::new(cache_bytes),
            inflate: gix::zlib::Inflate::default(),
            chain: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Decodes `id` into `out` and returns its kind; `None` when no pack of the reader holds it
    /// or it could not be decoded here (read it through gix then).
    pub fn find(&mut self, id: &gix::oid, out: &mut Vec<u8>) -> Option<gix::object::Kind> {
        let (bundle, offset) = self.bundles.iter().enumerate().find_map(|(n, b)| {
            let index = b.index.lookup(id)?;
            Some((n, b.index.pack_offset_at_index(index)))
        })?;
        self.decode(bundle, offset, out)
    }

    fn decode(
        &mut self,
        bundle: usize,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> Option<gix::object::Kind> {
        let pack = &self.bundles[bundle].pack;
        let entry = pack.entry(offset).ok()?;
        // The entries below `entry` down to a cached one or a full object.
        self.chain.clear();
        let mut cursor = entry.clone();
        loop {
            match cursor.header {
                pack::data::entry::Header::OfsDelta { base_distance } => {
                    if self.cache.contains(bundle as u32, cursor.data_offset) {
                        break;
                    }
                    let base = pack
                        .entry(cursor.checked_base_pack_offset(base_distance)?)
                        .ok()?;
                    self.chain.push(base.clone());
                    cursor = base;
                }
                // A base named by id (a thin pack made whole): gix resolves it.
                pack::data::entry::Header::RefDelta { .. } => return None,
                _ => break,
            }
        }
        let bundle = bundle as u32;
        // From the far end up, each delta applied to the object just decoded and cached.
        for base in self.chain.iter().rev() {
            if base.header.is_delta() && !self.cache.contains(bundle, base.data_offset) {
                let (scratch, inflate) = (&mut self.scratch, &mut self.inflate);
                decode(
                    pack,
                    base.clone(),
                    scratch,
                    inflate,
                    &mut self.cache,
                    bundle,
                )?;
            }
        }
        decode(pack, entry, out, &mut self.inflate, &mut self.cache, bundle)
    }

    /// Packs opened.
    pub fn packs(&self) -> usize {
        self.bundles.len()
    }
}

/// Decodes one entry of `pack` (the reader's `bundle`) into `out` through `cache`; `None` when
/// gix cannot (a delta on a base named by id, a damaged entry).
fn decode(
    pack: &pack::data::File,
    entry: pack::data::Entry,
    out: &mut Vec<u8>,
    inflate: &mut gix::zlib::Inflate,
    cache: &mut ChainCache,
    bundle: u32,
) -> Option<gix::object::Kind> {
    let no_ref_bases =
        |_: &gix::oid, _: &mut Vec<u8>| -> gix::error::Result<Option<_>> { Ok(None) };
    let mut scoped = Scoped { cache, bundle };
    let outcome = pack
        .decode_entry(entry, out, inflate, &no_ref_bases, &mut scoped)
        .ok()?;
    Some(outcome.kind)
}

/// Decoded delta results by (pack, offset), in one ring buffer of `budget` bytes: a new
/// object overwrites the oldest ones. One allocation for the walk (none per object), freed at
/// once.
struct ChainCache {
    entries: HashMap<(u32, u64), Cached, BuildHasherDefault<OffsetHasher>>,
    /// Keys in the order their bytes were written.
    order: VecDeque<(u32, u64)>,
    ring: Vec<u8>,
    /// Where the next object's bytes go.
    head: usize,
    budget: usize,
}

struct Cached {
    start: usize,
    len: usize,
    kind: gix::object::Kind,
    compressed_size: usize,
}

impl ChainCache {
    fn new(budget: usize) -> ChainCache {
        ChainCache {
            entries: HashMap::default(),
            order: VecDeque::new(),
            ring: Vec::new(),
            head: 0,
            budget,
        }
    }

    fn contains(&self, pack: u32, offset: u64) -> bool {
        self.entries.contains_key(&(pack, offset))
    }

    /// Drops the oldest entries while `doomed` holds for the oldest one.
    fn evict_while(&mut self, doomed: impl Fn(&Cached) -> bool) {
        while let Some(oldest) = self.order.front() {
            match self.entries.get(oldest) {
                Some(cached) if !doomed(cached) => break,
                Some(_) => {
                    self.entries.remove(oldest);
                }
                None => {}
            }
            self.order.pop_front();
        }
    }
}

impl DecodeEntry for ChainCache {
    fn put(
        &mut self,
        pack_id: u32,
        offset: u64,
        data: &[u8],
        kind: gix::object::Kind,
        compressed_size: usize,
    ) {
        let len = data.len();
        if len > self.budget / 4 || self.contains(pack_id, offset) {
            return;
        }
        // Objects are written one after the other; a lap ends where the next one does not
        // fit. Then what is left of the lap before (the oldest entries) is dropped.
        let mut start = self.head;
        if start + len > self.budget {
            let tail = self.head;
            self.evict_while(|c| c.start >= tail);
            start = 0;
        }
        // The oldest entries are the next ones in the ring: those the object overlaps.
        self.evict_while(|c| c.start < start + len && start < c.start + c.len);
        if start + len <= self.ring.len() {
            self.ring[start..start + len].copy_from_slice(data);
        } else {
            // The ring grows as it is used (a short walk never touches the whole budget);
            // nothing live lies past `start` here (evicted just above).
            self.ring.truncate(start);
            if self.ring.capacity() < self.budget {
                // Reserved whole once (pages are touched only as it fills): growing by
                // doubling copied the ring and showed in profiles.
                self.ring.reserve_exact(self.budget - self.ring.len());
            }
            self.ring.extend_from_slice(data);
        }
        self.head = start + len;
        let key = (pack_id, offset);
        self.entries.insert(
            key,
            Cached {
                start,
                len,
                kind,
                compressed_size,
            },
        );
        self.order.push_back(key);
    }

    fn get(
        &mut self,
        pack_id: u32,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> Option<(gix::object::Kind, usize)> {
        let cached = self.entries.get(&(pack_id, offset))?;
        out.clear();
        out.extend_from_slice(&self.ring[cached.start..cached.start + cached.len]);
        Some((cached.kind, cached.compressed_size))
    }
}

/// The cache as one pack's decoder sees it: keyed by the reader's index of the pack, not by
/// gix's pack id (a hash of its path, which two packs could share).
struct Scoped<'c> {
    cache: &'c mut ChainCache,
    bundle: u32,
}

impl DecodeEntry for Scoped<'_> {
    fn put(
        &mut self,
        _pack_id: u32,
        offset: u64,
        data: &[u8],
        kind: gix::object::Kind,
        compressed_size: usize,
    ) {
        self.cache
            .put(self.bundle, offset, data, kind, compressed_size);
    }

    fn get(
        &mut self,
        _pack_id: u32,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> Option<(gix::object::Kind, usize)> {
        self.cache.get(self.bundle, offset, out)
    }
}

/// Pack offsets are unique per pack: a multiply-shift of the fields is hash enough (SipHash
/// showed in profiles of long walks).
#[derive(Default)]
struct OffsetHasher(u64);

impl Hasher for OffsetHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::FixtureRepo;

    /// A repo whose pack holds long delta chains (many versions of a few files, repacked).
    fn chained() -> FixtureRepo {
        let fx = FixtureRepo::new();
        let mut text = String::new();
        for i in 0..120 {
            text.push_str(&format!("line {i}: {}\n", "x".repeat(i % 7)));
            fx.write("a.yaml", &text);
            fx.write(&format!("dir/f{}.yaml", i % 5), &format!("{text}{i}\n"));
            fx.commit(&format!("c{i}"));
        }
        fx.git(&["repack", "-a", "-d", "-q", "--depth=50", "--window=50"]);
        fx
    }

    /// Every object of the pack, read in an order that starts chains in their middle, then
    /// with a cache too small to keep anything, equals gix's read.
    #[test]
    fn every_packed_object_reads_as_gix_reads_it() {
        let fx = chained();
        let repo = gix::open(fx.dir()).unwrap();
        let objects = repo.objects.store_ref().path().to_path_buf();
        let ids = all_objects(&fx);
        assert!(ids.len() > 300, "{}", ids.len());
        let deltas = fx
            .git(&["verify-pack", "-v", &pack_idx(&objects)])
            .lines()
            .filter(|l| l.split_whitespace().count() == 7)
            .count();
        assert!(deltas > 100, "the fixture must hold deltas: {deltas}");
        // A budget of a few objects makes the ring wrap many times.
        for budget in [DEFAULT_CACHE_BYTES, 0, 2048, 20_000] {
            let mut reader = PackReader::open(&objects, repo.object_hash(), budget);
            assert_eq!(reader.packs(), 1);
            let mut order = ids.clone();
            // Middle first, then both halves, newest first then oldest first.
            order.rotate_left(ids.len() / 2);
            order.extend(ids.iter().rev().copied());
            reads_as_gix(&mut reader, &repo, &order);
        }
    }

    /// Every object of the fixture's history.
    fn all_objects(fx: &FixtureRepo) -> Vec<gix::ObjectId> {
        fx.git(&["rev-list", "--objects", "--all"])
            .lines()
            .map(|l| gix::ObjectId::from_hex(&l.as_bytes()[..40]).unwrap())
            .collect()
    }

    /// Reads `ids` in that order through `reader`: each packed, of gix's kind and bytes.
    fn reads_as_gix(reader: &mut PackReader, repo: &gix::Repository, ids: &[gix::ObjectId]) {
        let mut out = Vec::new();
        for &id in ids {
            let kind = reader.find(&id, &mut out).expect("packed");
            let want = repo.find_object(id).unwrap();
            assert_eq!(kind, want.kind, "{id}");
            assert!(out == want.data, "{id} differs");
        }
    }

    /// Whatever the cache still answers is what was put, across many laps of the ring.
    #[test]
    fn ring_answers_only_what_was_put() {
        let mut cache = ChainCache::new(1000);
        let mut out = Vec::new();
        let data = |i: u64| -> Vec<u8> { vec![(i % 251) as u8; (i as usize * 37) % 240 + 1] };
        for i in 0..5000u64 {
            cache.put(1, i, &data(i), gix::object::Kind::Blob, i as usize);
            let mut present = 0;
            for j in i.saturating_sub(50)..=i {
                if let Some((kind, size)) = cache.get(1, j, &mut out) {
                    present += 1;
                    assert_eq!((kind, size), (gix::object::Kind::Blob, j as usize));
                    assert_eq!(out, data(j), "entry {j} after putting {i}");
                }
            }
            // The newest entry is always there; the ring keeps a few more.
            assert!(cache.contains(1, i));
            assert!(present >= 1);
            assert!(cache.ring.len() <= 1000);
        }
    }

    /// Objects spread over two packs (the second with deltas on objects of its own) read as
    /// gix reads them: each pack's offsets are its own in the cache.
    #[test]
    fn objects_of_two_packs_read_as_gix_reads_them() {
        let fx = chained();
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("more {i}\n"));
            fx.write("a.yaml", &text);
            fx.commit(&format!("d{i}"));
        }
        fx.git(&["repack", "-d", "-q"]);
        let repo = gix::open(fx.dir()).unwrap();
        let objects = repo.objects.store_ref().path().to_path_buf();
        let mut reader = PackReader::open(&objects, repo.object_hash(), DEFAULT_CACHE_BYTES);
        assert_eq!(reader.packs(), 2);
        reads_as_gix(&mut reader, &repo, &all_objects(&fx));
    }

    #[test]
    fn objects_outside_packs_are_not_found() {
        let fx = chained();
        fx.write("new.yaml", "loose: 1\n");
        fx.commit("loose");
        let repo = gix::open(fx.dir()).unwrap();
        let objects = repo.objects.store_ref().path().to_path_buf();
        let mut reader = PackReader::open(&objects, repo.object_hash(), DEFAULT_CACHE_BYTES);
        let head = repo.head_id().unwrap().detach();
        let mut out = Vec::new();
        assert_eq!(reader.find(&head, &mut out), None);
        // A directory without packs.
        let mut empty = PackReader::open(fx.dir(), repo.object_hash(), DEFAULT_CACHE_BYTES);
        assert_eq!(empty.packs(), 0);
        assert_eq!(empty.find(&head, &mut out), None);
    }

    fn pack_idx(objects: &Path) -> String {
        std::fs::read_dir(objects.join("pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .unwrap()
            .display()
            .to_string()
    }
}
