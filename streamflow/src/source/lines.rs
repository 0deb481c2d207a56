//! Lines of bounded length from any byte stream — a socket or a file — so that a line with no
//! end (a 1 GB line, a binary file) costs at most the limit in memory: what goes past it is read
//! and dropped, and the line is reported as too long.

use std::io::{BufRead, ErrorKind};

/// One line read by a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// The line's bytes, without its `\n` (or `\r\n`).
    Text(&'a [u8]),
    /// A line longer than the limit, of this many bytes: skipped.
    TooLong(u64),
}

/// Reads `\n`-terminated lines of at most `max` bytes (a `\r` before the `\n` not counted).
///
/// A read that fails (a socket's read timeout, say) keeps the part of the line read so far, and
/// the next call goes on with it. At the end of the input, a last line without `\n` is a line.
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
    line: Vec<u8>,
    /// Bytes of the current line dropped because it is too long (0 while it fits).
    skipped: u64,
    /// Whether the last byte dropped was a `\r` (not counted if the `\n` follows).
    skipped_cr: bool,
    /// The last call returned a line: the next one starts afresh.
    returned: bool,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max: max.max(1),
            line: Vec::new(),
            skipped: 0,
            skipped_cr: false,
            returned: false,
        }
    }

    /// The reader it reads from.
    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next line; `None` at the end of the input. An error other than `Interrupted` is
    /// returned as it is, the partial line kept for the next call.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        if self.returned {
            self.line.clear();
            self.skipped = 0;
            self.skipped_cr = false;
            self.returned = false;
        }
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                if self.line.is_empty() && self.skipped == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.finish()));
            }
            let newline = memchr::memchr(b'\n', buf);
            let chunk = &buf[..newline.unwrap_or(buf.len())];
            // One byte over the limit is allowed while reading: it may be the `\r` of `\r\n`.
            if self.skipped > 0 || self.line.len() + chunk.len() > self.max.saturating_add(1) {
                if let Some(&last) = chunk.last().or(self.line.last()) {
                    self.skipped_cr = last == b'\r';
                }
                self.skipped += (self.line.len() + chunk.len()) as u64;
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(chunk);
            }
            let used = newline.map_or(buf.len(), |at| at + 1);
            self.inner.consume(used);
            if newline.is_some() {
                return Ok(Some(self.finish()));
            }
        }
    }

    fn finish(&mut self) -> Line<'_> {
        self.returned = true;
        if self.skipped > 0 {
            return Line::TooLong(self.skipped - u64::from(self.skipped_cr));
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if self.line.len() > self.max {
            return Line::TooLong(self.line.len() as u64);
        }
        Line::Text(&self.line)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    fn lines(input: &[u8], max: usize, capacity: usize) -> Vec<Result<String, u64>> {
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(match line {
                Line::Text(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                Line::TooLong(n) => Err(n),
            });
        }
        out
    }

    #[test]
    fn lines_end_at_newlines_and_long_ones_are_skipped_whole() {
        for capacity in [1, 2, 3, 7, 64 * 1024] {
            assert_eq!(
                lines(b"ab\r\n\ncdef\nxy", 3, capacity),
                [Ok("ab".into()), Ok(String::new()), Err(4), Ok("xy".into())],
                "buffer of {capacity}"
            );
            assert_eq!(lines(b"abc\r\nabcd\r\n", 3, capacity), [Ok("abc".into()), Err(4)]);
            assert_eq!(lines(b"", 3, capacity), Vec::<Result<String, u64>>::new());
            assert_eq!(lines(b"toolong", 3, capacity), [Err(7)]);
        }
    }

    /// A reader that fails with `WouldBlock` between its chunks, as a socket with a read
    /// timeout does.
    struct Stuttering {
        chunks: Vec<&'static [u8]>,
        pause: bool,
    }

    impl std::io::Read for Stuttering {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.pause = !self.pause;
            if self.pause && !self.chunks.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let Some(chunk) = self.chunks.first_mut() else {
                return Ok(0);
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            *chunk = &chunk[n..];
            if chunk.is_empty() {
                self.chunks.remove(0);
            }
            Ok(n)
        }
    }

    #[test]
    fn a_line_survives_reads_that_time_out() {
        let input = Stuttering {
            chunks: vec![b"he", b"llo\nwor", b"ld"],
            pause: false,
        };
        let mut reader = LineReader::new(std::io::BufReader::new(input), 100);
        let mut out = Vec::new();
        loop {
            match reader.next_line() {
                Ok(Some(Line::Text(t))) => out.push(String::from_utf8_lossy(t).into_owned()),
                Ok(Some(Line::TooLong(_))) => panic!("not too long"),
                Ok(None) => break,
                Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
            }
        }
        assert_eq!(out, ["hello", "world"]);
    }
}
