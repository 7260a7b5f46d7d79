//! Release routing on the live distribution, on a channel of its own (the template's
//! `/media-edge-probe/*` behaviour): two tiny versions, a 50% canary, a viewer on each side of the
//! cut, a rollback seen at the edge, the edge store against the channel config, and the TLS
//! fingerprint reaching the cohort function. The channel is removed afterwards.

use std::time::{Duration, Instant};

use edge_router::config::{channel_key, release_key};
use media_edge_shared::aws::describe_sdk_error;
use release_control::{EdgeStore, ReleaseControl};

use super::http::{Hello, Http, Response};
use crate::checklist::Check;
use crate::error::DoctorError;

const FILE: &str = "probe.txt";
const WEIGHT: u8 = 50;

pub struct ReleaseProbe {
    pub control: ReleaseControl,
    /// `https://<distribution>` (or the local edge).
    pub base_url: String,
    /// How long the docs say a rollback takes to reach viewers with this routing.
    pub rollback_limit: Duration,
    pub run: String,
}

impl ReleaseProbe {
    fn url(&self) -> String {
        format!("{}/{}/{FILE}", self.base_url, self.control.channel)
    }

    fn versions(&self) -> (String, String) {
        (format!("stable-{}", self.run), format!("canary-{}", self.run))
    }

    fn cookie(&self, cohort: u16) -> String {
        format!("{}={}-{cohort}", edge_router::cohort::COHORT_COOKIE, self.control.cohort_count)
    }

    /// Publishes, canaries, fetches both sides, rolls back and times it, compares the edge store.
    pub async fn checks(&self, http: &Http, work_dir: &std::path::Path) -> Vec<Check> {
        let mut checks = Vec::new();
        match self.route(http, work_dir).await {
            Ok(route) => checks.push(route),
            Err(e) => {
                checks.push(Check::fail(
                    "smoke-release",
                    format!("the probe channel {} could not be set up: {e}", self.control.channel),
                    "check the releases bucket permissions of your identity, and that the stack is media-edge's",
                ));
                return checks;
            }
        }
        checks.push(self.edge_store().await);
        checks
    }

    async fn route(&self, http: &Http, work_dir: &std::path::Path) -> Result<Check, DoctorError> {
        let id = "smoke-release";
        let aws = |e: release_control::ReleaseError| DoctorError::Aws(e.to_string());
        let (stable, canary) = self.versions();
        for version in [&stable, &canary] {
            let dir = work_dir.join(version);
            std::fs::create_dir_all(&dir).map_err(|e| DoctorError::Aws(format!("{}: {e}", dir.display())))?;
            std::fs::write(dir.join(FILE), format!("media-edge probe {version}\n"))
                .map_err(|e| DoctorError::Aws(format!("{}: {e}", dir.display())))?;
            self.control.publish(version, &dir, true).await.map_err(aws)?;
        }
        self.control.canary(&canary, WEIGHT).await.map_err(aws)?;
        let count = self.control.cohort_count;
        let cut = edge_router::cohort::canary_cohorts(WEIGHT, count);
        let (last_canary, first_stable) = (cut.saturating_sub(1), cut.min(count.saturating_sub(1)));
        let mut problems = Vec::new();
        let expect = |r: &Response, version: &str, kind: &str, problems: &mut Vec<String>, who: &str| {
            let body = String::from_utf8_lossy(&r.body);
            if r.status != 200 || body.trim() != format!("media-edge probe {version}") {
                problems.push(format!("{who}: {} {:?}, expected {version}", r.status, body.trim()));
            }
            if r.header("x-media-edge-version") != Some(version) || r.header("x-media-edge-channel-kind") != Some(kind)
            {
                problems.push(format!(
                    "{who}: headers say {:?} {:?}, expected {version} {kind}",
                    r.header("x-media-edge-version"),
                    r.header("x-media-edge-channel-kind")
                ));
            }
        };
        let canary_side = self.get_until(http, last_canary, &canary, self.rollback_limit).await?;
        expect(&canary_side.0, &canary, "canary", &mut problems, &format!("cohort {last_canary}"));
        let stable_side = http.get(&self.url(), &[("cookie", &self.cookie(first_stable))]).await?;
        expect(&stable_side, &stable, "stable", &mut problems, &format!("cohort {first_stable}"));
        self.control.rollback().await.map_err(aws)?;
        let (after, took) = self.get_until(http, last_canary, &stable, self.rollback_limit).await?;
        expect(&after, &stable, "stable", &mut problems, &format!("cohort {last_canary} after the rollback"));
        if !problems.is_empty() {
            return Ok(Check::fail(
                id,
                format!("release routing through the distribution: {}", problems.join("; ")),
                "docs/edge-router.md: the probe behaviour, the edge functions (or the router) and the channel config",
            ));
        }
        Ok(Check::pass(
            id,
            format!(
                "canary {WEIGHT}%: cohort {last_canary} got the canary, cohort {first_stable} stable; the rollback \
                 reached the edge in {:.1} s (documented bound {} s)",
                took.as_secs_f64(),
                self.rollback_limit.as_secs()
            ),
        ))
    }

    /// Fetches as cohort `cohort` until `version` is served or `limit` passes: the response and
    /// how long it took.
    async fn get_until(
        &self,
        http: &Http,
        cohort: u16,
        version: &str,
        limit: Duration,
    ) -> Result<(Response, Duration), DoctorError> {
        let started = Instant::now();
        loop {
            let r = http.get(&self.url(), &[("cookie", &self.cookie(cohort))]).await?;
            let served = r.header("x-media-edge-version") == Some(version);
            if served || started.elapsed() >= limit {
                return Ok((r, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn edge_store(&self) -> Check {
        let id = "smoke-edge-store";
        if self.control.edge.is_none() {
            return Check::pass(
                id,
                "ReleaseRouting=origin: the router reads the channel config itself (no edge store)",
            );
        }
        match self.control.edge_status().await {
            Ok(Some(status)) if status.in_sync() => {
                Check::pass(id, format!("the KeyValueStore holds the channel config's entry: {}", status.stored.unwrap_or_default()))
            }
            Ok(status) => Check::fail(
                id,
                format!("the KeyValueStore does not hold the channel config's entry ({status:?})"),
                "media-edge release sync (copies every channel config to the store), then check the release controller's logs",
            ),
            Err(e) => Check::fail(id, format!("reading the KeyValueStore: {e}"), "allow cloudfront-keyvaluestore:GetKey"),
        }
    }

    /// TLS fingerprints from one address: with JA4 reaching the cohort function, different
    /// ClientHellos land in different cohorts (docs/edge-router.md: sha256 of JA4 and network);
    /// without it every one of them gets the network's cohort.
    pub async fn fingerprint(&self) -> Check {
        let id = "smoke-fingerprint";
        if !self.base_url.starts_with("https://") {
            return Check::note(
                id,
                "plain HTTP (the local edge): no TLS handshake, so no JA3/JA4 fingerprint reaches the cohort function",
            );
        }
        let mut cohorts = Vec::new();
        for hello in [Hello::Default, Hello::Tls12Only, Hello::Tls13Only] {
            let cohort = match Http::new(hello) {
                Ok(http) => match http.get(&self.url(), &[]).await {
                    Ok(r) => r.header("x-media-edge-cohort").map(str::to_string),
                    Err(e) => {
                        return Check::warn(id, format!("fetching with another TLS hello: {e}"), "run smoke again")
                    }
                },
                Err(e) => return Check::warn(id, e.to_string(), "run smoke again"),
            };
            match cohort {
                Some(c) => cohorts.push(c),
                None => {
                    return Check::fail(
                        id,
                        "the probe channel answered without x-media-edge-cohort",
                        "check the behaviour's viewer-response function association",
                    )
                }
            }
        }
        fingerprint_verdict(&cohorts)
    }

    /// Removes everything of the probe channel: config, files, publish records, store entry.
    pub async fn remove(&self) -> Result<(), DoctorError> {
        let channel = &self.control.channel;
        let s3 = &self.control.s3;
        let bucket = &self.control.bucket;
        let mut keys = vec![channel_key(channel)];
        for prefix in
            [release_key(channel, "", "").trim_end_matches('/').to_string() + "/", format!("versions/{channel}/")]
        {
            keys.extend(super::s3::list_keys(s3, bucket, &prefix).await?);
        }
        super::s3::delete_keys(s3, bucket, &keys).await?;
        if let Some(EdgeStore { client, arn }) = &self.control.edge {
            let etag = client
                .describe_key_value_store()
                .kvs_arn(arn)
                .send()
                .await
                .map_err(|e| DoctorError::Aws(format!("reading the KeyValueStore: {}", describe_sdk_error(&e))))?
                .e_tag()
                .to_string();
            match client.delete_key().kvs_arn(arn).key(channel).if_match(etag).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
                Err(e) => {
                    return Err(DoctorError::Aws(format!(
                        "removing {channel} from the KeyValueStore: {}",
                        describe_sdk_error(&e)
                    )))
                }
            }
        }
        Ok(())
    }
}

pub fn fingerprint_verdict(cohorts: &[String]) -> Check {
    let id = "smoke-fingerprint";
    let mut distinct = cohorts.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > 1 {
        Check::pass(
            id,
            format!(
                "{} TLS fingerprints from one address got cohorts {}: the JA4 fingerprint reaches the cohort function",
                cohorts.len(),
                cohorts.join(", ")
            ),
        )
    } else {
        Check::warn(
            id,
            format!(
                "{} TLS fingerprints from one address all got cohort {}: the JA3/JA4 header is absent, so cohorts \
                 follow the viewer's network (and the cookie) only",
                cohorts.len(),
                cohorts.first().map(String::as_str).unwrap_or("?")
            ),
            "viewers on one network then share a cohort; see docs/edge-router.md (cohorts) and docs/deploying.md (doctor)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_that_split_cohorts_pass_and_one_cohort_for_all_warns() {
        let split = fingerprint_verdict(&["3".into(), "71".into(), "3".into()]);
        assert_eq!(split.verdict, crate::checklist::Verdict::Pass);
        let same = fingerprint_verdict(&["12".into(), "12".into(), "12".into()]);
        assert_eq!(same.verdict, crate::checklist::Verdict::Warn);
        assert!(same.summary.contains("header is absent"));
    }
}
