//! `print()`: Spark's console output of a DStream.

use std::io::Write;

use crate::data::Data;
use crate::dstream::DStream;
use crate::time::Time;

/// How an element looks in `print()` and in text files: like Scala's `toString`, so output
/// matches Spark's — tuples as `(apple,4)`, strings without quotes, doubles as `1.0`, a
/// tuple struct as `Word(apple,1)` (a Scala case class).
///
/// Implemented for every type that is [`Debug`](std::fmt::Debug): the element's `Debug` text,
/// with the string and char literals unquoted and the `, ` inside parentheses written `,`.
/// `#[derive(Debug)]` is all a type of your own needs; write `Debug` by hand (or `map` to a
/// `String`) to print it another way.
///
/// ```
/// use streamflow::Show;
///
/// assert_eq!(("apple".to_string(), 4).show(), "(apple,4)");
/// assert_eq!((1, (2.0, Some('x'))).show(), "(1,(2.0,Some(x)))");
/// assert_eq!(vec![1, 2].show(), "[1, 2]");
///
/// #[derive(Debug)]
/// struct Word(String, u32);
/// assert_eq!(Word("a, b".into(), 1).show(), "Word(a, b,1)");
///
/// #[derive(Debug)]
/// struct Reading { sensor: &'static str, celsius: f64 }
/// assert_eq!(Reading { sensor: "s-1", celsius: 21.0 }.show(), "Reading { sensor: s-1, celsius: 21.0 }");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be printed",
    label = "`print()`, `print_n()` and text files need the element to be `Debug`",
    note = "add `#[derive(Debug)]` to your type, or `map` each element to a `String` first"
)]
pub trait Show {
    /// Appends the text form to `out`.
    fn show_into(&self, out: &mut String);

    /// The text form.
    fn show(&self) -> String {
        let mut out = String::new();
        self.show_into(&mut out);
        out
    }
}

// Hidden from diagnostics, so a type without `Debug` gets `Show`'s message.
#[diagnostic::do_not_recommend]
impl<T: std::fmt::Debug + ?Sized> Show for T {
    fn show_into(&self, out: &mut String) {
        scala_text(&format!("{self:?}"), out);
    }
}

/// Rewrites `Debug` text as Scala's `toString` writes the same value: string and char
/// literals lose their quotes and escapes, and `, ` between the fields of a tuple (inside
/// parentheses, not inside `[...]` or `{...}`) becomes `,`.
fn scala_text(debug: &str, out: &mut String) {
    let mut open: Vec<char> = Vec::new();
    let mut chars = debug.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => unquote(&mut chars, '"', out),
            '\'' => unquote(&mut chars, '\'', out),
            '(' | '[' | '{' => {
                open.push(c);
                out.push(c);
            }
            ')' | ']' | '}' => {
                open.pop();
                out.push(c);
            }
            ',' if open.last() == Some(&'(') && chars.peek() == Some(&' ') => {
                chars.next();
                out.push(',');
            }
            _ => out.push(c),
        }
    }
}

/// Copies a string or char literal (its opening quote already read) without the quotes,
/// undoing `Debug`'s escapes.
fn unquote(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char, out: &mut String) {
    while let Some(c) = chars.next() {
        match c {
            c if c == quote => return,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('u') => {
                    // \u{XXXX}
                    let mut hex = String::new();
                    for h in chars.by_ref() {
                        match h {
                            '{' => {}
                            '}' => break,
                            h => hex.push(h),
                        }
                    }
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => {
                            out.push_str("\\u{");
                            out.push_str(&hex);
                            out.push('}');
                        }
                    }
                }
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
}

const DASHES: &str = "-------------------------------------------";

/// Spark's `print()` block for one batch: header, up to `num` elements, `...` if there are
/// more (`elements` holds up to `num + 1`), then an empty line.
///
/// This is exactly what [`print_n`](crate::DStream::print_n) writes; use it to test a
/// pipeline's printed output, or to print batches somewhere other than stdout.
///
/// ```
/// use streamflow::{sink::format_batch, Time};
///
/// let text = format_batch(Time::from_millis(1_000), &[("apple", 4), ("banana", 2)], 10);
/// assert_eq!(
///     text,
///     "-------------------------------------------\n\
///      Time: 1000 ms\n\
///      -------------------------------------------\n\
///      (apple,4)\n\
///      (banana,2)\n\
///      \n"
/// );
/// assert!(format_batch(Time::from_millis(1_000), &[1, 2, 3], 2).ends_with("1\n2\n...\n\n"));
/// ```
pub fn format_batch<T: Show>(time: Time, elements: &[T], num: usize) -> String {
    let mut text = format!("{DASHES}\nTime: {} ms\n{DASHES}\n", time.millis());
    for element in elements.iter().take(num) {
        element.show_into(&mut text);
        text.push('\n');
    }
    if elements.len() > num {
        text.push_str("...\n");
    }
    text.push('\n');
    text
}

impl<T: Data> DStream<T> {
    /// Prints the first ten elements of every batch to stdout, in Spark's format — even for an
    /// empty batch:
    ///
    /// ```text
    /// -------------------------------------------
    /// Time: 1475052703000 ms
    /// -------------------------------------------
    /// (orange,1)
    /// (apple,4)
    ///
    /// ```
    ///
    /// Any element that is `Debug` prints (see [`Show`] for how it looks).
    ///
    /// # Examples
    ///
    /// ```
    /// # use streamflow::{testing::TestContext, Duration};
    /// #[derive(Clone, Debug)]
    /// struct Reading { sensor: String, celsius: f64 }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![("apple", 4)]]).print();
    /// t.input(vec![vec![Reading { sensor: "s-1".into(), celsius: 21.5 }]]).print();
    /// t.run(1)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "pprint")]
    pub fn print(&self)
    where
        T: Show,
    {
        self.print_n(10)
    }

    /// Prints the first `num` elements of every batch (Spark's `print(num)`), with a line
    /// `...` when the batch has more.
    ///
    /// ```
    /// # use streamflow::{testing::TestContext, Duration};
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![1, 2, 3]]).print_n(2); // prints 1, 2 and "..."
    /// t.run(1)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "print")]
    pub fn print_n(&self, num: usize)
    where
        T: Show,
    {
        self.print_to(num, std::io::stdout())
    }

    /// Writes what [`print_n`](Self::print_n) prints to `writer` instead of stdout — a file,
    /// a log, a buffer a test reads. A writer that fails (a closed pipe) does not stop the job.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// # use streamflow::{testing::TestContext, Duration};
    ///
    /// #[derive(Clone, Default)]
    /// struct Shared(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Shared {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    ///
    /// let out = Shared::default();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![("apple", 4)]]).print_to(10, out.clone());
    /// t.run(1)?;
    /// let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    /// assert!(text.ends_with("Time: 1000 ms\n-------------------------------------------\n(apple,4)\n\n"), "{text}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn print_to<W: Write + Send + 'static>(&self, num: usize, writer: W)
    where
        T: Show,
    {
        let writer = std::sync::Mutex::new(writer);
        self.output("print", move |batch, time| {
            let first = batch.take(num.saturating_add(1));
            let text = format_batch(time, &first, num);
            let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
            // A closed stdout (e.g. `| head`) must not kill the job.
            let _ = writer.write_all(text.as_bytes()).and_then(|()| writer.flush());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_print_format() {
        let text = format_batch(
            Time::from_millis(1475052703000),
            &[("orange", 1), ("apple", 4)],
            10,
        );
        assert_eq!(
            text,
            "-------------------------------------------\nTime: 1475052703000 ms\n-------------------------------------------\n(orange,1)\n(apple,4)\n\n"
        );
    }

    #[test]
    fn empty_batch_prints_header_only() {
        let text = format_batch::<i32>(Time::from_millis(2000), &[], 10);
        assert_eq!(text, format!("{DASHES}\nTime: 2000 ms\n{DASHES}\n\n"));
    }

    #[test]
    fn more_than_num_adds_ellipsis() {
        let text = format_batch(Time::from_millis(1000), &[1, 2, 3], 2);
        assert!(text.ends_with("1\n2\n...\n\n"), "{text}");
        let exact = format_batch(Time::from_millis(1000), &[1, 2], 2);
        assert!(!exact.contains("..."));
    }

    #[test]
    fn debug_text_becomes_scala_text() {
        assert_eq!("a\"b\\c\nd".show(), "a\"b\\c\nd");
        assert_eq!(('\'', "é\u{301}").show(), "(',é\u{301})");
        assert_eq!(vec![("a", 1), ("b", 2)].show(), "[(a,1), (b,2)]");
        assert_eq!(["x, y"].show(), "[x, y]");
        assert_eq!(Some(("(", ")")).show(), "Some(((,)))");
        assert_eq!(Time::from_millis(5).show(), "5 ms");
        assert_eq!(crate::text::Word::from("w").show(), "w");
        assert_eq!(().show(), "()");
    }

    #[test]
    fn show_matches_scala() {
        assert_eq!((String::from("a"), 1.0_f64).show(), "(a,1.0)");
        assert_eq!(Option::<i32>::None.show(), "None");
        assert_eq!(("k", (Some(1), None::<i32>)).show(), "(k,(Some(1),None))");
    }
}
