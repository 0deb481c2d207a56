//! `print()`: Spark's console output of a DStream.

use std::io::Write;
use std::sync::Arc;

use crate::data::Data;
use crate::dstream::DStream;
use crate::time::Time;

/// How an element looks in `print()` and in text files: like Scala's `toString`, so output
/// matches Spark's — tuples as `(apple,4)`, strings without quotes, doubles as `1.0`.
///
/// Implemented for numbers, strings, `bool`, `char`, `Option`, `Vec` and tuples up to four;
/// implement it for your own types to print them.
///
/// ```
/// use streamflow::Show;
///
/// assert_eq!(("apple".to_string(), 4).show(), "(apple,4)");
/// assert_eq!((1, (2.0, Some('x'))).show(), "(1,(2.0,Some(x)))");
/// assert_eq!(vec![1, 2].show(), "[1, 2]");
/// ```
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

macro_rules! show_with_display {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show_into(&self, out: &mut String) {
                use std::fmt::Write as _;
                let _ = write!(out, "{}", self);
            }
        }
    )*};
}

show_with_display!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, bool, char, str, String
);
show_with_display!(crate::text::Word, Time, crate::time::Duration);

macro_rules! show_float {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show_into(&self, out: &mut String) {
                use std::fmt::Write as _;
                // Debug prints 1.0 where Display prints 1, as Scala does.
                let _ = write!(out, "{:?}", self);
            }
        }
    )*};
}

show_float!(f32, f64);

impl<T: Show + ?Sized> Show for &T {
    fn show_into(&self, out: &mut String) {
        (**self).show_into(out)
    }
}

impl<T: Show + ?Sized> Show for Arc<T> {
    fn show_into(&self, out: &mut String) {
        (**self).show_into(out)
    }
}

impl<T: Show> Show for Option<T> {
    fn show_into(&self, out: &mut String) {
        match self {
            Some(v) => {
                out.push_str("Some(");
                v.show_into(out);
                out.push(')');
            }
            None => out.push_str("None"),
        }
    }
}

impl<T: Show> Show for Vec<T> {
    fn show_into(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            v.show_into(out);
        }
        out.push(']');
    }
}

macro_rules! show_tuple {
    ($($name:ident),+) => {
        impl<$($name: Show),+> Show for ($($name,)+) {
            #[allow(non_snake_case, reason = "the type names double as binding names")]
            fn show_into(&self, out: &mut String) {
                let ($($name,)+) = self;
                out.push('(');
                let mut first = true;
                $(
                    if !first { out.push(','); }
                    first = false;
                    $name.show_into(out);
                )+
                let _ = first;
                out.push(')');
            }
        }
    };
}

show_tuple!(A);
show_tuple!(A, B);
show_tuple!(A, B, C);
show_tuple!(A, B, C, D);

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

impl<T: Data + Show> DStream<T> {
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
    /// # Examples
    ///
    /// ```
    /// # use streamflow::{testing::TestContext, Duration};
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![("apple", 4)]]).print();
    /// t.run(1)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn print(&self) {
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
    pub fn print_n(&self, num: usize) {
        self.output("print", move |batch, time| {
            let first = batch.take(num.saturating_add(1));
            let text = format_batch(time, &first, num);
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) must not kill the job.
            let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
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
    fn show_matches_scala() {
        assert_eq!((String::from("a"), 1.0_f64).show(), "(a,1.0)");
        assert_eq!(Option::<i32>::None.show(), "None");
        assert_eq!(("k", (Some(1), None::<i32>)).show(), "(k,(Some(1),None))");
    }
}
