//! Typed configuration from environment variables.
//!
//! Readers take a lookup function rather than touching `std::env` directly, so configuration
//! parsing is tested with plain maps and never races other tests over the process environment.

use std::fmt::Display;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

/// A source of configuration values: `std::env` in Lambda, a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The value, with surrounding blanks removed; unset and blank are the same.
pub fn optional(vars: &impl Vars, name: &str) -> Option<String> {
    vars.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

pub fn required(vars: &impl Vars, name: &'static str) -> Result<String, ConfigError> {
    optional(vars, name).ok_or(ConfigError::Missing(name))
}

/// Parses the variable if set, else returns `default`.
pub fn parsed_or<T>(vars: &impl Vars, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match optional(vars, name) {
        None => Ok(default),
        Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string(), value }),
    }
}

pub fn invalid(name: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, value: value.to_string(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Vars {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn blank_counts_as_unset() {
        let v = vars(&[("A", "  "), ("B", " x ")]);
        assert_eq!(optional(&v, "A"), None);
        assert_eq!(optional(&v, "B").as_deref(), Some("x"));
        assert_eq!(required(&v, "A"), Err(ConfigError::Missing("A")));
    }

    #[test]
    fn parse_errors_name_the_variable() {
        let v = vars(&[("N", "ten")]);
        let err = parsed_or(&v, "N", 3u32).unwrap_err();
        assert!(err.to_string().contains("N=\"ten\""), "{err}");
        assert_eq!(parsed_or(&v, "M", 3u32), Ok(3));
    }
}
