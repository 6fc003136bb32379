//! The on-disk spool. Every batch is written here, and synced, before it is
//! published; it leaves only once the broker has confirmed it. A broker outage
//! or a restart of the agent therefore loses nothing: the next start publishes
//! whatever is still here, oldest first.
//!
//! Layout: one file per batch, `<sequence:020>.batch`, holding a small header
//! (magic, reading count, payload length, CRC-32 of those and the payload)
//! and the encoded protobuf batch. A batch is written to a temporary file, synced and
//! renamed, so a crash leaves either the whole batch or none of it; the CRC
//! catches what a failing SD card does to it later. A file that fails its
//! checks is moved to `corrupt/` rather than deleted, for a human to look at
//! (logged and counted): torn ones when the spool opens, a bad checksum when
//! the batch is read. `next-sequence` keeps sequence numbers growing once the
//! spool has emptied; it is written durably before the last batch file goes,
//! and a damaged one is ignored in favour of the files on disk (those in
//! `corrupt/` included), so no number is handed out twice.
//!
//! The spool is bounded (`max_bytes`): when a new batch does not fit, the
//! oldest ones are dropped, because on a device that has been offline for
//! weeks the newest readings matter most. Callers log and count that.
//!
//! All methods do blocking file I/O; async callers run them on
//! `spawn_blocking`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use thiserror::Error;

/// Format 2: the CRC covers the reading count and length too, so a flipped
/// bit in the header never goes unnoticed.
const MAGIC: &[u8; 8] = b"WLSPOOL2";
/// Format 1 (agents before format 2): the CRC covers the payload only. Still
/// read, so an upgraded agent publishes what the old one spooled.
const MAGIC_V1: &[u8; 8] = b"WLSPOOL1";
/// Bytes before the payload: magic, reading count, payload length, CRC.
pub const HEADER_LEN: usize = 8 + 4 + 4 + 4;
const EXTENSION: &str = "batch";
const NEXT_SEQUENCE_FILE: &str = "next-sequence";
const LOCK_FILE: &str = "lock";
const CORRUPT_DIR: &str = "corrupt";

#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool {0} is in use by another agent (one agent per --spool-dir)")]
    Locked(PathBuf),
    #[error("spooled batch {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: &'static str },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the spool knows about a batch without reading its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpooledBatch {
    pub sequence: u64,
    pub readings: u32,
    /// Size of the file on disk.
    pub bytes: u64,
}

/// Batches dropped to make room for a new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    pub batches: u64,
    pub readings: u64,
}

/// Totals of what is waiting in the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub batches: u64,
    pub readings: u64,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    /// Held (locked) for the spool's lifetime so two agents never share one.
    _lock: File,
}

#[derive(Debug, Default)]
struct Index {
    batches: BTreeMap<u64, SpooledBatch>,
    /// Totals over `batches`.
    readings: u64,
    bytes: u64,
    next_sequence: u64,
    /// Batches set aside as corrupt since the spool was opened.
    corrupt: u64,
}

impl Index {
    fn insert(&mut self, batch: SpooledBatch) {
        self.readings += u64::from(batch.readings);
        self.bytes += batch.bytes;
        self.batches.insert(batch.sequence, batch);
    }

    fn remove(&mut self, sequence: u64) -> Option<SpooledBatch> {
        let batch = self.batches.remove(&sequence)?;
        self.readings -= u64::from(batch.readings);
        self.bytes -= batch.bytes;
        Some(batch)
    }
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and indexes the batches
    /// a previous run left there.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => return Err(io_error(&lock_path)(e)),
        }

        let spool = Self {
            dir: dir.to_owned(),
            max_bytes,
            index: Mutex::new(Index::default()),
            _lock: lock,
        };
        let mut index = Index {
            next_sequence: spool.read_next_sequence()?,
            ..Index::default()
        };
        // Batches set aside earlier keep their numbers too: a new batch
        // never takes the name of one a human may still look at.
        if let Some(last) = last_batch_in(&dir.join(CORRUPT_DIR))? {
            index.next_sequence = index.next_sequence.max(last + 1);
        }
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let path = entry.map_err(io_error(dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".tmp") {
                // A batch whose write a crash interrupted: it was never
                // spooled, so nothing was published from it.
                fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            let Some(sequence) = parse_batch_name(name) else {
                continue;
            };
            match read_header(&path) {
                Ok((readings, bytes)) => index.insert(SpooledBatch {
                    sequence,
                    readings,
                    bytes,
                }),
                // A torn write (power lost mid-write on a file system that
                // reordered it) or a damaged header: set aside.
                Err(SpoolError::Corrupt { reason, .. }) => {
                    spool.set_aside(&path, reason, None, &mut index)?;
                }
                Err(other) => return Err(other),
            }
            index.next_sequence = index.next_sequence.max(sequence + 1);
        }
        *spool.lock_index() = index;
        Ok(spool)
    }

    fn lock_index(&self) -> MutexGuard<'_, Index> {
        // The index is only ever mutated in small, panic-free steps.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hands out the sequence number of the next batch (numbers keep growing
    /// across restarts).
    pub fn next_sequence(&self) -> u64 {
        let mut index = self.lock_index();
        let sequence = index.next_sequence;
        index.next_sequence = sequence.saturating_add(1);
        sequence
    }

    /// Stores a batch durably, dropping the oldest batches if it would not
    /// fit otherwise. Returns what was dropped.
    pub fn push(
        &self,
        sequence: u64,
        readings: u32,
        payload: &[u8],
    ) -> Result<Evicted, SpoolError> {
        let path = self.batch_path(sequence);
        let temporary = path.with_extension("tmp");
        let contents = encode_record(readings, payload).map_err(|reason| SpoolError::Corrupt {
            path: path.clone(),
            reason,
        })?;
        let bytes = contents.len() as u64;

        let evicted = self.make_room(bytes)?;
        write_synced(&temporary, &contents)?;
        fs::rename(&temporary, &path).map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        self.lock_index().insert(SpooledBatch {
            sequence,
            readings,
            bytes,
        });
        Ok(evicted)
    }

    fn make_room(&self, incoming: u64) -> Result<Evicted, SpoolError> {
        let mut evicted = Evicted::default();
        loop {
            let oldest = {
                let index = self.lock_index();
                if index.bytes + incoming <= self.max_bytes {
                    return Ok(evicted);
                }
                match index.batches.values().next() {
                    Some(oldest) => *oldest,
                    // A batch larger than the whole spool is still kept.
                    None => return Ok(evicted),
                }
            };
            if self.remove(oldest.sequence)? {
                evicted.batches += 1;
                evicted.readings += u64::from(oldest.readings);
            }
        }
    }

    /// Up to `limit` spooled batches with sequence numbers above `after`,
    /// oldest first.
    pub fn pending_after(&self, after: Option<u64>, limit: usize) -> Vec<SpooledBatch> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        self.lock_index()
            .batches
            .range(start..)
            .take(limit)
            .map(|(_, batch)| *batch)
            .collect()
    }

    /// The payload of a spooled batch, checked against its CRC.
    pub fn read(&self, batch: &SpooledBatch) -> Result<Vec<u8>, SpoolError> {
        let path = self.batch_path(batch.sequence);
        let contents = fs::read(&path).map_err(io_error(&path))?;
        decode_record(contents).map_err(|reason| SpoolError::Corrupt { path, reason })
    }

    /// The payload of a spooled batch, or `None` if it is corrupt: such a
    /// batch is logged, counted and set aside (moved to `corrupt/`) so it
    /// never blocks the rest.
    pub fn read_or_quarantine(&self, batch: &SpooledBatch) -> Result<Option<Vec<u8>>, SpoolError> {
        match self.read(batch) {
            Err(SpoolError::Corrupt { path, reason }) => {
                let mut index = self.lock_index();
                self.set_aside(&path, reason, Some(batch.readings), &mut index)?;
                index.remove(batch.sequence);
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Removes a batch (confirmed by the broker, or evicted). Returns whether
    /// it was still there.
    pub fn remove(&self, sequence: u64) -> Result<bool, SpoolError> {
        let path = self.batch_path(sequence);
        // Under the index lock, so whether this is the last batch cannot
        // change between deciding and unlinking.
        let mut index = self.lock_index();
        if index.batches.len() == 1 && index.batches.contains_key(&sequence) {
            // With no batch file left, `next-sequence` is what keeps sequence
            // numbers growing across a restart. It is made durable before
            // the last file goes, so a power cut between the two never
            // loses both.
            self.write_next_sequence(index.next_sequence)?;
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
        Ok(index.remove(sequence).is_some())
    }

    /// Batches set aside as corrupt since the spool was opened (at open,
    /// torn ones; on reading, those failing their checksum).
    pub fn corrupt_batches(&self) -> u64 {
        self.lock_index().corrupt
    }

    pub fn stats(&self) -> SpoolStats {
        let index = self.lock_index();
        SpoolStats {
            batches: index.batches.len() as u64,
            readings: index.readings,
            bytes: index.bytes,
        }
    }

    fn batch_path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.{EXTENSION}"))
    }

    /// Logs, counts and moves a corrupt batch file to `corrupt/` (kept for a
    /// human to look at, never deleted). `readings`: what its header says,
    /// when it could be read.
    fn set_aside(
        &self,
        path: &Path,
        reason: &'static str,
        readings: Option<u32>,
        index: &mut Index,
    ) -> Result<(), SpoolError> {
        tracing::error!(path = %path.display(), reason, readings,
            "spooled batch is corrupt; moved to the spool's corrupt/ directory");
        metrics::counter!("wattline_agent_batches_corrupt_total").increment(1);
        index.corrupt += 1;
        self.move_to_corrupt(path)
    }

    fn move_to_corrupt(&self, path: &Path) -> Result<(), SpoolError> {
        let corrupt_dir = self.dir.join(CORRUPT_DIR);
        fs::create_dir_all(&corrupt_dir).map_err(io_error(&corrupt_dir))?;
        let Some(name) = path.file_name() else {
            return Ok(());
        };
        fs::rename(path, corrupt_dir.join(name)).map_err(io_error(path))
    }

    /// The number `next-sequence` holds; 0 when there is none, or when it is
    /// damaged (then the batch files on disk, here and in `corrupt/`, are
    /// what keeps numbers growing).
    fn read_next_sequence(&self) -> Result<u64, SpoolError> {
        let path = self.dir.join(NEXT_SEQUENCE_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_error(&path)(e)),
        };
        // Written as digits and a newline: a torn write (any prefix of it)
        // lacks the newline, so a cut-off number is never taken for a
        // smaller one.
        let number = bytes
            .strip_suffix(b"\n")
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| digits.parse().ok());
        Ok(number.unwrap_or_else(|| {
            tracing::warn!(path = %path.display(), contents = %String::from_utf8_lossy(&bytes),
                "the spool's next-sequence file is damaged; continuing after the highest batch on disk");
            0
        }))
    }

    /// Replaces `next-sequence` durably: synced, renamed, directory synced.
    fn write_next_sequence(&self, next: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(NEXT_SEQUENCE_FILE);
        let temporary = path.with_extension("tmp");
        write_synced(&temporary, format!("{next}\n").as_bytes())?;
        fs::rename(&temporary, &path).map_err(io_error(&path))?;
        sync_dir(&self.dir)
    }
}

/// The sequence number a batch file's name holds. `u64::MAX` is not one (so
/// the number after it always exists).
fn parse_batch_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok().filter(|sequence| *sequence < u64::MAX)
}

/// The highest sequence number among the batch files in `dir` (if it exists).
fn last_batch_in(dir: &Path) -> Result<Option<u64>, SpoolError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut last = None;
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let sequence = entry.file_name().to_str().and_then(parse_batch_name);
        last = last.max(sequence);
    }
    Ok(last)
}

/// The fixed-size start of a batch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub readings: u32,
    pub payload_len: u32,
    /// CRC-32 (IEEE) of the reading count, the length and the payload (of
    /// the payload only in format 1).
    pub crc: u32,
    /// Format 1: the CRC covers the payload only.
    pub v1: bool,
}

impl Header {
    /// The CRC a file with this header and `payload` must carry.
    fn checksum(&self, payload: &[u8]) -> u32 {
        let mut crc = crc32fast::Hasher::new();
        if !self.v1 {
            crc.update(&self.readings.to_le_bytes());
            crc.update(&self.payload_len.to_le_bytes());
        }
        crc.update(payload);
        crc.finalize()
    }
}

/// The whole contents of a batch file: header, then payload. Fails only for a
/// payload of 4 GiB or more, which the header cannot describe.
pub fn encode_record(readings: u32, payload: &[u8]) -> Result<Vec<u8>, &'static str> {
    let payload_len = u32::try_from(payload.len()).map_err(|_| "batch larger than 4 GiB")?;
    let mut header = Header {
        readings,
        payload_len,
        crc: 0,
        v1: false,
    };
    header.crc = header.checksum(payload);
    let mut contents = Vec::with_capacity(HEADER_LEN + payload.len());
    contents.extend_from_slice(MAGIC);
    contents.extend_from_slice(&readings.to_le_bytes());
    contents.extend_from_slice(&payload_len.to_le_bytes());
    contents.extend_from_slice(&header.crc.to_le_bytes());
    contents.extend_from_slice(payload);
    Ok(contents)
}

/// The payload of a batch file's contents, checked against its header: the
/// magic, the payload's length (a torn write leaves it short) and the CRC (a
/// failing card flips bits). The reason is a static text for the log.
pub fn decode_record(mut contents: Vec<u8>) -> Result<Vec<u8>, &'static str> {
    let header = parse_header(&contents).ok_or("bad header")?;
    let payload = &contents[HEADER_LEN..];
    if payload.len() != header.payload_len as usize {
        return Err("truncated");
    }
    if header.checksum(payload) != header.crc {
        return Err("checksum mismatch");
    }
    // The payload in place: no second copy of it.
    contents.drain(..HEADER_LEN);
    Ok(contents)
}

/// The header at the start of `bytes`, if they start with one.
pub fn parse_header(bytes: &[u8]) -> Option<Header> {
    let header = bytes.get(..HEADER_LEN)?;
    let v1 = match &header[..8] {
        magic if magic == MAGIC => false,
        magic if magic == MAGIC_V1 => true,
        _ => return None,
    };
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    Some(Header {
        readings: word(8),
        payload_len: word(12),
        crc: word(16),
        v1,
    })
}

/// Reads just the header of a batch file: its reading count and file size.
fn read_header(path: &Path) -> Result<(u32, u64), SpoolError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let size = file.metadata().map_err(io_error(path))?.len();
    let mut header = [0u8; HEADER_LEN];
    let corrupt = |reason| SpoolError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    file.read_exact(&mut header)
        .map_err(|_| corrupt("truncated header"))?;
    let header = parse_header(&header).ok_or_else(|| corrupt("bad header"))?;
    if size != (HEADER_LEN as u64) + u64::from(header.payload_len) {
        return Err(corrupt("truncated"));
    }
    Ok((header.readings, size))
}

fn write_synced(path: &Path, contents: &[u8]) -> Result<(), SpoolError> {
    let mut file = File::create(path).map_err(io_error(path))?;
    file.write_all(contents).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(dir: &Path) -> Spool {
        Spool::open(dir, 1 << 20).expect("opens")
    }

    fn push(spool: &Spool, payload: &[u8], readings: u32) -> u64 {
        let sequence = spool.next_sequence();
        spool.push(sequence, readings, payload).expect("push");
        sequence
    }

    /// Found by the chaos soak: an agent evicting a batch (its producer)
    /// while confirming the last one (its publisher) emptied the spool from
    /// two threads at once, both rewrote `next-sequence` through the same
    /// temporary file, and the second rename failed: the agent exited.
    #[test]
    fn two_threads_emptying_the_spool_at_once_never_fail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = spool(dir.path());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..300 {
                        let sequence = push(&spool, b"payload", 1);
                        spool.remove(sequence).expect("remove never fails");
                    }
                });
            }
        });
        assert_eq!(spool.stats(), SpoolStats::default());
        drop(spool);
        let reopened = self::spool(dir.path());
        assert_eq!(
            reopened.next_sequence(),
            1200,
            "no sequence number is reused"
        );
    }

    #[test]
    fn batches_survive_a_restart_in_order_with_their_payloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first;
        {
            let spool = spool(dir.path());
            first = push(&spool, b"one", 1);
            push(&spool, b"two", 2);
        }
        let spool = spool(dir.path());
        let pending = spool.pending_after(None, 10);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].sequence, first);
        assert_eq!(spool.read(&pending[0]).expect("read"), b"one");
        assert_eq!(spool.read(&pending[1]).expect("read"), b"two");
        assert_eq!(spool.stats().readings, 3);
        assert_eq!(spool.pending_after(Some(first), 10), vec![pending[1]]);
    }

    #[test]
    fn sequence_numbers_keep_growing_after_the_spool_empties_and_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let last = {
            let spool = spool(dir.path());
            let a = push(&spool, b"a", 1);
            let b = push(&spool, b"b", 1);
            assert!(spool.remove(a).expect("remove"));
            assert!(spool.remove(b).expect("remove"));
            assert!(!spool.remove(b).expect("second remove is a no-op"));
            b
        };
        let spool = spool(dir.path());
        assert_eq!(spool.stats(), SpoolStats::default());
        assert!(spool.next_sequence() > last);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file_size = (HEADER_LEN + 100) as u64;
        let spool = Spool::open(dir.path(), 3 * file_size).expect("opens");
        let payload = [7u8; 100];
        let first = push(&spool, &payload, 10);
        push(&spool, &payload, 10);
        push(&spool, &payload, 10);
        let sequence = spool.next_sequence();
        let evicted = spool.push(sequence, 10, &payload).expect("push");
        assert_eq!(
            evicted,
            Evicted {
                batches: 1,
                readings: 10
            }
        );
        let pending = spool.pending_after(None, 10);
        assert_eq!(pending.len(), 3);
        assert!(pending.iter().all(|b| b.sequence != first));
        assert_eq!(spool.stats().bytes, 3 * file_size);
    }

    #[test]
    fn corrupt_and_half_written_files_never_block_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bad, good) = {
            let spool = spool(dir.path());
            (push(&spool, b"flipped", 1), push(&spool, b"fine", 1))
        };
        // A bit flipped on the card, and a write a crash interrupted.
        let bad_path = dir.path().join(format!("{bad:020}.batch"));
        let mut bytes = fs::read(&bad_path).expect("read");
        *bytes.last_mut().expect("non-empty") ^= 1;
        fs::write(&bad_path, bytes).expect("write");
        fs::write(dir.path().join("00000000000000000099.tmp"), b"WLSP").expect("write");

        let spool = spool(dir.path());
        let pending = spool.pending_after(None, 10);
        assert_eq!(pending.len(), 2, "the checksum is only checked on read");
        assert!(matches!(
            spool.read(&pending[0]),
            Err(SpoolError::Corrupt { .. })
        ));
        assert_eq!(spool.read_or_quarantine(&pending[0]).expect("read"), None);
        assert_eq!(spool.corrupt_batches(), 1);
        assert_eq!(spool.pending_after(None, 10)[0].sequence, good);
        assert!(dir
            .path()
            .join("corrupt")
            .join(format!("{bad:020}.batch"))
            .exists());
        assert!(!dir.path().join("00000000000000000099.tmp").exists());
    }

    #[test]
    fn a_truncated_file_is_set_aside_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sequence = push(&spool(dir.path()), b"payload", 1);
        let path = dir.path().join(format!("{sequence:020}.batch"));
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..bytes.len() - 2]).expect("write");
        let spool = spool(dir.path());
        assert!(spool.pending_after(None, 10).is_empty());
        assert!(dir.path().join("corrupt").exists());
    }

    #[test]
    fn files_of_the_first_format_still_read() {
        // Format 1: the CRC covers the payload only.
        let payload = b"spooled by an older agent";
        let mut file = MAGIC_V1.to_vec();
        file.extend_from_slice(&3u32.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        file.extend_from_slice(payload);
        assert_eq!(decode_record(file.clone()).as_deref(), Ok(&payload[..]));
        // Format 2 covers the header too: the same bytes under its magic fail.
        file[..8].copy_from_slice(MAGIC);
        assert_eq!(decode_record(file), Err("checksum mismatch"));
    }

    #[test]
    fn two_agents_cannot_share_a_spool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = spool(dir.path());
        assert!(matches!(
            Spool::open(dir.path(), 1 << 20),
            Err(SpoolError::Locked(_))
        ));
    }
}
