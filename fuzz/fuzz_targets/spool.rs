//! Bytes as a spooled batch file → the spool's reader, pure and on disk.
//!
//! - `decode_record` never panics; it gives back a payload only when the
//!   length and CRC in the header match it (format 1 or 2), and then a
//!   format 2 file is exactly what the spool would write for it (the format
//!   has one encoding);
//! - the same bytes as a file in a spool directory: `Spool::open` indexes the
//!   batch only if its header and size are whole (else sets it aside in
//!   `corrupt/`), reading it gives the payload `decode_record` gave or sets
//!   it aside, and the next sequence number is above the file's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wattline_fuzz::seeds;
use wattline_fuzz::spool::{decode_record, encode_record, parse_header, Spool, HEADER_LEN};

const SEQUENCE: u64 = 7;

fuzz_target!(init: seeds::write_if_asked(seeds::spool_files), |contents: &[u8]| {
    let header = parse_header(contents);
    let decoded = decode_record(contents.to_vec());
    if let Ok(payload) = &decoded {
        let header = header.expect("a decoded file has a header");
        let mut crc = crc32fast::Hasher::new();
        if !header.v1 {
            // Format 2's CRC covers the reading count and the length.
            crc.update(&contents[8..16]);
        }
        crc.update(payload);
        assert_eq!(crc.finalize(), header.crc);
        assert_eq!(&contents[HEADER_LEN..], payload);
        if !header.v1 {
            assert_eq!(encode_record(header.readings, payload).as_deref(), Ok(contents));
        }
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let name = format!("{SEQUENCE:020}.batch");
    std::fs::write(dir.path().join(&name), contents).expect("writes the batch file");
    let spool = Spool::open(dir.path(), u64::MAX).expect("a damaged batch never stops the spool opening");
    let pending = spool.pending_after(None, 10);
    let whole = header.is_some_and(|h| contents.len() == HEADER_LEN + h.payload_len as usize);
    if whole {
        let [batch] = pending[..] else { panic!("a whole file is indexed: {pending:?}") };
        assert_eq!((batch.sequence, batch.bytes), (SEQUENCE, contents.len() as u64));
        let read = spool.read_or_quarantine(&batch).expect("no I/O error");
        assert_eq!(read, decoded.as_ref().ok().cloned(), "the spool reads what decode_record reads");
        assert_eq!(dir.path().join("corrupt").join(&name).exists(), read.is_none());
    } else {
        assert!(pending.is_empty(), "a torn file is not indexed");
        assert!(decoded.is_err());
        assert!(dir.path().join("corrupt").join(&name).exists(), "a torn file is set aside");
    }
    assert!(spool.next_sequence() > SEQUENCE, "the damaged file's sequence is never reused");
});
