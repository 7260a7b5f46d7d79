//! A simulation of canary routing behind a CDN, to compare designs on what matters: does the
//! canary reach the share it should, does the CDN still cache, and do viewers keep one version?
//!
//! Strategies: random routing with caching and without (the background document's first two
//! tables), cohorts from JA3 alone (its design), and ours (JA4 + viewer network, cookie-sticky),
//! decided either by the router at the origin (cohort in the cache key) or at the edge (the
//! version's path is the cache key: ReleaseRouting=edge).
//! The population is deliberately unfriendly: a few browser builds dominate (shared fingerprints),
//! Chrome-like builds randomise JA3 per connection, some viewers block cookies, and mobile viewers
//! change networks. Deterministic for a seed.

use std::collections::{HashMap, HashSet};

use edge_router::cohort;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The origin picks a version at random per cache miss; the CDN caches by URL.
    RandomCached,
    /// Every request picks at random; nothing is cached.
    RandomUncached,
    /// Cohort = hash(JA3) mod N in the cache key; cookie keeps it (the background design).
    Ja3Cohort,
    /// Cohort = hash(JA4 + network) mod N in the cache key; cookie keeps it (media-edge, origin
    /// router).
    Ja4NetworkCohort,
    /// The same cohorts, decided at the edge on every request; the cache key is the version, so
    /// there are two copies per file and no Lambda behind a miss (media-edge, edge routing).
    EdgeVersion,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RandomCached => "random routing, cached",
            Strategy::RandomUncached => "random routing, no cache",
            Strategy::Ja3Cohort => "cohort from JA3 (+cookie)",
            Strategy::Ja4NetworkCohort => "cohort from JA4+network (+cookie), media-edge origin router",
            Strategy::EdgeVersion => "cohort from JA4+network (+cookie), media-edge edge routing",
        }
    }

    /// Whether a request that misses the cache (or is never cached) runs the router Lambda.
    fn invokes_router(self) -> bool {
        self != Strategy::EdgeVersion
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub viewers: u32,
    /// Requests per viewer per window, on average.
    pub requests_per_window: f64,
    pub windows: u32,
    pub window_seconds: u32,
    /// Canary weight per window (percent); the last value repeats.
    pub weights: Vec<u8>,
    /// Shared-cache TTL of a response, seconds.
    pub ttl_seconds: u32,
    /// Shared-cache TTL of a version's immutable copy under edge routing, seconds.
    pub version_ttl_seconds: u32,
    pub cohorts: u16,
    /// Distinct browser builds (TLS stacks); their popularity is Zipf-distributed.
    pub browser_builds: u32,
    /// Share of builds that randomise JA3 per connection (Chrome since 110).
    pub ja3_randomising_share: f64,
    pub cookie_share: f64,
    /// Chance per window that a viewer's network changes.
    pub network_change_per_window: f64,
    /// CDN edge locations, each with its own cache; viewers are spread over them unevenly (Zipf).
    pub edges: u32,
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            viewers: 20_000,
            requests_per_window: 3.0,
            windows: 5,
            window_seconds: 600,
            weights: vec![50],
            ttl_seconds: 600,
            version_ttl_seconds: 86_400,
            cohorts: 10,
            browser_builds: 40,
            ja3_randomising_share: 0.65,
            cookie_share: 0.8,
            network_change_per_window: 0.2,
            edges: 40,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowReport {
    pub window: u32,
    pub target: u8,
    /// Share of requests served the canary.
    pub canary_share: f64,
    pub cache_hit_ratio: f64,
    /// Share of active viewers who got a different version than on their previous request.
    pub flipped_viewers: f64,
    pub requests: u64,
    /// Requests that ran the router Lambda (cache misses and uncached requests at the origin).
    pub router_invocations: u64,
    /// In a window whose weight fell to 0: seconds from its start until 99% of the requests get
    /// stable, in every 10-second interval from then on (`None` in other windows).
    pub rollback_seconds: Option<u64>,
    /// Distinct viewers served the canary at least once, from the first window to this one.
    pub canary_viewers_so_far: u64,
}

impl WindowReport {
    pub fn router_invocations_per_million(&self) -> f64 {
        1e6 * self.router_invocations as f64 / self.requests.max(1) as f64
    }
}

struct Viewer {
    build: u32,
    edge: u32,
    cookies: bool,
    network: u32,
    cookie: Option<u16>,
    last_canary: Option<bool>,
}

struct Request {
    time: u64,
    viewer: u32,
}

/// Zipf(1) popularity over `n` items (browser builds, edge locations), as 0-based indices.
struct Popularity(Option<Zipf<f64>>);

impl Popularity {
    fn new(n: u32) -> Popularity {
        // Zipf::new refuses only n < 1 (and a negative exponent): then everything is item 0.
        Popularity(Zipf::new(f64::from(n), 1.0).ok())
    }

    fn pick(&self, rng: &mut SmallRng) -> u32 {
        self.0.as_ref().map_or(0, |zipf| (zipf.sample(rng) as u32).saturating_sub(1))
    }
}

/// What persists across windows: the viewers, every edge's cache ((edge, cache key) → (expires
/// at, canary served)), and the random numbers.
struct World {
    viewers: Vec<Viewer>,
    cache: HashMap<(u32, u16), (u64, bool)>,
    rng: SmallRng,
    /// Viewers who were served the canary at least once so far.
    canary_viewers: HashSet<u32>,
}

/// Runs `scenario` with `strategy`; one report per window. Deterministic for a seed.
pub fn run(scenario: &Scenario, strategy: Strategy) -> Vec<WindowReport> {
    let mut rng = SmallRng::seed_from_u64(scenario.seed);
    let (builds, edges) = (Popularity::new(scenario.browser_builds), Popularity::new(scenario.edges));
    let viewers = population(scenario, &builds, &edges, &mut rng);
    let mut world = World { viewers, cache: HashMap::new(), rng, canary_viewers: HashSet::new() };
    (0..scenario.windows)
        .map(|window| {
            let weight_of = |w: u32| *scenario.weights.get(w as usize).or(scenario.weights.last()).unwrap_or(&0);
            let weight = weight_of(window);
            let rolled_back = weight == 0 && window > 0 && weight_of(window - 1) > 0;
            for viewer in world.viewers.iter_mut() {
                if world.rng.random::<f64>() < scenario.network_change_per_window {
                    viewer.network = world.rng.random_range(0..4_000_000);
                    viewer.edge = edges.pick(&mut world.rng);
                }
            }
            let requests = window_requests(scenario, window, &mut world.rng);
            serve_window(scenario, strategy, (window, weight, rolled_back), &requests, &mut world)
        })
        .collect()
}

fn population(scenario: &Scenario, builds: &Popularity, edges: &Popularity, rng: &mut SmallRng) -> Vec<Viewer> {
    (0..scenario.viewers)
        .map(|_| Viewer {
            build: builds.pick(rng),
            edge: edges.pick(rng),
            cookies: rng.random::<f64>() < scenario.cookie_share,
            network: rng.random_range(0..4_000_000),
            cookie: None,
            last_canary: None,
        })
        .collect()
}

/// The window's requests in time order, from viewers picked at random.
fn window_requests(scenario: &Scenario, window: u32, rng: &mut SmallRng) -> Vec<Request> {
    let start = u64::from(window) * u64::from(scenario.window_seconds);
    let expected = (f64::from(scenario.viewers) * scenario.requests_per_window) as u64;
    let mut requests: Vec<Request> = (0..expected)
        .map(|_| Request {
            time: start + rng.random_range(0..u64::from(scenario.window_seconds.max(1))),
            viewer: rng.random_range(0..scenario.viewers.max(1)),
        })
        .collect();
    requests.sort_by_key(|r| r.time);
    requests
}

/// The cache key and cohort a strategy gives one request (no key: not cached).
fn cache_key(
    strategy: Strategy,
    viewer: &Viewer,
    n: u16,
    randomises_ja3: bool,
    rng: &mut SmallRng,
) -> (Option<u16>, Option<u16>) {
    let ja4 = format!("t13d1516h2_build{:04}", viewer.build);
    let ja3 = if randomises_ja3 {
        format!("ja3-conn-{:016x}", rng.random::<u64>())
    } else {
        format!("ja3-build{:04}", viewer.build)
    };
    let ip = format!("{}.{}.{}.7", viewer.network >> 16, (viewer.network >> 8) & 255, viewer.network & 255);
    match strategy {
        Strategy::RandomCached => (Some(0), None),
        Strategy::RandomUncached => (None, None),
        Strategy::Ja3Cohort => {
            let c = viewer.cookie.unwrap_or_else(|| cohort::derive(None, Some(&ja3), None, n));
            (Some(c), Some(c))
        }
        Strategy::Ja4NetworkCohort | Strategy::EdgeVersion => {
            let c = viewer.cookie.unwrap_or_else(|| cohort::derive(Some(&ja4), Some(&ja3), Some(&ip), n));
            (Some(c), Some(c))
        }
    }
}

/// Serves one window's requests at `weight` percent; the window's report.
fn serve_window(
    scenario: &Scenario,
    strategy: Strategy,
    (window, weight, rolled_back): (u32, u8, bool),
    requests: &[Request],
    world: &mut World,
) -> WindowReport {
    let World { viewers, cache, rng, canary_viewers } = world;
    let n = scenario.cohorts;
    let (mut canary_served, mut hits, mut misses) = (0u64, 0u64, 0u64);
    let mut served = Vec::with_capacity(requests.len());
    let mut flipped: HashMap<u32, bool> = HashMap::new();
    for request in requests {
        let viewer = &mut viewers[request.viewer as usize];
        let randomises_ja3 = f64::from(viewer.build % 100) / 100.0 < scenario.ja3_randomising_share;
        let (key, cohort) = cache_key(strategy, viewer, n, randomises_ja3, rng);
        let origin_choice = |rng: &mut SmallRng| match cohort {
            Some(c) => cohort::in_canary(c, weight, n),
            None => rng.random::<f64>() * 100.0 < f64::from(weight),
        };
        let canary = match key {
            // Edge routing: the function decides first; the version it picked is the cache key.
            Some(_) if strategy == Strategy::EdgeVersion => {
                let canary = origin_choice(rng);
                match cache.get(&(viewer.edge, u16::from(canary))) {
                    Some(&(expires, _)) if expires > request.time => hits += 1,
                    _ => {
                        misses += 1;
                        let expires = request.time + u64::from(scenario.version_ttl_seconds);
                        cache.insert((viewer.edge, u16::from(canary)), (expires, canary));
                    }
                }
                canary
            }
            None => {
                misses += 1;
                origin_choice(rng)
            }
            Some(key) => match cache.get(&(viewer.edge, key)) {
                Some(&(expires, canary)) if expires > request.time => {
                    hits += 1;
                    canary
                }
                _ => {
                    misses += 1;
                    let canary = origin_choice(rng);
                    cache.insert((viewer.edge, key), (request.time + u64::from(scenario.ttl_seconds), canary));
                    canary
                }
            },
        };
        if let (Some(c), true) = (cohort, viewer.cookies) {
            viewer.cookie = Some(c);
        }
        let flip = viewer.last_canary.is_some_and(|last| last != canary);
        *flipped.entry(request.viewer).or_insert(false) |= flip;
        viewer.last_canary = Some(canary);
        canary_served += u64::from(canary);
        served.push((request.time, canary));
        if canary {
            canary_viewers.insert(request.viewer);
        }
    }
    let window_start = u64::from(window) * u64::from(scenario.window_seconds);
    let total = requests.len().max(1) as f64;
    let active = flipped.len().max(1) as f64;
    WindowReport {
        window,
        target: weight,
        canary_share: canary_served as f64 / total,
        cache_hit_ratio: hits as f64 / total,
        flipped_viewers: flipped.values().filter(|&&f| f).count() as f64 / active,
        requests: requests.len() as u64,
        router_invocations: if strategy.invokes_router() { misses } else { 0 },
        canary_viewers_so_far: canary_viewers.len() as u64,
        rollback_seconds: rolled_back.then(|| rollback_done(&served, window_start)),
    }
}

/// Seconds after `start` from which every 10-second interval has at most 1% of its requests on
/// the canary (0: none had more). `served` is (time, canary) in time order.
fn rollback_done(served: &[(u64, bool)], start: u64) -> u64 {
    let mut buckets: HashMap<u64, (u64, u64)> = HashMap::new();
    for &(time, canary) in served {
        let bucket = buckets.entry(time.saturating_sub(start) / 10).or_default();
        bucket.0 += 1;
        bucket.1 += u64::from(canary);
    }
    buckets
        .iter()
        .filter(|(_, &(requests, canary))| canary as f64 > 0.01 * requests as f64)
        .map(|(&bucket, _)| (bucket + 1) * 10)
        .max()
        .unwrap_or(0)
}

/// A bad canary at `weight` percent, withdrawn after `minutes` (a gate's alarm and the
/// controller's next run, or a person noticing): how many distinct viewers got it. The same
/// traffic as the other runs (requests per viewer per 10 minutes), in one-minute windows,
/// routed at the edge. Returns (viewers, requests) that got it.
pub fn bad_canary_exposure(base: &Scenario, weight: u8, minutes: u32) -> (u64, u64) {
    let windows_per_minute = 60.0 / f64::from(base.window_seconds.max(1));
    let mut weights = vec![weight; minutes as usize];
    weights.push(0);
    let scenario = Scenario {
        window_seconds: 60,
        windows: minutes + 1,
        requests_per_window: base.requests_per_window * windows_per_minute,
        // The same chance of a network change per hour as in the base windows.
        network_change_per_window: 1.0 - (1.0 - base.network_change_per_window).powf(windows_per_minute),
        weights,
        ..base.clone()
    };
    let reports = run(&scenario, Strategy::EdgeVersion);
    let requests = reports.iter().map(|r| (r.canary_share * r.requests as f64).round() as u64).sum();
    (reports.last().map_or(0, |r| r.canary_viewers_so_far), requests)
}

/// A text table for one strategy.
pub fn table(strategy: Strategy, reports: &[WindowReport], window_minutes: u32) -> String {
    let mut out = format!(
        "{}\n  window    target  canary  cache hit  viewers flipped  router calls/M  rollback to 99%\n",
        strategy.name()
    );
    for r in reports {
        out.push_str(&format!(
            "  {:>3}–{:<3}m {:>5}%  {:>5.1}%  {:>8.1}%  {:>14.1}%  {:>14.0}  {:>15}\n",
            r.window * window_minutes,
            (r.window + 1) * window_minutes,
            r.target,
            100.0 * r.canary_share,
            100.0 * r.cache_hit_ratio,
            100.0 * r.flipped_viewers,
            r.router_invocations_per_million(),
            r.rollback_seconds.map(|s| format!("{s} s")).unwrap_or_default(),
        ));
    }
    out
}

/// One Markdown row comparing a strategy over a whole run (the README's table).
pub fn summary_row(strategy: Strategy, cohorts: Option<u16>, reports: &[WindowReport]) -> String {
    let requests: u64 = reports.iter().map(|r| r.requests).sum::<u64>().max(1);
    let weighted =
        |f: fn(&WindowReport) -> f64| reports.iter().map(|r| f(r) * r.requests as f64).sum::<f64>() / requests as f64;
    let shares: Vec<String> = reports.iter().map(|r| format!("{}→{:.1}", r.target, 100.0 * r.canary_share)).collect();
    let invocations: u64 = reports.iter().map(|r| r.router_invocations).sum();
    let rollback = reports.iter().find_map(|r| r.rollback_seconds).map(|s| format!("{s} s")).unwrap_or("-".into());
    let mode = match strategy {
        Strategy::EdgeVersion => "edge",
        Strategy::Ja4NetworkCohort => "origin router",
        other => other.name(),
    };
    let cohorts = cohorts.map_or("-".to_string(), |n| n.to_string());
    format!(
        "| {mode} | {cohorts} | {:.1}% | {} | {:.1}% | {:.0} | {rollback} |",
        100.0 * weighted(|r| r.cache_hit_ratio),
        shares.join(", "),
        // Flips in windows whose weight did not change: what routing itself costs viewers.
        100.0
            * reports
                .windows(2)
                .filter(|w| w[0].target == w[1].target)
                .map(|w| w[1].flipped_viewers)
                .fold(0.0, f64::max),
        1e6 * invocations as f64 / requests as f64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Scenario {
        Scenario { viewers: 4000, ..Scenario::default() }
    }

    #[test]
    fn random_with_cache_serves_everyone_at_an_edge_the_same_version() {
        let one_edge = Scenario { edges: 1, ..small() };
        for r in run(&one_edge, Strategy::RandomCached) {
            assert!(r.canary_share < 0.02 || r.canary_share > 0.98, "{r:?}");
            assert!(r.cache_hit_ratio > 0.99);
        }
    }

    #[test]
    fn random_without_cache_hits_the_weight_but_caches_nothing_and_flips_viewers() {
        for r in run(&small(), Strategy::RandomUncached) {
            assert!((r.canary_share - 0.5).abs() < 0.03, "{r:?}");
            assert_eq!(r.cache_hit_ratio, 0.0);
            assert!(r.flipped_viewers > 0.3, "{r:?}");
        }
    }

    #[test]
    fn our_cohorts_keep_the_share_the_cache_and_the_viewers() {
        let ours = run(&small(), Strategy::Ja4NetworkCohort);
        let ja3 = run(&small(), Strategy::Ja3Cohort);
        for (o, j) in ours.iter().zip(&ja3) {
            assert!((o.canary_share - 0.5).abs() < 0.1, "{o:?}");
            assert!(o.cache_hit_ratio > 0.9, "{o:?}");
            assert!(o.flipped_viewers < j.flipped_viewers, "ours {o:?} vs JA3 {j:?}");
        }
        assert!(ours.iter().skip(1).all(|o| o.flipped_viewers < 0.05), "{ours:?}");
    }

    #[test]
    fn more_cohorts_cost_cache_hits() {
        let hit = |n: u16| {
            let scenario = Scenario { cohorts: n, ttl_seconds: 60, ..small() };
            let reports = run(&scenario, Strategy::Ja4NetworkCohort);
            reports.iter().map(|r| r.cache_hit_ratio).sum::<f64>() / reports.len() as f64
        };
        assert!(hit(10) > hit(100), "{} vs {}", hit(10), hit(100));
    }

    #[test]
    fn edge_routing_keeps_hits_at_any_cohort_count_and_runs_no_router() {
        let weights = vec![20, 20, 30, 30, 0];
        let run_n = |n: u16, strategy| {
            run(&Scenario { cohorts: n, ttl_seconds: 60, weights: weights.clone(), ..small() }, strategy)
        };
        let mean_hit =
            |reports: &[WindowReport]| reports.iter().map(|r| r.cache_hit_ratio).sum::<f64>() / reports.len() as f64;
        let (edge_10, edge_1000) = (run_n(10, Strategy::EdgeVersion), run_n(1000, Strategy::EdgeVersion));
        let origin_1000 = run_n(1000, Strategy::Ja4NetworkCohort);
        assert!((mean_hit(&edge_10) - mean_hit(&edge_1000)).abs() < 0.01, "N costs the edge mode nothing");
        assert!(
            mean_hit(&edge_1000) > mean_hit(&origin_1000) + 0.2,
            "{} vs {}",
            mean_hit(&edge_1000),
            mean_hit(&origin_1000)
        );
        assert!(edge_1000.iter().all(|r| r.router_invocations == 0));
        assert!(origin_1000.iter().all(|r| r.router_invocations > 0));
        for r in &edge_1000 {
            assert!((r.canary_share - f64::from(r.target) / 100.0).abs() < 0.05, "{r:?}");
        }
        // A rollback reaches everyone at once at the edge; the origin router waits for its TTL.
        let edge_rollback = edge_1000[4].rollback_seconds.unwrap();
        // (With N = 1000 the origin router caches so little that its rollback is quick too.)
        let origin_rollback = run_n(20, Strategy::Ja4NetworkCohort)[4].rollback_seconds.unwrap();
        assert_eq!(edge_rollback, 0);
        assert!(origin_rollback > 10 && origin_rollback <= 60, "{origin_rollback}");
        assert_eq!(edge_1000[4].canary_share, 0.0);
        assert!(edge_1000[..4].iter().all(|r| r.rollback_seconds.is_none()));
    }

    #[test]
    fn an_early_rollback_exposes_fewer_viewers() {
        let base = Scenario { cohorts: 100, ..small() };
        let (early, late) = (bad_canary_exposure(&base, 5, 6), bad_canary_exposure(&base, 5, 30));
        assert!(early.0 > 0 && early.0 < late.0, "{early:?} vs {late:?}");
        // Requests grow with the time it serves: about 5 times as many in 30 minutes as in 6.
        assert!(late.1 > 4 * early.1 && late.1 < 6 * early.1, "{early:?} vs {late:?}");
        // Never more than the canary's cohorts: about 5% of the viewers, plus cookie-less movers.
        assert!(late.0 < u64::from(base.viewers) / 10, "{late:?}");
    }

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(run(&small(), Strategy::Ja3Cohort), run(&small(), Strategy::Ja3Cohort));
    }
}
