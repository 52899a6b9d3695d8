//! Frames of the control protocol ([`crate::ops::control`]): after the
//! request line, both directions carry `tag (1 byte) | length (u32,
//! big-endian) | payload` frames.
//!
//! Why binary frames rather than JSON lines: an export body or an uploaded
//! file is arbitrary bytes (a CSV with quotes, an XML document) and
//! megabytes long; a length prefix carries it without escaping, and the
//! reader never has to scan for a delimiter. Each frame is at most
//! [`MAX_FRAME`] bytes so a hostile or broken peer cannot make the other
//! side allocate more than that per frame.

use std::io::{self, Read, Write};

/// Server → client: bytes for the client's standard output.
pub const STDOUT: u8 = b'o';
/// Server → client: bytes for the client's standard error.
pub const STDERR: u8 = b'e';
/// Server → client: import progress, bytes parsed (decimal text).
pub const PROGRESS: u8 = b'p';
/// Server → client: a command's JSON result (import summary, export count).
pub const RESULT: u8 = b'r';
/// Server → client: the command ended with this exit code (decimal text);
/// the last frame.
pub const EXIT: u8 = b'x';
/// Server → client: the command failed with this message (what the offline
/// command prints after `error: `; exit code 1); the last frame.
pub const ERROR: u8 = b'!';
/// Client → server: a file begins (JSON [`crate::cli::import_live`] header).
pub const FILE: u8 = b'f';
/// Client → server: bytes of the current file.
pub const DATA: u8 = b'b';
/// Client → server: the current file is complete.
pub const FILE_END: u8 = b'z';
/// Client → server: the current file broke off; the payload is the reason
/// for the summary (a read error, a pipe over the size cap).
pub const FILE_ABORT: u8 = b'a';
/// Client → server: no more files.
pub const END: u8 = b'.';

/// Largest payload of one frame (1 MiB).
pub const MAX_FRAME: usize = 1 << 20;

/// Writes one frame. `payload` must not exceed [`MAX_FRAME`] (use
/// [`FrameWriter`] for longer data).
pub fn write_frame(w: &mut (impl Write + ?Sized), tag: u8, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "control frame over 1 MiB",
        ));
    }
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(payload)
}

/// Reads one frame: `Ok(None)` on a clean end of stream before a frame,
/// an `InvalidData` error for a frame over [`MAX_FRAME`] or a stream that
/// ends inside one.
pub fn read_frame(r: &mut (impl Read + ?Sized)) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(truncated()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("control frame of {len} bytes (at most {MAX_FRAME})"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated()
        } else {
            e
        }
    })?;
    Ok(Some((head[0], payload)))
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the control connection ended inside a frame",
    )
}

/// A `Write` that sends everything written as frames of one tag (wrap it
/// in a `BufWriter` so frames are not one per `write` call).
pub struct FrameWriter<W: Write> {
    inner: W,
    tag: u8,
}

impl<W: Write> FrameWriter<W> {
    /// Frames of `tag` onto `inner`.
    pub fn new(inner: W, tag: u8) -> FrameWriter<W> {
        FrameWriter { inner, tag }
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_FRAME);
        if n > 0 {
            write_frame(&mut self.inner, self.tag, &buf[..n])?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_lengths_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, EXIT, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((EXIT, Vec::new())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        // Cut inside a frame.
        let mut r = &buf[..7];
        assert!(read_frame(&mut r).is_err());
        // A length over the cap is refused before any allocation.
        let mut huge = vec![DATA];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut &huge[..]).is_err());
    }
}
