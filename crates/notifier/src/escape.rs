//! Making user input (file names, and reasons that quote them) inert in Slack markdown.
//!
//! Slack turns `<!channel>`, `<!here>`, `<@U123>` and `<http://…|text>` into mentions and links,
//! and `*`, `_`, `~`, `` ` `` into formatting. Escaping `&`, `<`, `>` as entities (Slack's own
//! rule) disarms the first group; the formatting characters are swapped for look-alikes, `@` gets
//! a zero-width joiner so no `@channel` reaches a client that expands it, and line breaks and
//! control characters become spaces so a name cannot add lines of its own.

const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// `text` as inert, single-line Slack text of at most `max_chars` characters (plus "…").
pub fn inert_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' => out.push('∗'),
            '_' => out.push('‗'),
            '~' => out.push('∼'),
            '`' => out.push('ˋ'),
            '@' => {
                out.push('@');
                out.push(ZERO_WIDTH_SPACE);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A file name or key shown as code: inert, and visibly a name.
pub fn inert_code(text: &str, max_chars: usize) -> String {
    format!("`{}`", inert_text(text, max_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_links_and_markup_are_disarmed() {
        let hostile = "<!channel> @here *bold* _it_ ~s~ `code` <https://evil.example|click> a&b\nline2";
        let safe = inert_text(hostile, 500);
        assert!(!safe.contains('<') && !safe.contains('>'), "{safe}");
        assert!(safe.contains("&lt;!channel&gt;"));
        assert!(!safe.contains("@here"), "zero-width joiner splits the mention: {safe}");
        for c in ['*', '_', '~', '`', '\n'] {
            assert!(!safe.contains(c), "{c:?} in {safe}");
        }
        assert!(safe.contains("a&amp;b"));
    }

    #[test]
    fn long_names_are_capped() {
        let capped = inert_text(&"x".repeat(1000), 100);
        assert_eq!(capped.chars().count(), 101);
        assert!(capped.ends_with('…'));
        assert_eq!(inert_code("a`b", 10), "`aˋb`");
    }
}
