//! Durations written as `Duration` constructors, read at compile time.

use syn::{Expr, ExprLit, Lit};

/// `Duration::from_millis(500)`, `Duration::from_secs(10)` (any path ending so): milliseconds.
pub(crate) fn duration_constructor(expr: &Expr) -> Option<u64> {
    let Expr::Call(call) = expr else { return None };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let mut segments = func.path.segments.iter().rev();
    let constructor = segments.next()?;
    if segments.next()?.ident != "Duration" || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Lit(ExprLit {
        lit: Lit::Int(int), ..
    })) = call.args.first()
    else {
        return None;
    };
    let n: u64 = int.base10_parse().ok()?;
    let factor = match constructor.ident.to_string().as_str() {
        "from_millis" => 1,
        "from_secs" | "seconds" => 1_000,
        "minutes" | "from_mins" => 60_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_constructors_of_a_literal() {
        let ms = |expr: Expr| duration_constructor(&expr);
        assert_eq!(ms(syn::parse_quote!(Duration::from_millis(500))), Some(500));
        assert_eq!(
            ms(syn::parse_quote!(std::time::Duration::from_secs(10))),
            Some(10_000)
        );
        assert_eq!(
            ms(syn::parse_quote!(streamflow::Duration::seconds(2))),
            Some(2_000)
        );
        assert_eq!(ms(syn::parse_quote!(Duration::minutes(3))), Some(180_000));
        assert_eq!(ms(syn::parse_quote!(Duration::from_mins(1))), Some(60_000));
    }

    #[test]
    fn anything_else_is_not_read() {
        let ms = |expr: Expr| duration_constructor(&expr);
        assert_eq!(ms(syn::parse_quote!(Duration::from_secs(n))), None);
        assert_eq!(ms(syn::parse_quote!(Duration::hours(1))), None);
        assert_eq!(ms(syn::parse_quote!(Instant::from_secs(1))), None);
        assert_eq!(ms(syn::parse_quote!(from_secs(1))), None);
        assert_eq!(
            ms(syn::parse_quote!(Duration::minutes(18446744073709551615))),
            None
        );
    }
}
