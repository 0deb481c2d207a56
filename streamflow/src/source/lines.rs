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

/// What [`LineReader::next_block`] reads: every whole line left in the reader's buffer at once,
/// when they are UTF-8, or one line as [`LineReader::next_line`] reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Block<'a> {
    /// Whole lines, each ending in `\n`, checked as UTF-8 once for all (see [`block_lines`]).
    Lines(&'a str),
    /// One line: one longer than the buffer, the last one without `\n`, or one that is not
    /// UTF-8.
    One(Line<'a>),
}

/// A line of a [`Block::Lines`]: its text without `\n` (or `\r\n`), or its length when it is
/// longer than the limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StrLine<'a> {
    Text(&'a str),
    TooLong(u64),
}

/// The lines of a [`Block::Lines`] with the offset in it where each starts, lines longer than
/// `max` bytes reported as too long (as [`LineReader::next_line`] does).
pub(crate) fn block_lines(text: &str, max: usize) -> impl Iterator<Item = (usize, StrLine<'_>)> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = text.get(start..).filter(|rest| !rest.is_empty())?;
        let len = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let line = &rest[..len];
        let line = line.strip_suffix('\r').unwrap_or(line);
        let at = start;
        start += len + 1;
        Some((
            at,
            match line.len() > max {
                true => StrLine::TooLong(line.len() as u64),
                false => StrLine::Text(line),
            },
        ))
    })
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
    /// Bytes of the inner reader's buffer handed out by [`next_block`](Self::next_block),
    /// consumed at the next call.
    pending: usize,
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
            pending: 0,
        }
    }

    /// The reader it reads from, positioned after the last line or block handed out.
    pub(crate) fn get_ref(&mut self) -> &R {
        self.settle();
        &self.inner
    }

    /// Consumes the bytes of the block handed out last, and forgets the line returned last.
    fn settle(&mut self) {
        if self.pending > 0 {
            self.inner.consume(std::mem::take(&mut self.pending));
        }
        if self.returned {
            self.line.clear();
            self.skipped = 0;
            self.skipped_cr = false;
            self.returned = false;
        }
    }

    /// The buffered input, refilled if empty.
    fn fill(&mut self) -> std::io::Result<&[u8]> {
        loop {
            match self.inner.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.inner.fill_buf()
    }

    /// Every whole line in the buffer at once when they are UTF-8 (checked once for all, not
    /// line by line), otherwise the next line; `None` at the end of the input. Lines are split
    /// and limited by [`block_lines`]. A reader mixes it with [`next_line`](Self::next_line)
    /// freely.
    pub(crate) fn next_block(&mut self) -> std::io::Result<Option<Block<'_>>> {
        self.settle();
        if self.line.is_empty() && self.skipped == 0 {
            let last = memchr::memrchr(b'\n', self.fill()?);
            if let Some(last) = last {
                return self.block(last).map(Some);
            }
        }
        Ok(self.next_line()?.map(Block::One))
    }

    /// The whole lines of the buffer up to its `\n` at `last`: as a block, as far as they are
    /// UTF-8, or the first line alone when it is not.
    fn block(&mut self, last: usize) -> std::io::Result<Block<'_>> {
        let max = self.max;
        let whole = &self.inner.fill_buf()?[..=last];
        let valid = match std::str::from_utf8(whole) {
            Ok(text) => {
                self.pending = whole.len();
                return Ok(Block::Lines(text));
            }
            Err(e) => std::str::from_utf8(&whole[..e.valid_up_to()]).unwrap_or_default(),
        };
        if let Some(at) = valid.rfind('\n') {
            self.pending = at + 1;
            return Ok(Block::Lines(&valid[..=at]));
        }
        let len = memchr::memchr(b'\n', whole).unwrap_or(last);
        self.pending = len + 1;
        let line = &whole[..len];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Ok(Block::One(match line.len() > max {
            true => Line::TooLong(line.len() as u64),
            false => Line::Text(line),
        }))
    }

    /// The next line; `None` at the end of the input. An error other than `Interrupted` is
    /// returned as it is, the partial line kept for the next call.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.settle();
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

    /// The lines `next_block` hands out, as `lines` gives them.
    fn blocks(input: &[u8], max: usize, capacity: usize) -> Vec<Result<String, u64>> {
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Some(block) = reader.next_block().unwrap() {
            match block {
                Block::Lines(text) => {
                    assert!(text.ends_with('\n'));
                    out.extend(block_lines(text, max).map(|(_, line)| match line {
                        StrLine::Text(t) => Ok(t.to_string()),
                        StrLine::TooLong(n) => Err(n),
                    }));
                }
                Block::One(Line::Text(bytes)) => out.push(Ok(String::from_utf8_lossy(bytes).into_owned())),
                Block::One(Line::TooLong(n)) => out.push(Err(n)),
            }
        }
        out
    }

    proptest::proptest! {
        /// Lines read a buffer at a time are the lines read one by one, whatever the bytes
        /// (UTF-8 or not), the line limit and the buffer size.
        #[test]
        fn blocks_give_the_lines_one_by_one_gives(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'\r'),
                    proptest::strategy::Just(0xC3),
                    proptest::strategy::Just(0xA9),
                    proptest::strategy::Just(0xFF),
                    b'a'..b'e',
                ],
                0..200,
            ),
            max in 1_usize..24,
            capacity in 1_usize..48,
        ) {
            proptest::prop_assert_eq!(blocks(&input, max, capacity), lines(&input, max, capacity));
        }
    }

    #[test]
    fn a_block_is_every_whole_utf8_line_in_the_buffer() {
        let input = "é1\r\nab\ntoo long\nlast".as_bytes();
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(64, input), 4);
        assert_eq!(
            reader.next_block().unwrap(),
            Some(Block::Lines("é1\r\nab\ntoo long\n"))
        );
        assert_eq!(
            reader.get_ref().buffer(),
            b"last",
            "the block is consumed once read"
        );
        assert_eq!(
            reader.next_block().unwrap(),
            Some(Block::One(Line::Text(b"last")))
        );
        assert_eq!(reader.next_block().unwrap(), None);
        let lines: Vec<_> = block_lines("é1\r\nab\ntoo long\n", 4).collect();
        assert_eq!(
            lines,
            [
                (0, StrLine::Text("é1")),
                (5, StrLine::Text("ab")),
                (8, StrLine::TooLong(8))
            ]
        );
        // Up to the first line that is not UTF-8, which comes alone.
        let input = b"ok\nbad\xFF\nfine\n";
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(64, &input[..]), 10);
        assert_eq!(reader.next_block().unwrap(), Some(Block::Lines("ok\n")));
        assert_eq!(
            reader.next_block().unwrap(),
            Some(Block::One(Line::Text(b"bad\xFF")))
        );
        assert_eq!(reader.next_block().unwrap(), Some(Block::Lines("fine\n")));
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
