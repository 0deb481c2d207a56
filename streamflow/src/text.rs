//! Text helpers for the common first step of text jobs: splitting lines into words without an
//! allocation per word.

/// A word: a small string that stores up to 24 bytes inline, so most words cost no heap
/// allocation. Derefs to `&str`; hashes, compares, prints and serializes like a `String` (so a
/// word key lands in the same partition as the same text in a `String`).
///
/// ```
/// use streamflow::text::Word;
/// let w = Word::from("apple");
/// assert_eq!(w, "apple");
/// assert_eq!(w.len(), 5); // a `&str` method, through `Deref`
/// assert_eq!(w.to_string(), "apple");
/// assert_eq!(String::from(w), "apple");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Word(compact_str::CompactString);

impl Word {
    /// A word with the text `text`.
    pub fn new(text: &str) -> Self {
        Word(compact_str::CompactString::new(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Word {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Word {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Word {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.0.as_str(), f)
    }
}

impl std::fmt::Debug for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl From<&str> for Word {
    fn from(text: &str) -> Self {
        Word::new(text)
    }
}

impl From<String> for Word {
    fn from(text: String) -> Self {
        Word(compact_str::CompactString::from(text))
    }
}

impl From<Word> for String {
    fn from(word: Word) -> Self {
        word.0.into_string()
    }
}

impl PartialEq<str> for Word {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Word {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for Word {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

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
        // Words are short: a plain scan beats a searcher set up for each word.
        match rest.bytes().position(|b| b == b' ') {
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
