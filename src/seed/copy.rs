//! Streaming COPY: generators write rows in PostgreSQL's text COPY format into a bounded
//! channel of ~1 MB chunks; a loader task per table sends them with `COPY ... FROM STDIN`.
//! Memory stays bounded whatever the scale.

use std::fmt::Write as _;

use chrono::NaiveDateTime;
use sqlx::PgPool;
use tokio::sync::mpsc;

/// Size at which a chunk is handed to the loader.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks in flight per table: bounds memory to about this many MB per table.
pub const CHANNEL_CHUNKS: usize = 4;

/// Row writer for one table. Values are appended field by field; `end_row` closes a row.
pub struct TableSink {
    table: &'static str,
    buf: Vec<u8>,
    rows: u64,
    first_field: bool,
    tx: mpsc::Sender<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
#[error("loader for table {table} stopped before generation finished")]
pub struct SinkClosed {
    pub table: &'static str,
}

impl TableSink {
    pub fn new(table: &'static str, tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            table,
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            rows: 0,
            first_field: true,
            tx,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn sep(&mut self) {
        if !self.first_field {
            self.buf.push(b'\t');
        }
        self.first_field = false;
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(Bytes(&mut self.buf), "{v}");
        self
    }

    /// A decimal with a fixed number of fractional digits (exact text, no float noise).
    pub fn decimal(&mut self, v: f64, digits: usize) -> &mut Self {
        self.sep();
        let _ = write!(Bytes(&mut self.buf), "{v:.digits$}");
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
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
        self.buf.extend_from_slice(b"\\N");
        self
    }

    pub fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// BYTEA in hex form; the backslash of `\x` is itself escaped for COPY text.
    pub fn bytea(&mut self, data: &[u8]) -> &mut Self {
        self.bytea_parts(&[data])
    }

    /// One BYTEA value made of `parts` in order (written without joining them first).
    pub fn bytea_parts(&mut self, parts: &[&[u8]]) -> &mut Self {
        self.sep();
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

    pub fn timestamp(&mut self, t: NaiveDateTime) -> &mut Self {
        self.sep();
        let _ = write!(
            Bytes(&mut self.buf),
            "{}",
            t.format("%Y-%m-%d %H:%M:%S%.6f")
        );
        self
    }

    /// Ends the current row; hands the chunk to the loader when it is full.
    pub fn end_row(&mut self) -> Result<(), SinkClosed> {
        self.buf.push(b'\n');
        self.first_field = true;
        self.rows += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkClosed> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| SinkClosed { table: self.table })
    }

    /// Sends what is left; dropping the sink then ends the COPY.
    pub fn finish(mut self) -> Result<u64, SinkClosed> {
        self.flush()?;
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
    /// First 128 bits of the SHA-256 of the whole COPY text stream, in hex: it pins every
    /// row's contents and position.
    pub checksum: String,
}

/// Streams chunks from `rx` into `COPY table (columns) FROM STDIN` on one pooled connection.
pub async fn load(
    pool: PgPool,
    table: &'static str,
    columns: &'static str,
    mut rx: mpsc::Receiver<Vec<u8>>,
    progress: &indicatif::ProgressBar,
) -> Result<Loaded, sqlx::Error> {
    use sha2::Digest as _;
    let mut conn = pool.acquire().await?;
    let stmt = format!("COPY {table} ({columns}) FROM STDIN");
    let mut copy = conn.copy_in_raw(&stmt).await?;
    let mut hash = sha2::Sha256::new();
    let mut total = 0u64;
    while let Some(chunk) = rx.recv().await {
        // Rows in the chunk: one newline each (escaped newlines are `\n`, not 0x0a).
        let rows = chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        total += rows;
        progress.inc(rows);
        hash.update(&chunk);
        if let Err(e) = copy.send(chunk).await {
            let _ = copy.abort("generator failed").await;
            return Err(e);
        }
    }
    let stored = copy.finish().await?;
    if stored != total {
        return Err(sqlx::Error::Protocol(format!(
            "COPY into {table} stored {stored} rows, {total} were sent"
        )));
    }
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
}
