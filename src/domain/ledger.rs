//! The investor audit ledger (SPEC §5), as a transparency log that existing tools can check:
//! each entry (a closed period's output figures, a correction, a supplement for late records)
//! is one canonical byte string (RFC 8785 JSON), hashed with the previous entry's hash and
//! signed with the plant's Ed25519 key; the entries are the leaves of an RFC 6962 / RFC 9162
//! Merkle tree (SHA-256, 0x00 leaf and 0x01 node prefixes) with inclusion and consistency
//! proofs; each tree head is a C2SP `tlog-checkpoint` signed as a C2SP `signed-note`, byte for
//! byte as those texts define them, so `golang.org/x/mod/sumdb/note` and transparency-dev
//! verifiers accept what the MES writes.
//!
//! Pure: no I/O, no clock, no randomness (a key is made from 32 bytes the caller draws).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The version of the entry format; a change to what an entry holds is a new schema.
pub const SCHEMA: u32 = 1;

/// Why a ledger value is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A value could not be put in canonical form.
    #[error("canonical JSON: {0}")]
    Canonical(String),
    /// A key, note or checkpoint does not parse.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What was read.
        what: &'static str,
        /// Why it is refused.
        why: String,
    },
    /// A signature does not verify with the key.
    #[error("the signature of {what} does not verify with key {key}")]
    BadSignature {
        /// What was signed.
        what: String,
        /// The key's name and id.
        key: String,
    },
    /// A proof does not verify.
    #[error("{0}")]
    Proof(String),
}

fn malformed(what: &'static str, why: impl Into<String>) -> LedgerError {
    LedgerError::Malformed { what, why: why.into() }
}

/// The RFC 8785 canonical JSON of `value`: the same figures always give the same bytes.
pub fn canonical(value: &impl Serialize) -> Result<Vec<u8>, LedgerError> {
    serde_jcs::to_vec(value).map_err(|e| LedgerError::Canonical(e.to_string()))
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The RFC 6962 leaf hash of an entry's bytes: SHA-256(0x00 ‖ bytes).
pub fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of lower-case or upper-case hex.
pub fn unhex(text: &str) -> Result<Vec<u8>, LedgerError> {
    if !text.len().is_multiple_of(2) {
        return Err(malformed("hex", "odd length"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| malformed("hex", e.to_string())))
        .collect()
}

/// The log: every entry's canonical bytes, in order, as the leaves of an RFC 6962 tree.
///
/// Keeps the hash of every aligned perfect subtree (level `h`, index `i` covers leaves
/// `[i·2ʰ, (i+1)·2ʰ)`), which no later leaf changes; so the root, audit paths and consistency
/// proofs of the tree at *any* earlier size are a few hashes each, not a rebuild. A plant with a
/// checkpoint per entry verifies every checkpoint in O(n log n), not O(n²). ct-merkle's
/// `MemoryBackedTree` proves only at its current size; it stays the verifier
/// ([`verify_inclusion`], [`verify_consistency`]) and the reference the tests compare with.
#[derive(Debug, Clone, Default)]
pub struct Log {
    levels: Vec<Vec<[u8; 32]>>,
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two below `n` (`n` ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

impl Log {
    /// The log of these leaves, in order.
    pub fn new(leaves: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let mut log = Self::default();
        for leaf in leaves {
            log.push(&leaf);
        }
        log
    }

    /// Appends one entry's bytes.
    pub fn push(&mut self, leaf: &[u8]) {
        self.push_hash(leaf_hash(leaf));
    }

    /// The log of these leaf hashes (as stored beside each entry): what proofs are served
    /// from without reading every entry's bytes. The proofs are only as good as the hashes;
    /// whoever checks one against a signed checkpoint finds out.
    pub fn from_leaf_hashes(hashes: impl IntoIterator<Item = [u8; 32]>) -> Self {
        let mut log = Self::default();
        for h in hashes {
            log.push_hash(h);
        }
        log
    }

    fn push_hash(&mut self, hash: [u8; 32]) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(hash);
        let mut h = 0;
        while self.levels[h].len().is_multiple_of(2) {
            let n = self.levels[h].len();
            let node = node_hash(&self.levels[h][n - 2], &self.levels[h][n - 1]);
            if self.levels.len() == h + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[h + 1].push(node);
            h += 1;
        }
    }

    /// Leaves in the log.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size() {
            return Err(LedgerError::Proof(format!("the log has {} entries, not {size}", self.size())));
        }
        Ok(())
    }

    /// MTH(D[lo:hi]) of RFC 6962 §2.1, from the stored perfect subtrees.
    fn mth(&self, lo: u64, hi: u64) -> [u8; 32] {
        let n = hi - lo;
        if n == 0 {
            return sha256(&[]);
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let h = n.trailing_zeros() as usize;
            return self.levels[h][(lo >> h) as usize];
        }
        let k = split(n);
        node_hash(&self.mth(lo, lo + k), &self.mth(lo + k, hi))
    }

    /// The root hash at `size` leaves (SHA-256 of nothing for an empty tree).
    pub fn root(&self, size: u64) -> Result<[u8; 32], LedgerError> {
        self.check_size(size)?;
        Ok(self.mth(0, size))
    }

    /// PATH(m, D[lo:hi]) of RFC 6962 §2.1.1.
    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<[u8; 32]>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, lo, lo + k, out);
            out.push(self.mth(lo + k, hi));
        } else {
            self.path(m - k, lo + k, hi, out);
            out.push(self.mth(lo, lo + k));
        }
    }

    /// SUBPROOF(m, D[lo:hi], b) of RFC 6962 §2.1.2.
    fn subproof(&self, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<[u8; 32]>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.mth(lo, hi));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out);
            out.push(self.mth(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, out);
            out.push(self.mth(lo, lo + k));
        }
    }

    /// The inclusion proof (the audit path, RFC 9162 §2.1.3) of leaf `index` in the tree of
    /// `size` leaves, as its hashes in order.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<[u8; 32]>, LedgerError> {
        if index >= size {
            return Err(LedgerError::Proof(format!("leaf {index} is not in a tree of {size}")));
        }
        self.check_size(size)?;
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Ok(out)
    }

    /// The consistency proof (RFC 9162 §2.1.4) that the tree of `old` leaves is a prefix of the
    /// tree of `new` leaves.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<[u8; 32]>, LedgerError> {
        if old == 0 || old > new {
            return Err(LedgerError::Proof(format!("no consistency proof from {old} to {new} entries")));
        }
        self.check_size(new)?;
        let mut out = Vec::new();
        if old < new {
            self.subproof(old, 0, new, true, &mut out);
        }
        Ok(out)
    }
}

fn digests(proof: &[[u8; 32]]) -> Vec<sha2::digest::Output<Sha256>> {
    proof.iter().map(|h| (*h).into()).collect()
}

/// Checks that `leaf` (an entry's bytes) is leaf `index` of the tree of `size` leaves whose root
/// is `root`, by its audit path.
pub fn verify_inclusion(
    leaf: &[u8],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> Result<(), LedgerError> {
    let root = RootHash::<Sha256>::new((*root).into(), size);
    let proof = InclusionProof::<Sha256>::from_digests(digests(proof).iter());
    root.verify_inclusion(&leaf.to_vec(), index, &proof)
        .map_err(|e| LedgerError::Proof(format!("entry {index} is not in the tree of {size} entries: {e:?}")))
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    old_root: &[u8; 32],
    new_size: u64,
    new_root: &[u8; 32],
    proof: &[[u8; 32]],
) -> Result<(), LedgerError> {
    if old_size == new_size {
        return if old_root == new_root && proof.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::Proof(format!("two different trees of {old_size} entries")))
        };
    }
    let old = RootHash::<Sha256>::new((*old_root).into(), old_size);
    let new = RootHash::<Sha256>::new((*new_root).into(), new_size);
    let proof = ConsistencyProof::<Sha256>::from_digests(digests(proof).iter());
    new.verify_consistency(&old, &proof).map_err(|e| {
        LedgerError::Proof(format!("the tree of {old_size} entries is not a prefix of the tree of {new_size}: {e:?}"))
    })
}

/// A tree head as a C2SP `tlog-checkpoint` note text: origin, size, base64 root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (also its key name).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// Its RFC 6962 root hash.
    pub root: [u8; 32],
}

impl Checkpoint {
    /// The note text: three lines, each ending in a newline.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }

    /// Parses a checkpoint note text (extension lines are not used by the MES and refused).
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| malformed("checkpoint", why);
        let body = text.strip_suffix('\n').ok_or_else(|| bad("does not end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(bad("not three lines: origin, tree size, root hash"));
        };
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("tree size is not a decimal number without leading zeroes"));
        }
        let size: u64 = size.parse().map_err(|_| bad("tree size out of range"))?;
        let root: [u8; 32] = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("root hash is not 32 bytes of base64"))?;
        Ok(Self { origin: (*origin).to_owned(), size, root })
    }
}

/// The C2SP signature type byte of Ed25519 notes.
const ED25519: u8 = 0x01;

/// A C2SP note key: a name and an Ed25519 key; its key id is the first four bytes of
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({}, <secret>)", self.name)
    }
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_key_name(name: &str) -> Result<(), LedgerError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(malformed("key name", "empty, or with a space or '+'"));
    }
    Ok(())
}

impl NoteSigner {
    /// A signer named `name` from a 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Self, LedgerError> {
        check_key_name(name)?;
        Ok(Self { name: name.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    /// Parses a Go-style private key string, `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| malformed("signer key", "no PRIVATE+KEY+ prefix"))?;
        let (name, id, bytes) = split_key(rest, "signer key")?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| malformed("signer key", "not a 32-byte Ed25519 seed"))?;
        let signer = Self::new(name, seed)?;
        if signer.key_id() != id {
            return Err(malformed("signer key", "its key id does not match its key"));
        }
        Ok(signer)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seed, to keep the key in a file (never logged).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The C2SP key id.
    pub fn key_id(&self) -> u32 {
        key_id(&self.name, &self.key.verifying_key().to_bytes())
    }

    /// The verifier: what auditors are given.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), id: self.key_id(), key: self.key.verifying_key() }
    }

    /// Signs note `text` (which must end in a newline): the whole signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, LedgerError> {
        check_note_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.key_id().to_be_bytes().to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(blob)))
    }

    /// A bare Ed25519 signature of `bytes` (an entry's canonical bytes), base64.
    pub fn sign(&self, bytes: &[u8]) -> String {
        B64.encode(self.key.sign(bytes).to_bytes())
    }
}

fn split_key<'a>(rest: &'a str, what: &'static str) -> Result<(&'a str, u32, Vec<u8>), LedgerError> {
    let mut parts = rest.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(what, "not <name>+<key id>+<key>"));
    };
    if id.len() != 8 {
        return Err(malformed(what, "the key id is not 8 hex digits"));
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| malformed(what, "the key id is not hex"))?;
    let bytes = B64.decode(key).map_err(|_| malformed(what, "the key is not base64"))?;
    match bytes.split_first() {
        Some((&ED25519, key)) => Ok((name, id, key.to_vec())),
        _ => Err(malformed(what, "not an Ed25519 key (type 0x01)")),
    }
}

fn check_note_text(text: &str) -> Result<(), LedgerError> {
    if !text.ends_with('\n') {
        return Err(malformed("note", "the text does not end in a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("note", "a control character other than newline"));
    }
    Ok(())
}

/// A C2SP note verifier key, `<name>+<hex id>+<base64(0x01 ‖ public key)>`: what an auditor
/// holds to check the plant's notes and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key string.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let (name, id, bytes) = split_key(text.trim(), "verifier key")?;
        check_key_name(name)?;
        let public: [u8; 32] =
            bytes.try_into().map_err(|_| malformed("verifier key", "not a 32-byte Ed25519 public key"))?;
        if key_id(name, &public) != id {
            return Err(malformed("verifier key", "its key id does not match its key"));
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|e| malformed("verifier key", e.to_string()))?;
        Ok(Self { name: name.to_owned(), id, key })
    }

    /// The key string.
    pub fn encode(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(&self.key.to_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(bytes))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the public key, hex: the fingerprint people compare.
    pub fn fingerprint(&self) -> String {
        hex(&sha256(&self.key.to_bytes()))
    }

    /// The text of a signed `note` if a signature of this key on it verifies. Signatures of
    /// other keys are ignored, as the C2SP text requires.
    pub fn open(&self, note: &str) -> Result<String, LedgerError> {
        let bad = |why: &str| malformed("signed note", why);
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(bad("a control character other than newline"));
        }
        let split = note.rfind("\n\n").ok_or_else(|| bad("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        if signatures.is_empty() || !signatures.ends_with('\n') {
            return Err(bad("no signature lines"));
        }
        let mut mine = false;
        for line in signatures.trim_end_matches('\n').split('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| bad("a signature line without its em dash"))?;
            let (name, blob) = rest.split_once(' ').ok_or_else(|| bad("a signature line without a signature"))?;
            let blob = B64.decode(blob).map_err(|_| bad("a signature that is not base64"))?;
            if blob.len() < 4 {
                return Err(bad("a signature shorter than its key id"));
            }
            let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
            if name != self.name || id != self.id {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..]).map_err(|_| bad("not an Ed25519 signature"))?;
            self.key.verify_strict(text.as_bytes(), &signature).map_err(|_| LedgerError::BadSignature {
                what: "the note".into(),
                key: format!("{}+{:08x}", self.name, self.id),
            })?;
            mine = true;
        }
        if mine { Ok(text.to_owned()) } else { Err(bad("no signature by this key")) }
    }

    /// Checks a bare signature (base64) of `bytes`.
    pub fn verify(&self, bytes: &[u8], signature: &str, what: &str) -> Result<(), LedgerError> {
        let bad = || LedgerError::BadSignature { what: what.to_owned(), key: format!("{}+{:08x}", self.name, self.id) };
        let raw = B64.decode(signature).map_err(|_| bad())?;
        let signature = Signature::from_slice(&raw).map_err(|_| bad())?;
        self.key.verify_strict(bytes, &signature).map_err(|_| bad())
    }
}

/// What kind of statement an entry makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The output figures of a closed period.
    Period,
    /// Records of a closed period that arrived after it closed (a collector draining after an
    /// outage): the period's figures again, over every record up to the new high-water mark.
    Supplement,
    /// A person's correction of figures of an earlier entry, with who and why.
    Correction,
}

/// How a period is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// A plant shift.
    Shift,
    /// A local calendar day.
    Day,
}

/// A closed period of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Shift or day.
    pub kind: PeriodKind,
    /// "2026-12-03 A" or "2026-12-03" (plant time).
    pub label: String,
    /// Start, inclusive.
    pub start: DateTime<Utc>,
    /// End, exclusive.
    pub end: DateTime<Utc>,
}

/// The largest row ids a close included: rows above them arrived later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighWater {
    /// Station results.
    pub result_id: i64,
    /// State intervals.
    pub interval_id: i64,
    /// Counter samples.
    pub sample_id: i64,
}

/// The digest of one station's raw results in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationDigest {
    /// Station code.
    pub station: String,
    /// Results.
    pub results: u64,
    /// SHA-256 over the results' hashes in id order, hex.
    pub digest: String,
}

/// What an entry's figures were computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Station results counted.
    pub results: u64,
    /// SHA-256 over the stations' digests in station order, hex.
    pub digest: String,
    /// Per station.
    pub stations: Vec<StationDigest>,
    /// SHA-256 of the canonical rows the figures were computed from (visits, state intervals,
    /// counter samples), hex: any change to them shows, whether or not it moves a figure.
    pub inputs: String,
    /// The store's high-water marks at close.
    pub high_water: HighWater,
    /// The state intervals still open at close (a machine in one state across the period's
    /// end): the figures counted them to the period's end, and a recomputation after they
    /// closed must too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_intervals: Vec<OpenInterval>,
}

/// A state interval that was still open when its period closed, by station and start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInterval {
    /// Station code.
    pub station: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// It had no downtime reason at close. Closing an interval may give it one (a collector
    /// that stops notes "not watched"), so a recomputation reads it without, as the close did.
    /// Absent (false) in entries closed before this was recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lacked_reason: bool,
}

/// One field a correction changes: its path in the figures document, the value it had and the
/// value it has now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// JSON pointer into the figures (`/yield/rty`).
    pub field: String,
    /// The value in the corrected entry.
    pub from: serde_json::Value,
    /// The corrected value.
    pub to: serde_json::Value,
}

/// An entry's content: what its canonical bytes encode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Entry format ([`SCHEMA`]).
    pub schema: u32,
    /// Position in the log, from 0 (the leaf index).
    pub seq: u64,
    /// What it states.
    pub kind: EntryKind,
    /// Line code.
    pub line: String,
    /// The period.
    pub period: Period,
    /// The figures (period and supplement entries; for a correction, the corrected figures).
    pub figures: serde_json::Value,
    /// What they were computed from (period and supplement entries).
    pub source: Option<Source>,
    /// The entry this one corrects or supplements.
    pub amends: Option<u64>,
    /// A correction's changes.
    pub changes: Vec<Change>,
    /// Why (corrections).
    pub reason: Option<String>,
    /// Who or what wrote it ("mes serve", a user name).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The leaf hash of the entry before, hex (`None` for the first).
    pub previous: Option<String>,
}

impl Entry {
    /// Its canonical bytes: the log's leaf.
    pub fn bytes(&self) -> Result<Vec<u8>, LedgerError> {
        canonical(self)
    }

    /// Reads an entry back from its canonical bytes, refusing bytes that are not canonical
    /// (an edited payload would otherwise read as the same entry).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        let entry: Entry = serde_json::from_slice(bytes).map_err(|e| malformed("entry", e.to_string()))?;
        if entry.bytes()? != bytes {
            return Err(malformed("entry", "not in canonical form"));
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> [u8; 32] {
        unhex(text).unwrap().try_into().unwrap()
    }

    /// The RFC 6962 test leaves (transparency-dev/merkle testonly, from Certificate Transparency).
    fn ct_leaves() -> Vec<Vec<u8>> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|x| unhex(x).unwrap())
            .collect()
    }

    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_are_the_rfc_6962_reference_roots() {
        let log = Log::new(ct_leaves());
        for (size, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(hex(&log.root(size as u64).unwrap()), *want, "size {size}");
        }
        assert_eq!(hex(&leaf_hash(&[])), CT_ROOTS[1], "the leaf hash prefixes 0x00");
    }

    #[test]
    fn inclusion_proofs_are_the_reference_paths_and_verify() {
        let log = Log::new(ct_leaves());
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (0, 1, &[]),
        ];
        for (index, size, path) in cases {
            let proof = log.inclusion(index, size).unwrap();
            assert_eq!(proof.iter().map(|p| hex(p)).collect::<Vec<_>>(), path.to_vec(), "{index} of {size}");
            let root = log.root(size).unwrap();
            verify_inclusion(&ct_leaves()[index as usize], index, size, &proof, &root).unwrap();
            assert!(verify_inclusion(b"edited", index, size, &proof, &root).is_err());
        }
        // Every leaf in every size verifies, and not at another index.
        for size in 1..=8u64 {
            let root = log.root(size).unwrap();
            for index in 0..size {
                let proof = log.inclusion(index, size).unwrap();
                verify_inclusion(&ct_leaves()[index as usize], index, size, &proof, &root).unwrap();
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(&ct_leaves()[index as usize], other, size, &proof, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_historical_root_and_proof_is_what_ct_merkle_gives_at_that_size() {
        use ct_merkle::mem_backed_tree::MemoryBackedTree;
        let leaves: Vec<Vec<u8>> = (0..70u32).map(|i| format!("entry {i}").into_bytes()).collect();
        let log = Log::new(leaves.clone());
        let mut reference = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        let as_hashes = |b: &[u8]| b.chunks_exact(32).map(|c| <[u8; 32]>::try_from(c).unwrap()).collect::<Vec<_>>();
        for size in 1..=leaves.len() as u64 {
            reference.push(leaves[size as usize - 1].clone());
            assert_eq!(log.root(size).unwrap(), <[u8; 32]>::from(*reference.root().as_bytes()), "root at {size}");
            for index in 0..size {
                let theirs = as_hashes(reference.prove_inclusion(index as usize).as_bytes());
                assert_eq!(log.inclusion(index, size).unwrap(), theirs, "path of {index} at {size}");
            }
            for old in 1..size {
                let theirs = as_hashes(reference.prove_consistency((size - old) as usize).as_bytes());
                assert_eq!(log.consistency(old, size).unwrap(), theirs, "consistency {old} → {size}");
            }
        }
        assert!(log.root(71).is_err() && log.inclusion(0, 71).is_err() && log.consistency(1, 71).is_err());
    }

    #[test]
    fn consistency_proofs_are_the_reference_proofs_and_verify() {
        let log = Log::new(ct_leaves());
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                2,
                8,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let proof = log.consistency(old, new).unwrap();
            assert_eq!(proof.iter().map(|p| hex(p)).collect::<Vec<_>>(), want.to_vec(), "{old} → {new}");
            verify_consistency(old, &h(CT_ROOTS[old as usize]), new, &h(CT_ROOTS[new as usize]), &proof).unwrap();
            assert!(
                verify_consistency(old, &h(CT_ROOTS[old as usize - 1]), new, &h(CT_ROOTS[new as usize]), &proof)
                    .is_err(),
                "another old root"
            );
        }
        for old in 1..=8u64 {
            for new in old..=8 {
                let proof = log.consistency(old, new).unwrap();
                verify_consistency(old, &log.root(old).unwrap(), new, &log.root(new).unwrap(), &proof).unwrap();
            }
        }
    }

    /// The key and note of golang.org/x/mod/sumdb/note's own tests.
    const GO_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIGNATURE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn notes_are_signed_and_opened_byte_for_byte_as_the_go_reference_does() {
        let signer = NoteSigner::parse(GO_SIGNER).unwrap();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier().encode(), GO_VERIFIER);
        let note = signer.sign_note(GO_TEXT).unwrap();
        assert_eq!(note, format!("{GO_TEXT}\n{GO_SIGNATURE}"), "Ed25519 is deterministic: the same bytes");
        let verifier = NoteVerifier::parse(GO_VERIFIER).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), GO_TEXT);
        assert!(verifier.open(&note.replace("cryptography", "cryptographY")).is_err(), "an edited text");
        // Another key's signature is ignored; without ours the note is refused.
        let other = NoteSigner::new("example.com/other", [9; 32]).unwrap();
        let both = format!("{note}{}", other.sign_note(GO_TEXT).unwrap().split("\n\n").nth(1).unwrap());
        assert_eq!(verifier.open(&both).unwrap(), GO_TEXT);
        assert!(verifier.open(&other.sign_note(GO_TEXT).unwrap()).is_err());
        for bad in
            ["PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Peter Neumann+c74f20a3+AA==", ""]
        {
            assert!(NoteVerifier::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checkpoints_are_the_c2sp_text_and_parse_back() {
        let c = Checkpoint { origin: "example.com/behind-the-sofa".into(), size: 20852163, root: [7; 32] };
        assert_eq!(c.text(), format!("example.com/behind-the-sofa\n20852163\n{}\n", B64.encode([7u8; 32])));
        assert_eq!(Checkpoint::parse(&c.text()).unwrap(), c);
        // The C2SP text's own example parses.
        let example = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(Checkpoint::parse(example).unwrap().size, 20852163);
        for bad in ["x\n01\nAA==\n", "x\n1\n", "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", "x\n1\nAA==\n"] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn canonical_bytes_are_rfc_8785_and_an_entry_reads_back_only_from_them() {
        // RFC 8785 §3.2.2: keys sorted by UTF-16 code units, numbers as ECMAScript prints them.
        let value = serde_json::json!({ "b": [1.0, 1e21, 0.1], "a": "é", "\u{20ac}": 1, "\r": true });
        assert_eq!(
            String::from_utf8(canonical(&value).unwrap()).unwrap(),
            "{\"\\r\":true,\"a\":\"é\",\"b\":[1,1e+21,0.1],\"€\":1}"
        );
        let t = DateTime::parse_from_rfc3339("2026-12-03T06:00:00Z").unwrap().to_utc();
        let entry = Entry {
            schema: SCHEMA,
            seq: 0,
            kind: EntryKind::Period,
            line: "phone-1".into(),
            period: Period { kind: PeriodKind::Shift, label: "2026-12-03 A".into(), start: t, end: t },
            figures: serde_json::json!({ "units_out": 42, "rty": 0.975 }),
            source: None,
            amends: None,
            changes: Vec::new(),
            reason: None,
            by: "test".into(),
            at: t,
            previous: None,
        };
        let bytes = entry.bytes().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\"amends\":null,\"at\":\"2026-12-03T06:00:00Z\",\"by\":\"test\",\"changes\":[],\"figures\":{\"rty\":0.975,\"units_out\":42},\"kind\":\"period\",\"line\":\"phone-1\",\"period\":{\"end\":\"2026-12-03T06:00:00Z\",\"kind\":\"shift\",\"label\":\"2026-12-03 A\",\"start\":\"2026-12-03T06:00:00Z\"},\"previous\":null,\"reason\":null,\"schema\":1,\"seq\":0,\"source\":null}"
        );
        assert_eq!(Entry::from_bytes(&bytes).unwrap(), entry);
        let spaced = String::from_utf8(bytes).unwrap().replace(",\"by\"", ", \"by\"");
        assert!(Entry::from_bytes(spaced.as_bytes()).is_err(), "the same entry, not canonical");
    }
}
