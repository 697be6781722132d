//! The agent's on-disk spool: every window is written here before any upload
//! is tried, one file per window named by its sequence number
//! (`00000000000000000042.json`, the JSON of one `WindowUpload`), written to a
//! temporary file, fsynced, renamed into place and the directory fsynced; a
//! file is deleted only once the controller acknowledged its window (stored
//! now or before). The next sequence number lives in `next_seq` beside them
//! (written the same way), so a restarted agent never reuses a number.
//!
//! Size bound: when the spooled windows reach `max_bytes`, new windows are
//! dropped (the oldest are kept, so replay stays in order with no gap in the
//! numbers: a dropped window never gets a sequence number) and counted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const SEQ_FILE: &str = "next_seq";
const SUFFIX: &str = ".json";
/// Where windows the controller refused as malformed (400) are moved.
const REJECTED: &str = "rejected";

/// The spool directory and what it holds.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Spooled windows: (seq, size in bytes), in seq order.
    pending: std::collections::BTreeMap<u64, u64>,
    bytes: u64,
    next_seq: u64,
    /// Windows dropped because the spool was full.
    pub dropped: u64,
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `data` to `dir/name` atomically and durably.
fn write_durably(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    fsync_dir(dir)
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, finding the windows
    /// still there and the next sequence number.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut pending = std::collections::BTreeMap::new();
        let mut bytes = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".tmp") {
                // A write cut short by a crash: never renamed, never counted.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Some(seq) = name
                .strip_suffix(SUFFIX)
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let size = entry.metadata()?.len();
            pending.insert(seq, size);
            bytes += size;
        }
        let stored = match fs::read_to_string(dir.join(SEQ_FILE)) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a number", dir.join(SEQ_FILE).display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 1,
            Err(e) => return Err(e),
        };
        let after_files = pending.keys().next_back().map_or(1, |s| s + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            pending,
            bytes,
            next_seq: stored.max(after_files).max(1),
            dropped: 0,
        })
    }

    /// Raises the next sequence number to at least `floor` (the controller's
    /// `next_seq`: numbers below it are taken).
    pub fn raise_floor(&mut self, floor: u64) -> io::Result<()> {
        if floor > self.next_seq {
            self.next_seq = floor;
            write_durably(&self.dir, SEQ_FILE, floor.to_string().as_bytes())?;
        }
        Ok(())
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether another window of `len` bytes fits.
    pub fn has_room(&self, len: usize) -> bool {
        self.bytes.saturating_add(len as u64) <= self.max_bytes
    }

    /// Spools one window: `encode(seq)` gives its JSON for the number it gets.
    /// Returns the number, or None when the spool is full (then the window is
    /// dropped and counted).
    pub fn push(&mut self, encode: impl FnOnce(u64) -> Vec<u8>) -> io::Result<Option<u64>> {
        let seq = self.next_seq;
        let data = encode(seq);
        if !self.has_room(data.len()) {
            self.dropped += 1;
            return Ok(None);
        }
        write_durably(&self.dir, &file_name(seq), &data)?;
        self.next_seq = seq + 1;
        write_durably(&self.dir, SEQ_FILE, self.next_seq.to_string().as_bytes())?;
        self.pending.insert(seq, data.len() as u64);
        self.bytes += data.len() as u64;
        Ok(Some(seq))
    }

    /// Spooled windows, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The JSON of a spooled window.
    pub fn read(&self, seq: u64) -> io::Result<Vec<u8>> {
        fs::read(self.dir.join(file_name(seq)))
    }

    /// Forgets an acknowledged window.
    pub fn remove(&mut self, seq: u64) -> io::Result<()> {
        if let Some(size) = self.pending.remove(&seq) {
            self.bytes = self.bytes.saturating_sub(size);
            match fs::remove_file(self.dir.join(file_name(seq))) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Fsyncs the directory after a run of removals.
    pub fn sync(&self) -> io::Result<()> {
        fsync_dir(&self.dir)
    }

    /// Moves a window the controller refused as malformed aside (into
    /// `rejected/`), so it neither blocks the others nor gets lost silently.
    pub fn reject(&mut self, seq: u64) -> io::Result<PathBuf> {
        let dir = self.dir.join(REJECTED);
        fs::create_dir_all(&dir)?;
        let to = dir.join(file_name(seq));
        fs::rename(self.dir.join(file_name(seq)), &to)?;
        if let Some(size) = self.pending.remove(&seq) {
            self.bytes = self.bytes.saturating_sub(size);
        }
        fsync_dir(&self.dir)?;
        Ok(to)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fs;

    use super::Spool;

    #[test]
    fn numbers_persist_and_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.next_seq(), 1);
        assert_eq!(s.push(|n| format!("{n}").into_bytes()).unwrap(), Some(1));
        assert_eq!(s.push(|n| format!("{n}").into_bytes()).unwrap(), Some(2));
        s.remove(1).unwrap();
        s.remove(2).unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.next_seq(), 3);
        s.raise_floor(10).unwrap();
        s.raise_floor(5).unwrap();
        assert_eq!(s.push(|_| b"x".to_vec()).unwrap(), Some(10));
        drop(s);
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.pending().collect::<Vec<_>>(), vec![10]);
        assert_eq!(s.read(10).unwrap(), b"x");
        assert_eq!(s.next_seq(), 11);
    }

    #[test]
    fn full_spool_drops_new_windows_without_numbering_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 10).unwrap();
        assert_eq!(s.push(|_| vec![b'a'; 6]).unwrap(), Some(1));
        assert_eq!(s.push(|_| vec![b'b'; 6]).unwrap(), None);
        assert_eq!(s.dropped, 1);
        s.remove(1).unwrap();
        assert_eq!(s.push(|_| vec![b'c'; 6]).unwrap(), Some(2));
    }

    #[test]
    fn leftover_temporary_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".00000000000000000007.json.tmp"), b"half").unwrap();
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.next_seq(), 1);
    }
}
