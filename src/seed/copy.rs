//! Streaming COPY: generators write rows in one of PostgreSQL's COPY formats into a bounded
//! channel of ~1 MB chunks; a loader task per table sends them with `COPY ... FROM STDIN`.
//! Memory stays bounded whatever the scale.
//!
//! Text format for the narrow tables (what `pg_restore` sends too); binary format for the
//! MLS tables, whose BYTEA columns are most of the bytes: text doubles them into hex that
//! the server must parse back (measured here: COPY of 916 MB of BYTEA took 12-13 s as text
//! and 4.3-6.5 s as binary).

use std::fmt::Write as _;

use chrono::NaiveDateTime;
use sqlx::PgPool;
use tokio::sync::mpsc;

/// Size at which a chunk is handed to the loader.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks in flight per table: bounds memory to about this many MB per table.
pub const CHANNEL_CHUNKS: usize = 4;

/// The COPY format of a table's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    /// Binary: every field typed exactly as its column (`int4` for INTEGER, ...).
    Binary,
}

impl Format {
    /// The options clause of the COPY statement. `FREEZE` writes the rows frozen and their
    /// pages all-visible (the table is truncated in the same transaction), so the
    /// `VACUUM (ANALYZE)` after the load does not rewrite every page to set hint bits.
    pub fn copy_options(self) -> &'static str {
        match self {
            Self::Text => " (FREEZE)",
            Self::Binary => " (FORMAT binary, FREEZE)",
        }
    }
}

/// A piece of a table's COPY stream and the rows it completes. `end` marks the last one,
/// sent by [`TableSink::finish`]: a stream that stops without it (the generator failed or
/// panicked) is aborted, never committed.
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub rows: u64,
    pub end: bool,
}

/// Signature, flags and header-extension length of a binary COPY stream.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Row writer for one table. Values are appended field by field; `end_row` closes a row.
pub struct TableSink {
    table: &'static str,
    format: Format,
    buf: Vec<u8>,
    rows: u64,
    /// Rows in `buf` not yet sent.
    pending: u64,
    /// Text: no field written yet in this row. Binary: where this row's field count goes.
    first_field: bool,
    row_start: usize,
    fields: u16,
    tx: mpsc::Sender<Chunk>,
}

#[derive(Debug, thiserror::Error)]
#[error("loader for table {table} stopped before generation finished")]
pub struct SinkClosed {
    pub table: &'static str,
}

impl TableSink {
    /// A text-format sink.
    pub fn new(table: &'static str, tx: mpsc::Sender<Chunk>) -> Self {
        Self::with_format(table, Format::Text, tx)
    }

    pub fn with_format(table: &'static str, format: Format, tx: mpsc::Sender<Chunk>) -> Self {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        if format == Format::Binary {
            buf.extend_from_slice(BINARY_HEADER);
        }
        Self {
            table,
            format,
            buf,
            rows: 0,
            pending: 0,
            first_field: true,
            row_start: 0,
            fields: 0,
            tx,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn sep(&mut self) {
        match self.format {
            Format::Text => {
                if !self.first_field {
                    self.buf.push(b'\t');
                }
            }
            Format::Binary => {
                if self.first_field {
                    // The field count, filled in by `end_row`.
                    self.row_start = self.buf.len();
                    self.buf.extend_from_slice(&[0, 0]);
                    self.fields = 0;
                }
                self.fields += 1;
            }
        }
        self.first_field = false;
    }

    /// A binary field: its length, then `data`.
    fn binary_field(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        // BYTEA values are far below 1 GB (PostgreSQL's own limit).
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        for part in parts {
            self.buf.extend_from_slice(part);
        }
    }

    /// An integer for a BIGINT column (text: any integer column).
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.integer(v, &v.to_be_bytes())
    }

    /// An integer for an INTEGER (int4) column.
    pub fn int4(&mut self, v: i32) -> &mut Self {
        self.integer(v, &v.to_be_bytes())
    }

    /// An integer: decimal in text, its big-endian bytes `be` (the column's width) in binary.
    fn integer(&mut self, v: impl std::fmt::Display, be: &[u8]) -> &mut Self {
        self.sep();
        match self.format {
            Format::Text => {
                let _ = write!(Bytes(&mut self.buf), "{v}");
            }
            Format::Binary => self.binary_field(&[be]),
        }
        self
    }

    /// A decimal with a fixed number of fractional digits (exact text, no float noise).
    /// Text format only: the tables with DECIMAL columns load as text.
    pub fn decimal(&mut self, v: f64, digits: usize) -> &mut Self {
        debug_assert_eq!(self.format, Format::Text, "decimal in a binary COPY");
        self.sep();
        let _ = write!(Bytes(&mut self.buf), "{v:.digits$}");
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        if self.format == Format::Binary {
            self.binary_field(&[s.as_bytes()]);
            return self;
        }
        for &b in s.as_bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.sep();
        match self.format {
            Format::Text => self.buf.extend_from_slice(b"\\N"),
            Format::Binary => self.buf.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        self
    }

    pub fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// BYTEA: raw in binary COPY; in text, hex form whose backslash is itself escaped.
    pub fn bytea(&mut self, data: &[u8]) -> &mut Self {
        self.bytea_parts(&[data])
    }

    /// One BYTEA value made of `parts` in order (written without joining them first).
    pub fn bytea_parts(&mut self, parts: &[&[u8]]) -> &mut Self {
        self.sep();
        if self.format == Format::Binary {
            self.binary_field(parts);
            return self;
        }
        self.buf.extend_from_slice(b"\\\\x");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for part in parts {
            for &b in *part {
                self.buf.push(HEX[usize::from(b >> 4)]);
                self.buf.push(HEX[usize::from(b & 0xf)]);
            }
        }
        self
    }

    /// A TIMESTAMP (without time zone), to the microsecond.
    pub fn timestamp(&mut self, t: NaiveDateTime) -> &mut Self {
        self.sep();
        if self.format == Format::Binary {
            let micros = t.and_utc().timestamp_micros() - PG_EPOCH_MICROS;
            self.binary_field(&[&micros.to_be_bytes()]);
            return self;
        }
        let _ = write!(
            Bytes(&mut self.buf),
            "{}",
            t.format("%Y-%m-%d %H:%M:%S%.6f")
        );
        self
    }

    /// Ends the current row; hands the chunk to the loader when it is full.
    pub fn end_row(&mut self) -> Result<(), SinkClosed> {
        match self.format {
            Format::Text => self.buf.push(b'\n'),
            Format::Binary => {
                let at = self.row_start;
                self.buf[at..at + 2].copy_from_slice(&self.fields.to_be_bytes());
            }
        }
        self.first_field = true;
        self.rows += 1;
        self.pending += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush(false)?;
        }
        Ok(())
    }

    fn flush(&mut self, end: bool) -> Result<(), SinkClosed> {
        if self.buf.is_empty() && !end {
            return Ok(());
        }
        let capacity = if end { 0 } else { CHUNK_BYTES + 4096 };
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(capacity));
        let rows = std::mem::take(&mut self.pending);
        self.tx
            .blocking_send(Chunk { bytes, rows, end })
            .map_err(|_| SinkClosed { table: self.table })
    }

    /// Sends what is left (and a binary stream's trailer) as the last chunk: the loader
    /// then ends and commits the COPY.
    pub fn finish(mut self) -> Result<u64, SinkClosed> {
        if self.format == Format::Binary {
            self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        }
        self.flush(true)?;
        Ok(self.rows)
    }
}

struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// What one table's COPY sent.
pub struct Loaded {
    pub rows: u64,
    /// First 128 bits of the SHA-256 of the whole COPY stream, in hex: it pins every
    /// row's contents and position.
    pub checksum: String,
}

/// Why a load failed.
#[derive(Debug)]
pub enum LoadFailure {
    Sql(sqlx::Error),
    /// The table already held rows: nothing was loaded or emptied.
    NotEmpty,
    /// The stream ended without its last chunk: the generator stopped (its own error says
    /// why); the COPY was aborted.
    Stopped,
}

impl From<sqlx::Error> for LoadFailure {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

/// Whether `table` holds any row.
pub async fn has_rows(conn: impl sqlx::PgExecutor<'_>, table: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT FROM {table})"
    )))
    .fetch_one(conn)
    .await
}

/// Streams chunks from `rx` into `COPY table (columns) FROM STDIN` on one pooled connection,
/// in one transaction that first truncates the (empty, just migrated) table: that is what lets
/// COPY freeze the rows and, on a server with `wal_level = minimal` such as the throwaway
/// cluster, skip writing them to the WAL.
pub async fn load(
    pool: PgPool,
    table: &'static str,
    columns: &'static str,
    format: Format,
    mut rx: mpsc::Receiver<Chunk>,
    progress: &indicatif::ProgressBar,
) -> Result<Loaded, LoadFailure> {
    use sha2::Digest as _;
    let mut tx = pool.begin().await?;
    // Never empty a table that holds rows: only the just-migrated, empty tables are loaded.
    // The lock first, so that nothing can be written between the check and the TRUNCATE;
    // behind another session's transaction it fails after a while rather than stalling.
    sqlx::query("SET LOCAL lock_timeout = '30s'")
        .execute(&mut *tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await?;
    if has_rows(&mut *tx, table).await? {
        return Err(LoadFailure::NotEmpty);
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {table}")))
        .execute(&mut *tx)
        .await?;
    let stmt = format!(
        "COPY {table} ({columns}) FROM STDIN{}",
        format.copy_options()
    );
    let mut copy = tx.copy_in_raw(&stmt).await?;
    let mut hash = sha2::Sha256::new();
    let mut total = 0u64;
    let mut ended = false;
    while let Some(Chunk { bytes, rows, end }) = rx.recv().await {
        total += rows;
        progress.inc(rows);
        hash.update(&bytes);
        if !bytes.is_empty() {
            if let Err(e) = copy.send(bytes).await {
                let _ = copy.abort("sending failed").await;
                return Err(e.into());
            }
        }
        if end {
            ended = true;
            break;
        }
    }
    if !ended {
        // Rolled back with the transaction: a failed generator leaves no partial table.
        let _ = copy.abort("the generator stopped").await;
        return Err(LoadFailure::Stopped);
    }
    let stored = copy.finish().await?;
    if stored != total {
        return Err(LoadFailure::Sql(sqlx::Error::Protocol(format!(
            "COPY into {table} stored {stored} rows, {total} were sent"
        ))));
    }
    tx.commit().await?;
    Ok(Loaded {
        rows: stored,
        checksum: hex::encode(&hash.finalize()[..16]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_bytea() {
        let (tx, _rx) = mpsc::channel(1);
        let mut s = TableSink::new("t", tx);
        s.int(-3)
            .text("a\tb\\c\nd")
            .bytea(&[0, 255])
            .null()
            .decimal(1.5, 2);
        s.buf.push(b'\n');
        assert_eq!(
            String::from_utf8(s.buf.clone()).unwrap(),
            "-3\ta\\tb\\\\c\\nd\t\\\\x00ff\t\\N\t1.50\n"
        );
    }

    #[test]
    fn binary_rows_are_length_prefixed_and_typed() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut s = TableSink::with_format("t", Format::Binary, tx);
        let t = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .unwrap()
            .and_hms_micro_opt(0, 0, 1, 5)
            .unwrap();
        s.int4(-2)
            .text("é")
            .null()
            .bytea_parts(&[&[1], &[2, 3]])
            .timestamp(t);
        s.end_row().unwrap();
        assert_eq!(s.finish().unwrap(), 1);
        let chunk = rx.try_recv().unwrap();
        assert_eq!(chunk.rows, 1);
        assert!(chunk.end);
        let mut want = BINARY_HEADER.to_vec();
        want.extend_from_slice(&5i16.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
        want.extend_from_slice(&[0, 0, 0, 2, 0xc3, 0xa9]);
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        want.extend_from_slice(&[0, 0, 0, 3, 1, 2, 3]);
        want.extend_from_slice(&[0, 0, 0, 8]);
        want.extend_from_slice(&1_000_005i64.to_be_bytes());
        want.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(chunk.bytes, want);
    }
}
