//! Text helpers for the common first step of text jobs: splitting lines into words without an
//! allocation per word.

/// A word: a small-string type that stores up to 24 bytes inline, so most words cost no heap
/// allocation. Derefs to `&str`; hashes, compares, prints and serializes like a `String` (so a
/// word key lands in the same partition as the same text in a `String`).
pub type Word = compact_str::CompactString;

/// The words of `line` separated by single spaces (Spark's `line.split(" ")`, empty pieces
/// included), as an iterator that owns the line — so `flat_map(words)` needs no intermediate
/// vector.
///
/// ```
/// use streamflow::text::words;
/// let w: Vec<_> = words("a b  c".to_string()).collect();
/// assert_eq!(w, ["a", "b", "", "c"]);
/// ```
pub fn words(line: String) -> Words {
    Words {
        line,
        pos: 0,
        done: false,
    }
}

/// The iterator returned by [`words`].
#[derive(Debug, Clone)]
pub struct Words {
    line: String,
    pos: usize,
    done: bool,
}

impl Iterator for Words {
    type Item = Word;

    fn next(&mut self) -> Option<Word> {
        if self.done {
            return None;
        }
        let rest = &self.line[self.pos..];
        match rest.find(' ') {
            Some(i) => {
                let word = Word::new(&rest[..i]);
                self.pos += i + 1;
                Some(word)
            }
            None => {
                self.done = true;
                Some(Word::new(rest))
            }
        }
    }
}
