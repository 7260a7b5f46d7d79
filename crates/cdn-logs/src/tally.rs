//! The count every table is made of: requests, bytes and cache outcome of a group of requests.
//! At the bottom: the aggregate and the release tables both count in it.

/// Requests, bytes and cache outcome of a group of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub requests: u64,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, bytes: u64, outcome: Outcome) {
        self.requests += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        self.hits += u64::from(outcome == Outcome::Hit);
        self.misses += u64::from(outcome == Outcome::Miss);
    }

    pub fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.hits += other.hits;
        self.misses += other.misses;
    }

    /// Hits over hits + misses; `None` when no request was either (errors, redirects only).
    pub fn hit_ratio(&self) -> Option<f64> {
        let cacheable = self.hits + self.misses;
        (cacheable > 0).then(|| self.hits as f64 / cacheable as f64)
    }
}

/// A request's cache outcome, from its edge result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Hit,
    Miss,
    Other,
}
