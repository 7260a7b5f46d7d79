//! Progressive rollouts: a canary goes through weight steps by itself while its gates (CloudWatch
//! alarms) stay healthy, is promoted after the last step, and is rolled back the moment a gate
//! alarms. [`decide`] is the whole policy, pure and clock-free (the time is an argument); the
//! `ReleaseControl` methods in `rollout_commands` store plans and apply decisions with the same conditional
//! writes and history as every other release change.
//!
//! Who wins when an operator changes the weight by hand during a rollout: the operator. `canary`,
//! `set-weight`, `promote` and `rollback` cancel the plan (state `cancelled`), so the controller
//! never undoes a deliberate change; `rollout` starts a new plan.

use edge_router::channel::{ChannelConfig, Rollout, RolloutState};
use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};

use crate::error::ReleaseError;

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
    /// The step is due (or the edge is behind) but cannot go on: announced once per reason.
    Hold {
        why: String,
    },
    /// The edge store has just caught up with the config: viewers got this step only now, so
    /// its interval starts now.
    RestartStep,
    Advance {
        step: usize,
        weight: u8,
    },
    Promote,
    RollBack {
        why: String,
    },
}

/// Whether viewers are routed by what the channel config says. With origin routing they always
/// are; with edge routing only once the KeyValueStore holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeSync {
    InSync,
    /// It was behind and has just been copied.
    CaughtUp,
    /// It is behind and could not be copied (why).
    Behind(String),
}

/// What the controller does with a rollout at `now`. One step at most per call, so a controller
/// that missed runs still gives every step a full healthy interval. A step counts only from when
/// viewers get it: while the edge store is behind nothing advances or promotes (rolling back
/// still does), and when it catches up the step starts over. A paused rollout still rolls back
/// when a gate alarms: pausing stops advancing, not protection.
pub fn decide(rollout: &Rollout, now: u64, gates: &[GateReading], edge: &EdgeSync) -> Decision {
    if !matches!(rollout.state, RolloutState::Running | RolloutState::Paused) {
        return Decision::Wait;
    }
    if let Some(gate) = gates.iter().find(|g| g.health == GateHealth::Alarm && rollout.gates.contains(&g.name)) {
        return Decision::RollBack { why: format!("gate {} is in ALARM", gate.name) };
    }
    if rollout.state == RolloutState::Paused {
        return Decision::Wait;
    }
    match edge {
        // The store holds it now, but the step was written while it did not (someone else, or
        // an earlier run, copied it since): it starts now.
        EdgeSync::InSync if rollout.edge_pending => return Decision::RestartStep,
        EdgeSync::InSync => {}
        EdgeSync::CaughtUp => return Decision::RestartStep,
        // The reason stays the same however the store fails, so the hold is announced once.
        EdgeSync::Behind(_) => {
            let weight = rollout.steps.get(rollout.step).copied().unwrap_or_default();
            return Decision::Hold {
                why: format!("the edge store does not hold {weight}% yet, so viewers do not either"),
            };
        }
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

/// A plan stopped by an operator's change (the operator wins), and its announcement.
pub(crate) fn cancelled(config: &ChannelConfig, action: &str, weight: u8) -> (Option<Rollout>, Option<ReleaseEvent>) {
    match &config.rollout {
        Some(r) if matches!(r.state, RolloutState::Running | RolloutState::Paused) => {
            let reason = format!("changed by hand: {action}");
            let text = format!("rollout of {} cancelled: {action}", r.release);
            let event =
                ReleaseEvent::new(&config.channel, &r.release, ReleaseChange::Operator, weight, weight, Some(text));
            (Some(Rollout { state: RolloutState::Cancelled, reason: Some(reason), ..r.clone() }), Some(event))
        }
        other => (other.clone(), None),
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
            edge_pending: false,
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
            match decide(r, t, &gates(t), &EdgeSync::InSync) {
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
                Decision::Hold { .. } | Decision::Wait | Decision::RestartStep => {}
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
        assert_eq!(
            decide(&r, start + 45 * MIN, &ok_since(0), &EdgeSync::InSync),
            Decision::Advance { step: 1, weight: 5 }
        );
        r.step = 1;
        r.step_started = start + 45 * MIN;
        assert_eq!(decide(&r, start + 46 * MIN, &ok_since(0), &EdgeSync::InSync), Decision::Wait);
        assert_eq!(
            decide(&r, start + 55 * MIN, &ok_since(0), &EdgeSync::InSync),
            Decision::Advance { step: 2, weight: 25 }
        );
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
            assert_eq!(decide(&r, start + minute * MIN, &gates, &EdgeSync::InSync), Decision::Wait, "minute {minute}");
        }
        assert_eq!(decide(&r, start + 22 * MIN, &gates, &EdgeSync::InSync), Decision::Advance { step: 1, weight: 5 });
    }

    #[test]
    fn a_gate_without_data_or_that_does_not_exist_is_not_healthy() {
        let r = plan();
        let due = r.step_started + 10 * MIN;
        let mut gates = ok_since(0);
        gates[1].health = GateHealth::NoData;
        assert!(
            matches!(decide(&r, due, &gates, &EdgeSync::InSync), Decision::Hold { why } if why.contains("router-5xx has no data"))
        );
        gates.pop();
        assert!(
            matches!(decide(&r, due, &gates, &EdgeSync::InSync), Decision::Hold { why } if why.contains("router-5xx does not exist"))
        );
        // An alarm that is not one of this plan's gates does not roll it back.
        let other = GateReading { name: "unrelated".into(), health: GateHealth::Alarm, since: 0 };
        assert!(matches!(
            decide(&r, due, &[ok_since(0), vec![other]].concat(), &EdgeSync::InSync),
            Decision::Advance { .. }
        ));
    }

    #[test]
    fn only_a_running_plan_moves_but_a_paused_one_still_rolls_back() {
        for state in [RolloutState::Paused, RolloutState::RolledBack, RolloutState::Promoted, RolloutState::Cancelled] {
            let r = Rollout { state, ..plan() };
            assert_eq!(decide(&r, r.step_started + 100 * MIN, &ok_since(0), &EdgeSync::InSync), Decision::Wait);
        }
        let paused = Rollout { state: RolloutState::Paused, ..plan() };
        let mut alarm = ok_since(0);
        alarm[1].health = GateHealth::Alarm;
        assert!(matches!(
            decide(&paused, paused.step_started + MIN, &alarm, &EdgeSync::InSync),
            Decision::RollBack { why } if why.contains("router-5xx")
        ));
        let mut config = ChannelConfig::new("sdk", "1.4.0");
        config.rollout = Some(plan());
        let (cancelled, event) = cancelled(&config, "weight 5% → 40%", 40);
        assert_eq!(cancelled.unwrap().state, RolloutState::Cancelled);
        let event = event.unwrap();
        assert!(event.reason.unwrap().contains("cancelled") && event.weight_to == 40);
    }

    #[test]
    fn nothing_advances_while_the_edge_is_behind_and_the_step_restarts_when_it_catches_up() {
        let r = plan();
        let due = r.step_started + 30 * MIN;
        let behind = EdgeSync::Behind("ServiceUnavailable".into());
        assert!(matches!(
            decide(&r, due, &ok_since(0), &behind),
            Decision::Hold { why } if why == "the edge store does not hold 1% yet, so viewers do not either"
        ));
        // However the store fails, the same reason: the hold is announced once.
        let other = EdgeSync::Behind("ThrottlingException".into());
        assert_eq!(decide(&r, due, &ok_since(0), &behind), decide(&r, due, &ok_since(0), &other));
        // Written while the store was behind, copied since by someone else: the step starts over.
        let pending = Rollout { edge_pending: true, ..plan() };
        assert_eq!(decide(&pending, due, &ok_since(0), &EdgeSync::InSync), Decision::RestartStep);
        let last = Rollout { step: 4, ..plan() };
        assert!(matches!(decide(&last, due, &ok_since(0), &behind), Decision::Hold { .. }), "no promotion either");
        assert_eq!(decide(&r, due, &ok_since(0), &EdgeSync::CaughtUp), Decision::RestartStep);
        // Rolling back stays allowed.
        let mut alarm = ok_since(0);
        alarm[0].health = GateHealth::Alarm;
        assert!(matches!(decide(&r, due, &alarm, &behind), Decision::RollBack { .. }));
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
