//! Progressive rollouts: a canary goes through weight steps by itself while its gates (CloudWatch
//! alarms) stay healthy, is promoted after the last step, and is rolled back the moment a gate
//! alarms. [`decide`] is the whole policy, pure and clock-free (the time is an argument); the
//! [`ReleaseControl`] methods below store plans and apply decisions with the same conditional
//! writes and history as every other release change.
//!
//! Who wins when an operator changes the weight by hand during a rollout: the operator. `canary`,
//! `set-weight`, `promote` and `rollback` cancel the plan (state `cancelled`), so the controller
//! never undoes a deliberate change; `rollout` starts a new plan.

use edge_router::channel::{ChannelConfig, Rollout, RolloutState};
use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};

use crate::{no_config, Current, ReleaseControl, ReleaseError};

/// The controller runs every minute: a shorter interval could not be observed.
pub const MIN_INTERVAL_SECONDS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateHealth {
    Ok,
    Alarm,
    /// INSUFFICIENT_DATA: not healthy (no data proves nothing).
    NoData,
    /// No alarm of that name.
    Missing,
}

/// One gate as read at the time of the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateReading {
    pub name: String,
    pub health: GateHealth,
    /// Since when (Unix seconds) the alarm has been in this state.
    pub since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not running, or the step's interval has not passed (and no gate alarms).
    Wait,
    /// The step is due but a gate cannot be judged (no data, no such alarm): announced once.
    Hold {
        why: String,
    },
    Advance {
        step: usize,
        weight: u8,
    },
    Promote,
    RollBack {
        why: String,
    },
}

/// What the controller does with a running rollout at `now`. One step at most per call, so a
/// controller that missed runs still gives every step a full healthy interval.
pub fn decide(rollout: &Rollout, now: u64, gates: &[GateReading]) -> Decision {
    if rollout.state != RolloutState::Running {
        return Decision::Wait;
    }
    if let Some(gate) = gates.iter().find(|g| g.health == GateHealth::Alarm && rollout.gates.contains(&g.name)) {
        return Decision::RollBack { why: format!("gate {} is in ALARM", gate.name) };
    }
    if now < rollout.step_started.saturating_add(rollout.every_seconds) {
        return Decision::Wait;
    }
    let healthy_from = now.saturating_sub(rollout.every_seconds);
    let mut recovering = false;
    for name in &rollout.gates {
        let why = match gates.iter().find(|g| &g.name == name) {
            None | Some(GateReading { health: GateHealth::Missing, .. }) => format!("gate {name} does not exist"),
            Some(GateReading { health: GateHealth::NoData, .. }) => {
                format!("gate {name} has no data (INSUFFICIENT_DATA)")
            }
            Some(g) => {
                // OK, but not for the whole interval (it alarmed or lacked data in between):
                // wait until it has been, quietly.
                recovering |= g.since > healthy_from;
                continue;
            }
        };
        return Decision::Hold { why };
    }
    if recovering {
        return Decision::Wait;
    }
    match rollout.steps.get(rollout.step + 1) {
        Some(&weight) => Decision::Advance { step: rollout.step + 1, weight },
        None => Decision::Promote,
    }
}

/// A plan an operator may start: increasing weights of 1–100, an interval the controller can
/// observe, and at least one gate (a rollout without one would advance on time alone).
pub fn check_plan(steps: &[u8], every_seconds: u64, gates: &[String]) -> Result<(), ReleaseError> {
    let invalid = |why: &str| Err(ReleaseError::Invalid(why.into()));
    if steps.is_empty() || steps.iter().any(|&w| w == 0 || w > 100) {
        return invalid("steps must be weights from 1 to 100, e.g. --steps 1,5,25,50,100");
    }
    if steps.windows(2).any(|w| w[0] >= w[1]) {
        return invalid("steps must increase");
    }
    if every_seconds < MIN_INTERVAL_SECONDS {
        return invalid("--every must be at least 1m (the controller runs once a minute)");
    }
    if gates.is_empty() || gates.iter().any(|g| g.is_empty() || g.len() > 255) {
        return invalid("name at least one gate (--gate ALARM_NAME): a rollout advances only on healthy gates");
    }
    Ok(())
}

/// `10m`, `90s`, `1h` or plain seconds.
pub fn parse_interval(text: &str) -> Result<u64, ReleaseError> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 =
        number.parse().map_err(|_| ReleaseError::Invalid(format!("{text:?} is not an interval (10m, 90s, 1h)")))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(ReleaseError::Invalid(format!("{text:?} is not an interval (10m, 90s, 1h)"))),
    };
    Ok(n.saturating_mul(unit))
}

/// A plan stopped by an operator's change (the operator wins).
pub(crate) fn cancelled(rollout: Option<Rollout>, action: &str) -> Option<Rollout> {
    rollout.map(|r| match r.state {
        RolloutState::Running | RolloutState::Paused => Rollout {
            state: RolloutState::Cancelled,
            reason: Some(format!("changed by hand: {action}")),
            unannounced: Some(format!("rollout of {} cancelled: {action}", r.release)),
            ..r
        },
        _ => r,
    })
}

impl ReleaseControl {
    /// Starts a rollout of `version`: it becomes the canary at the first step's weight now.
    pub async fn start_rollout(
        &self,
        version: &str,
        steps: &[u8],
        every_seconds: u64,
        gates: &[String],
        now: u64,
    ) -> Result<ChannelConfig, ReleaseError> {
        check_plan(steps, every_seconds, gates)?;
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        if version == config.stable {
            return Err(ReleaseError::Invalid(format!("{version} is already the stable version")));
        }
        self.require_complete(version).await?;
        let weight = steps[0];
        let rollout = Rollout {
            release: version.into(),
            steps: steps.to_vec(),
            every_seconds,
            gates: gates.to_vec(),
            step: 0,
            step_started: now,
            state: RolloutState::Running,
            reason: None,
            unannounced: Some(format!("rollout of {version} started at {weight}%")),
        };
        let steps_text = steps.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        let action =
            format!("rollout {version}: steps {steps_text} every {every_seconds} s, gates {}", gates.join(","));
        let next =
            ChannelConfig { canary: Some(version.into()), weight, rolled_back: None, rollout: Some(rollout), ..config };
        self.write(&current, next, action).await
    }

    /// Holds the rollout at its step; the weight stays.
    pub async fn pause(&self) -> Result<ChannelConfig, ReleaseError> {
        self.change_rollout(RolloutState::Running, "paused", |r, _| Rollout { state: RolloutState::Paused, ..r }).await
    }

    /// Resumes a paused rollout; its step's interval starts again at `now`.
    pub async fn resume(&self, now: u64) -> Result<ChannelConfig, ReleaseError> {
        self.change_rollout(RolloutState::Paused, "resumed", move |r, _| Rollout {
            state: RolloutState::Running,
            step_started: now,
            reason: None,
            ..r
        })
        .await
    }

    async fn change_rollout(
        &self,
        from: RolloutState,
        verb: &str,
        change: impl FnOnce(Rollout, &ChannelConfig) -> Rollout,
    ) -> Result<ChannelConfig, ReleaseError> {
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let rollout = match &config.rollout {
            Some(r) if r.state == from => r.clone(),
            _ => return Err(ReleaseError::Invalid(format!("there is no rollout to mark {verb}"))),
        };
        let release = rollout.release.clone();
        let mut changed = change(rollout, &config);
        changed.unannounced = Some(format!("rollout of {release} {verb} at {}%", config.weight));
        let next = ChannelConfig { rollout: Some(changed), ..config };
        self.write(&current, next, format!("rollout {release} {verb}")).await
    }

    /// The controller's turn for this channel, on the config it read and the gates it read for
    /// it. Returns what changed, to announce, in order: an operator's change not yet announced,
    /// then the controller's own. Empty: nothing, or another controller changed the config first
    /// (the next run decides again on what it wrote).
    pub async fn apply_rollout(
        &self,
        current: &Current,
        now: u64,
        gates: &[GateReading],
    ) -> Result<Vec<ReleaseEvent>, ReleaseError> {
        let Some(config) = current.config.clone() else { return Ok(Vec::new()) };
        let Some(rollout) = config.rollout.clone() else { return Ok(Vec::new()) };
        let event = |change: ReleaseChange, to: u8, reason: Option<String>| {
            ReleaseEvent::new(&self.channel, &rollout.release, change, config.weight, to, reason)
        };
        let mut events: Vec<ReleaseEvent> = rollout
            .unannounced
            .iter()
            .map(|text| event(ReleaseChange::Operator, config.weight, Some(text.clone())))
            .collect();
        let announced = Rollout { unannounced: None, ..rollout.clone() };
        let (next, action) = match decide(&rollout, now, gates) {
            Decision::Hold { why } if rollout.reason.as_deref() != Some(why.as_str()) => {
                events.push(event(ReleaseChange::Held, config.weight, Some(why.clone())));
                let next = Rollout { reason: Some(why.clone()), ..announced };
                (ChannelConfig { rollout: Some(next), ..config.clone() }, format!("rollout holding: {why}"))
            }
            Decision::Wait | Decision::Hold { .. } => match &rollout.unannounced {
                // Only an operator's change to announce: clear it, change nothing else.
                Some(text) => {
                    (ChannelConfig { rollout: Some(announced), ..config.clone() }, format!("announced: {text}"))
                }
                None => return Ok(Vec::new()),
            },
            Decision::Advance { step, weight } => {
                events.push(event(ReleaseChange::Advanced, weight, None));
                let next = Rollout { step, step_started: now, reason: None, ..announced };
                let action = format!("rollout {} weight {}% → {weight}%", rollout.release, config.weight);
                (ChannelConfig { weight, rollout: Some(next), ..config.clone() }, action)
            }
            Decision::Promote => {
                events.push(event(ReleaseChange::Promoted, 100, None));
                let next = Rollout { state: RolloutState::Promoted, reason: None, ..announced };
                let action = format!("rollout promoted {} to stable (was {})", rollout.release, config.stable);
                let promoted = ChannelConfig {
                    stable: rollout.release.clone(),
                    canary: None,
                    weight: 0,
                    rolled_back: None,
                    rollout: Some(next),
                    ..config.clone()
                };
                (promoted, action)
            }
            Decision::RollBack { why } => {
                events.push(event(ReleaseChange::RolledBack, 0, Some(why.clone())));
                let next = Rollout { state: RolloutState::RolledBack, reason: Some(why.clone()), ..announced };
                let action = format!("rollout rolled back {} at {}%: {why}", rollout.release, config.weight);
                let back = ChannelConfig {
                    canary: None,
                    weight: 0,
                    rolled_back: Some(rollout.release.clone()),
                    rollout: Some(next),
                    ..config.clone()
                };
                (back, action)
            }
        };
        match self.write(current, next, action).await {
            Ok(_) => Ok(events),
            // The change is made (S3 is the source of truth): announce it; the controller copies
            // the config to the edge store on its next check (`reconcile_edge`).
            Err(ReleaseError::EdgeNotUpdated(why)) => {
                tracing::warn!(channel = self.channel, %why, "rollout changed in S3, edge store not yet");
                Ok(events)
            }
            Err(ReleaseError::Conflict) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;

    fn plan() -> Rollout {
        Rollout {
            release: "1.5.0".into(),
            steps: vec![1, 5, 25, 50, 100],
            every_seconds: 10 * MIN,
            gates: vec!["sdk-errors".into(), "router-5xx".into()],
            step: 0,
            step_started: 1_000_000,
            state: RolloutState::Running,
            reason: None,
            unannounced: None,
        }
    }

    fn ok_since(since: u64) -> Vec<GateReading> {
        ["sdk-errors", "router-5xx"]
            .iter()
            .map(|n| GateReading { name: (*n).into(), health: GateHealth::Ok, since })
            .collect()
    }

    /// Runs the controller once a minute from `from` to `to`, applying its decisions to `r` as
    /// the store would; returns the weights it moved to and when.
    fn run(r: &mut Rollout, from: u64, to: u64, gates: impl Fn(u64) -> Vec<GateReading>) -> Vec<(u64, String)> {
        let mut log = Vec::new();
        let mut t = from;
        while t <= to {
            match decide(r, t, &gates(t)) {
                Decision::Advance { step, weight } => {
                    r.step = step;
                    r.step_started = t;
                    log.push((t, format!("{weight}%")));
                }
                Decision::Promote => {
                    r.state = RolloutState::Promoted;
                    log.push((t, "promoted".into()));
                }
                Decision::RollBack { why } => {
                    r.state = RolloutState::RolledBack;
                    log.push((t, format!("rolled back: {why}")));
                }
                Decision::Hold { .. } | Decision::Wait => {}
            }
            t += MIN;
        }
        log
    }

    #[test]
    fn healthy_gates_advance_one_step_per_interval_then_promote() {
        let mut r = plan();
        let start = r.step_started;
        let log = run(&mut r, start, start + 60 * MIN, |_| ok_since(0));
        let steps: Vec<(u64, &str)> = log.iter().map(|(t, s)| ((t - start) / MIN, s.as_str())).collect();
        assert_eq!(steps, [(10, "5%"), (20, "25%"), (30, "50%"), (40, "100%"), (50, "promoted")]);
    }

    #[test]
    fn missed_runs_still_give_every_step_a_full_interval() {
        let mut r = plan();
        let start = r.step_started;
        // The controller did not run for 45 minutes: it comes back and advances one step only.
        assert_eq!(decide(&r, start + 45 * MIN, &ok_since(0)), Decision::Advance { step: 1, weight: 5 });
        r.step = 1;
        r.step_started = start + 45 * MIN;
        assert_eq!(decide(&r, start + 46 * MIN, &ok_since(0)), Decision::Wait);
        assert_eq!(decide(&r, start + 55 * MIN, &ok_since(0)), Decision::Advance { step: 2, weight: 25 });
    }

    #[test]
    fn a_gate_in_alarm_rolls_back_at_once_even_mid_interval() {
        let mut r = plan();
        let start = r.step_started;
        let log = run(&mut r, start, start + 40 * MIN, |t| {
            let mut gates = ok_since(0);
            if t >= start + 23 * MIN {
                gates[0] =
                    GateReading { name: "sdk-errors".into(), health: GateHealth::Alarm, since: start + 23 * MIN };
            }
            gates
        });
        let steps: Vec<(u64, &str)> = log.iter().map(|(t, s)| ((t - start) / MIN, s.as_str())).collect();
        assert_eq!(steps, [(10, "5%"), (20, "25%"), (23, "rolled back: gate sdk-errors is in ALARM")]);
    }

    #[test]
    fn a_flapping_gate_holds_until_it_has_been_ok_for_a_whole_interval() {
        let r = plan();
        let start = r.step_started;
        // It alarmed and recovered between two runs (the alarm was missed): OK only since 12 m.
        let gates = ok_since(start + 12 * MIN);
        for minute in 10..22 {
            assert_eq!(decide(&r, start + minute * MIN, &gates), Decision::Wait, "minute {minute}");
        }
        assert_eq!(decide(&r, start + 22 * MIN, &gates), Decision::Advance { step: 1, weight: 5 });
    }

    #[test]
    fn a_gate_without_data_or_that_does_not_exist_is_not_healthy() {
        let r = plan();
        let due = r.step_started + 10 * MIN;
        let mut gates = ok_since(0);
        gates[1].health = GateHealth::NoData;
        assert!(matches!(decide(&r, due, &gates), Decision::Hold { why } if why.contains("router-5xx has no data")));
        gates.pop();
        assert!(matches!(decide(&r, due, &gates), Decision::Hold { why } if why.contains("router-5xx does not exist")));
        // An alarm that is not one of this plan's gates does not roll it back.
        let other = GateReading { name: "unrelated".into(), health: GateHealth::Alarm, since: 0 };
        assert!(matches!(decide(&r, due, &[ok_since(0), vec![other]].concat()), Decision::Advance { .. }));
    }

    #[test]
    fn only_a_running_plan_moves() {
        for state in [RolloutState::Paused, RolloutState::RolledBack, RolloutState::Promoted, RolloutState::Cancelled] {
            let r = Rollout { state, ..plan() };
            assert_eq!(decide(&r, r.step_started + 100 * MIN, &ok_since(0)), Decision::Wait);
        }
        let cancelled = cancelled(Some(plan()), "weight 5% → 40%").unwrap();
        assert_eq!(cancelled.state, RolloutState::Cancelled);
        assert!(cancelled.unannounced.unwrap().contains("cancelled"));
    }

    #[test]
    fn plans_and_intervals_are_checked() {
        let gates = vec!["g".to_string()];
        assert!(check_plan(&[1, 5, 25, 50, 100], 600, &gates).is_ok());
        assert!(check_plan(&[], 600, &gates).is_err());
        assert!(check_plan(&[5, 5], 600, &gates).is_err());
        assert!(check_plan(&[0, 5], 600, &gates).is_err());
        assert!(check_plan(&[50, 101], 600, &gates).is_err());
        assert!(check_plan(&[1, 5], 30, &gates).is_err());
        assert!(check_plan(&[1, 5], 600, &[]).is_err());
        assert_eq!(parse_interval("10m").unwrap(), 600);
        assert_eq!(parse_interval("90s").unwrap(), 90);
        assert_eq!(parse_interval("1h").unwrap(), 3600);
        assert_eq!(parse_interval("120").unwrap(), 120);
        assert!(parse_interval("10 minutes").is_err() && parse_interval("m").is_err());
    }
}
