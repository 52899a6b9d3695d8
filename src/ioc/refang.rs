//! Refanging: undo the "defanging" analysts apply so that IOCs in reports are
//! not clickable (`hxxp://evil[.]com`, `1.2.3(.)4`, `user[@]mail[.]ru`).

/// Replacement pairs, tried in order. Longer brackets first so `[.]` wins
/// over a lone `.` rule, and scheme rewrites only touch a scheme prefix.
const BRACKETS: &[(&str, &str)] = &[
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("{dot}", "."),
    ("[DOT]", "."),
    ("(DOT)", "."),
    ("[:]", ":"),
    ("[://]", "://"),
    ("[@]", "@"),
    ("(@)", "@"),
    ("[at]", "@"),
    ("(at)", "@"),
    ("[AT]", "@"),
    ("(AT)", "@"),
    ("[/]", "/"),
];

/// Returns `raw` trimmed and refanged. Borrow-free fast path: values without
/// any defang marker are returned as a plain copy of the trimmed input.
///
/// Handles `hxxp`/`hxxps`/`hXXp`/`fxp` schemes, `[.]`, `(.)`, `{.}`, `[dot]`,
/// `(dot)`, `[:]`, `[://]`, `[@]`, `(at)`, `[at]`, `[/]`, and a leading/trailing
/// bracket pair around a whole host.
pub fn refang(raw: &str) -> String {
    let s = raw
        .trim()
        .trim_matches(|c: char| c == '\u{feff}' || c == '\u{200b}');
    let mut out: String = if s.contains(['[', '(', '{']) {
        let mut v = s.to_string();
        for (from, to) in BRACKETS {
            if v.contains(from) {
                v = v.replace(from, to);
            }
        }
        v
    } else {
        s.to_string()
    };
    // Scheme rewrites: only at the very start.
    let lower_prefix: String = out.chars().take(6).collect::<String>().to_ascii_lowercase();
    for (from, to) in [
        ("hxxps", "https"),
        ("hxxp", "http"),
        ("hxtps", "https"),
        ("hxtp", "http"),
        ("fxp", "ftp"),
        ("meow", "http"),
    ] {
        if lower_prefix.starts_with(from) && out[from.len()..].starts_with("://") {
            out = format!("{to}{}", &out[from.len()..]);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::refang;

    #[test]
    fn refangs_common_forms() {
        assert_eq!(refang(" hxxp://evil[.]com/a "), "http://evil.com/a");
        assert_eq!(refang("hXXps[:]//a(.)b{.}c"), "https://a.b.c");
        assert_eq!(refang("1.2.3[.]4"), "1.2.3.4");
        assert_eq!(refang("bad[@]mail[dot]ru"), "bad@mail.ru");
        assert_eq!(refang("plain.example"), "plain.example");
    }

    #[test]
    fn leaves_non_scheme_hxxp_alone() {
        assert_eq!(refang("hxxpfoo.com"), "hxxpfoo.com");
    }
}
