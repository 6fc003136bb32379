//! The spool after a power cut or a failing card: what a crash mid-write and
//! damaged media leave on disk, then the spool opened again. Every intact
//! batch must still be there, in order and readable; the damaged ones set
//! aside (moved to `corrupt/`, counted) without a panic; new batches must get
//! numbers no earlier batch had, intact or set aside.

use std::fs;
use std::path::{Path, PathBuf};

use device_agent::spool::{Spool, HEADER_LEN};

const MAX_BYTES: u64 = 1 << 20;

fn batch_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.batch"))
}

fn set_aside(dir: &Path, sequence: u64) -> bool {
    dir.join("corrupt")
        .join(format!("{sequence:020}.batch"))
        .exists()
}

/// A payload that says which batch it is.
fn payload(i: u64) -> Vec<u8> {
    format!("batch {i}: ").repeat(8).into_bytes()
}

/// A spool in `dir` holding `n` batches (2 readings each); their sequences.
fn spool_with(dir: &Path, n: u64) -> Vec<u64> {
    let spool = Spool::open(dir, MAX_BYTES).expect("opens");
    (0..n)
        .map(|i| {
            let sequence = spool.next_sequence();
            spool.push(sequence, 2, &payload(i)).expect("push");
            sequence
        })
        .collect()
}

/// What the publisher gets from a reopened spool: every pending batch read in
/// order, corrupt ones set aside on the way (as `read_or_quarantine` does for
/// it): (sequence, payload) of the readable ones.
fn drain(spool: &Spool) -> Vec<(u64, Vec<u8>)> {
    spool
        .pending_after(None, usize::MAX)
        .iter()
        .filter_map(|batch| {
            let payload = spool.read_or_quarantine(batch).expect("no I/O error")?;
            Some((batch.sequence, payload))
        })
        .collect()
}

fn intact(sequences: &[u64], skip: &[usize]) -> Vec<(u64, Vec<u8>)> {
    sequences
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .map(|(i, &s)| (s, payload(i as u64)))
        .collect()
}

/// A new batch after the reopen gets a number above every earlier one and
/// reads back.
fn assert_fresh_sequence(spool: &Spool, earlier: &[u64]) {
    let sequence = spool.next_sequence();
    let highest = earlier.iter().max().copied().unwrap_or_default();
    assert!(
        sequence > highest,
        "{sequence} reuses a number (≤ {highest})"
    );
    spool
        .push(sequence, 1, b"after")
        .expect("push after reopen");
    let last = *spool.pending_after(None, usize::MAX).last().expect("one");
    assert_eq!(last.sequence, sequence);
    assert_eq!(spool.read(&last).expect("read"), b"after");
}

#[test]
fn a_torn_newest_batch_is_set_aside_and_every_earlier_one_survives() {
    let file_len = HEADER_LEN + payload(4).len();
    let cuts = [
        ("zero bytes", 0),
        ("half a header", HEADER_LEN / 2),
        ("header only", HEADER_LEN),
        ("half the payload", HEADER_LEN + payload(4).len() / 2),
        ("one byte short", file_len - 1),
    ];
    for (case, cut) in cuts {
        let dir = tempfile::tempdir().expect("tempdir");
        let sequences = spool_with(dir.path(), 5);
        let newest = sequences[4];
        let path = batch_path(dir.path(), newest);
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..cut]).expect("tear");

        let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens despite a torn file");
        assert!(set_aside(dir.path(), newest), "{case}: torn file set aside");
        assert_eq!(spool.corrupt_batches(), 1, "{case}");
        assert_eq!(spool.stats().batches, 4, "{case}");
        assert_eq!(drain(&spool), intact(&sequences, &[4]), "{case}");
        assert_fresh_sequence(&spool, &sequences);
    }
}

#[test]
fn flipped_bytes_set_aside_only_the_damaged_batches() {
    // Byte offsets into a file: the payload's middle, and each header field.
    let payload_middle = HEADER_LEN + payload(0).len() / 2;
    let header_fields = [
        ("magic", 3),
        ("reading count", 8),
        ("length", 13),
        ("crc", 17),
    ];
    for (field, offset) in header_fields {
        let dir = tempfile::tempdir().expect("tempdir");
        let sequences = spool_with(dir.path(), 6);
        for (victim, at) in [(1, payload_middle), (3, offset)] {
            let path = batch_path(dir.path(), sequences[victim]);
            let mut bytes = fs::read(&path).expect("read");
            bytes[at] ^= 0x10;
            fs::write(&path, bytes).expect("flip");
        }

        let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
        assert_eq!(drain(&spool), intact(&sequences, &[1, 3]), "header {field}");
        assert!(
            set_aside(dir.path(), sequences[1]),
            "payload flip set aside"
        );
        assert!(
            set_aside(dir.path(), sequences[3]),
            "{field} flip set aside"
        );
        assert_eq!(spool.corrupt_batches(), 2, "header {field}");
        assert_eq!(spool.stats().readings, 2 * 4, "header {field}");
        assert_fresh_sequence(&spool, &sequences);
    }
}

#[test]
fn stray_temporary_files_are_dropped_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sequences = spool_with(dir.path(), 3);
    // Writes a crash interrupted: the next batch whole but never renamed,
    // another half written, and a half-written `next-sequence`.
    let whole = fs::read(batch_path(dir.path(), sequences[2])).expect("read");
    let strays = [
        (format!("{:020}.tmp", sequences[2] + 1), whole.clone()),
        (
            format!("{:020}.tmp", sequences[2] + 2),
            whole[..30].to_vec(),
        ),
        ("next-sequence.tmp".to_owned(), b"12".to_vec()),
    ];
    for (name, bytes) in &strays {
        fs::write(dir.path().join(name), bytes).expect("write stray");
    }

    let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
    for (name, _) in &strays {
        assert!(!dir.path().join(name).exists(), "{name} removed");
    }
    assert_eq!(spool.corrupt_batches(), 0);
    assert_eq!(drain(&spool), intact(&sequences, &[]));
    assert_fresh_sequence(&spool, &sequences);
}

#[test]
fn a_torn_next_sequence_never_brings_back_an_earlier_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sequences = spool_with(dir.path(), 12);
    {
        // The publisher confirms all but batch 9, whose checksum fails (set
        // aside), and batch 11, still waiting.
        let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
        let path = batch_path(dir.path(), sequences[9]);
        let mut bytes = fs::read(&path).expect("read");
        *bytes.last_mut().expect("non-empty") ^= 1;
        fs::write(&path, bytes).expect("flip");
        for batch in spool.pending_after(None, usize::MAX) {
            if batch.sequence == sequences[11] {
                continue;
            }
            if spool.read_or_quarantine(&batch).expect("read").is_some() {
                assert!(spool.remove(batch.sequence).expect("remove"));
            }
        }
        assert!(set_aside(dir.path(), sequences[9]));
    }
    // The file holds a number, then is torn to a prefix of it (or emptied,
    // or garbled).
    let next_sequence = dir.path().join("next-sequence");
    for torn in [&b"1"[..], b"", b"\0\0\0", b"99999999999999999999999\n"] {
        fs::write(&next_sequence, torn).expect("tear next-sequence");
        let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
        assert_eq!(
            drain(&spool),
            intact(&sequences, &(0..11).collect::<Vec<_>>())
        );
        assert_fresh_sequence(&spool, &sequences);
        drop(spool);
        // Back to one waiting batch for the next case.
        let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
        let pending = spool.pending_after(Some(sequences[11]), usize::MAX);
        for batch in pending {
            spool.remove(batch.sequence).expect("remove");
        }
    }

    // Everything confirmed: only `next-sequence` and `corrupt/` are left to
    // say which numbers were used.
    {
        let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
        assert!(spool.remove(sequences[11]).expect("remove"));
    }
    fs::write(&next_sequence, b"").expect("tear next-sequence");
    let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens with nothing to go on");
    assert!(
        spool.next_sequence() > sequences[9],
        "never the number of a batch set aside"
    );
}

#[test]
fn next_sequence_is_durable_before_the_last_batch_file_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sequences = spool_with(dir.path(), 2);
    let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
    assert!(spool.remove(sequences[0]).expect("remove"));
    // Writing `next-sequence` fails (a directory stands in its way, as a full
    // or read-only card would): the last batch must stay, or nothing on disk
    // would say which numbers were used.
    fs::create_dir(dir.path().join("next-sequence")).expect("block next-sequence");
    assert!(spool.remove(sequences[1]).is_err());
    assert!(batch_path(dir.path(), sequences[1]).exists());
    fs::remove_dir(dir.path().join("next-sequence")).expect("unblock");
    assert!(spool.remove(sequences[1]).expect("remove"));
    assert_eq!(
        fs::read_to_string(dir.path().join("next-sequence")).expect("written"),
        format!("{}\n", sequences[1] + 1)
    );
}

#[test]
fn the_highest_possible_file_name_does_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sequences = spool_with(dir.path(), 1);
    let stray = batch_path(dir.path(), u64::MAX);
    fs::copy(batch_path(dir.path(), sequences[0]), &stray).expect("copy");
    let spool = Spool::open(dir.path(), MAX_BYTES).expect("opens");
    assert_eq!(drain(&spool), intact(&sequences, &[]));
    assert!(stray.exists(), "not a batch name: left alone");
    assert_fresh_sequence(&spool, &sequences);
}
