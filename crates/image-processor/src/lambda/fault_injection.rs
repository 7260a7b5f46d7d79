//! `MEDIA_EDGE_PANIC_ON_KEY`: an original whose key ends with this value panics the handler.
//! Only `make soak` sets it, to show with the build that ships that a panic fails its own message
//! and nothing else (the template never sets it: infra/tests asserts that).

use std::sync::OnceLock;

const VARIABLE: &str = "MEDIA_EDGE_PANIC_ON_KEY";

pub fn panic_if_asked(key: &str) {
    static SUFFIX: OnceLock<Option<String>> = OnceLock::new();
    let suffix = SUFFIX.get_or_init(|| std::env::var(VARIABLE).ok().filter(|s| !s.is_empty()));
    if suffix.as_deref().is_some_and(|s| key.ends_with(s)) {
        #[allow(clippy::panic)] // the point of it
        {
            panic!("{VARIABLE}: panicking on purpose for {key}");
        }
    }
}
