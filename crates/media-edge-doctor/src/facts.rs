//! What the template of this checkout asks of an account (`infra/deploy-facts.json`, generated
//! from `infra/template.yaml` by `scripts/render-template.py`), and the parameters a deploy
//! passes: the template's defaults, then `infra/samconfig.toml`'s, then the command line's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::DoctorError;

const FACTS: &str = include_str!("../../../infra/deploy-facts.json");
const DEPLOY_REQUIREMENTS: &str = include_str!("../../../requirements-deploy.txt");

#[derive(Debug, Clone, Deserialize)]
pub struct DeployFacts {
    pub parameters: BTreeMap<String, ParameterFact>,
    /// Logical ids of the template's functions.
    pub functions: Vec<String>,
    pub reserved_concurrency: BTreeMap<String, Reservation>,
    pub conditions: BTreeMap<String, ConditionFact>,
    /// The Regions the template's rule accepts (enabled by default; an opt-in Region is refused).
    pub regions_enabled_by_default: Vec<String>,
    pub v2_log_fields: Vec<String>,
    pub v2_log_fields_with_release_log_data: Vec<String>,
    /// The channel `doctor smoke` publishes its probe releases to (it has its own behaviour).
    pub probe_channel: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ParameterFact {
    pub default: Option<String>,
    pub allowed: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reservation {
    pub value: u32,
    pub condition: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConditionFact {
    pub parameter: String,
    pub equals: String,
}

impl DeployFacts {
    /// The facts of the template this binary was built with.
    pub fn of_this_checkout() -> Result<Self, DoctorError> {
        serde_json::from_str(FACTS).map_err(|e| DoctorError::Facts(e.to_string()))
    }

    /// Concurrent executions the stack reserves with these parameters, per function.
    pub fn reservations(&self, parameters: &Parameters) -> Vec<(String, u32)> {
        self.reserved_concurrency
            .iter()
            .filter(|(_, r)| match &r.condition {
                None => true,
                Some(name) => self
                    .conditions
                    .get(name)
                    .is_some_and(|c| parameters.get(&c.parameter).is_some_and(|v| v == c.equals)),
            })
            .map(|(function, r)| (function.clone(), r.value))
            .collect()
    }
}

/// Pinned versions of the deploy tools (`requirements-deploy.txt`, what `make deploy-tools` installs).
pub fn pinned_version(package: &str) -> Option<&'static str> {
    DEPLOY_REQUIREMENTS.lines().find_map(|line| line.trim().strip_prefix(package)?.strip_prefix("==")).map(str::trim)
}

/// The stack parameters a deploy passes, every one resolved to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    values: BTreeMap<String, String>,
}

impl Parameters {
    /// The template's defaults with `overrides` on top; an override the template does not have,
    /// or a value outside its allowed list, is an error (a typo would otherwise pass unnoticed).
    pub fn resolve(facts: &DeployFacts, overrides: &[(String, String)]) -> Result<Self, DoctorError> {
        let mut values: BTreeMap<String, String> =
            facts.parameters.iter().map(|(name, p)| (name.clone(), p.default.clone().unwrap_or_default())).collect();
        for (name, value) in overrides {
            let Some(fact) = facts.parameters.get(name) else {
                return Err(DoctorError::Usage(format!("the template has no parameter {name}")));
            };
            if let Some(allowed) = &fact.allowed {
                if !allowed.contains(value) {
                    return Err(DoctorError::Usage(format!(
                        "{name}={value}: allowed values are {}",
                        allowed.join(", ")
                    )));
                }
            }
            values.insert(name.clone(), value.clone());
        }
        Ok(Parameters { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn number(&self, name: &str) -> Result<u32, DoctorError> {
        let value = self.get(name).unwrap_or_default();
        value.trim().parse().map_err(|_| DoctorError::Usage(format!("{name}={value} is not a whole number")))
    }
}

/// `Key=Value Key2="a value"` (what `sam deploy --parameter-overrides` and samconfig.toml's
/// `parameter_overrides` take), or `ParameterKey=K,ParameterValue=V` items.
pub fn parse_overrides(text: &str) -> Result<Vec<(String, String)>, DoctorError> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    items.push(std::mem::take(&mut current));
                }
            }
            (None, c) => current.push(c),
        }
    }
    if quote.is_some() {
        return Err(DoctorError::Usage(format!("unbalanced quote in parameter overrides: {text}")));
    }
    if !current.is_empty() {
        items.push(current);
    }
    items
        .into_iter()
        .map(|item| {
            if let Some(rest) = item.strip_prefix("ParameterKey=") {
                if let Some((key, value)) = rest.split_once(",ParameterValue=") {
                    return Ok((key.to_string(), value.to_string()));
                }
            }
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| DoctorError::Usage(format!("parameter override {item:?} is not Key=Value")))
        })
        .collect()
}

/// What `sam deploy` would use from `infra/samconfig.toml` (the `default` environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamConfig {
    pub stack_name: Option<String>,
    pub region: Option<String>,
    pub overrides: Vec<(String, String)>,
}

impl SamConfig {
    pub fn read(path: &Path) -> Result<Self, DoctorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DoctorError::Usage(format!("reading {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| DoctorError::Usage(format!("{}: {e}", path.display())))
    }

    /// `[default.deploy.parameters]` first, then `[default.global.parameters]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let section =
            |command: &str| -> Option<&toml::Table> { doc.get("default")?.get(command)?.get("parameters")?.as_table() };
        let sections: Vec<&toml::Table> = [section("deploy"), section("global")].into_iter().flatten().collect();
        let string = |key: &str| sections.iter().find_map(|s| s.get(key)?.as_str().map(str::to_string));
        let overrides = match sections.iter().find_map(|s| s.get("parameter_overrides")) {
            None => Vec::new(),
            Some(toml::Value::String(text)) => parse_overrides(text).map_err(|e| e.to_string())?,
            Some(toml::Value::Array(items)) => {
                let mut all = Vec::new();
                for item in items {
                    let text = item.as_str().ok_or("parameter_overrides holds a non-string")?;
                    all.extend(parse_overrides(text).map_err(|e| e.to_string())?);
                }
                all
            }
            Some(_) => return Err("parameter_overrides is neither a string nor a list".into()),
        };
        Ok(SamConfig { stack_name: string("stack_name"), region: string("region"), overrides })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_of_this_checkout_parse_and_name_the_template_defaults() {
        let facts = DeployFacts::of_this_checkout().unwrap();
        let p = Parameters::resolve(&facts, &[]).unwrap();
        assert_eq!(p.get("ProcessorMaxConcurrency"), Some("5"));
        assert_eq!(p.get("InputPrefix"), Some("uploads/"));
        assert_eq!(facts.reservations(&p), vec![]);
        let reserving = Parameters::resolve(&facts, &[("ReserveScheduledConcurrency".into(), "true".into())]).unwrap();
        let reserved: u32 = facts.reservations(&reserving).iter().map(|(_, n)| n).sum();
        assert_eq!(reserved, 2);
        assert!(facts.regions_enabled_by_default.contains(&"us-east-1".to_string()));
        assert!(!facts.regions_enabled_by_default.contains(&"af-south-1".to_string()));
        assert!(facts.v2_log_fields.contains(&"sc-bytes".to_string()));
        assert_eq!(facts.probe_channel, "media-edge-probe");
        assert_eq!(pinned_version("cargo-lambda"), Some("1.9.2"));
        assert!(pinned_version("aws-sam-cli").is_some());
    }

    #[test]
    fn overrides_are_checked_against_the_template() {
        let facts = DeployFacts::of_this_checkout().unwrap();
        let typo = Parameters::resolve(&facts, &[("ProcesorMaxConcurrency".into(), "9".into())]);
        assert!(matches!(typo, Err(DoctorError::Usage(m)) if m.contains("no parameter ProcesorMaxConcurrency")));
        let bad = Parameters::resolve(&facts, &[("AccessLogs".into(), "v3".into())]);
        assert!(matches!(bad, Err(DoctorError::Usage(m)) if m.contains("allowed values are auto, v2, legacy")));
    }

    #[test]
    fn sam_style_overrides_parse() {
        let parsed = parse_overrides(
            r#"ProcessorMaxConcurrency="50" InputPrefix=incoming/ Name='a b' ParameterKey=X,ParameterValue=y"#,
        )
        .unwrap();
        let expected: Vec<(String, String)> =
            [("ProcessorMaxConcurrency", "50"), ("InputPrefix", "incoming/"), ("Name", "a b"), ("X", "y")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(parsed, expected);
        assert!(parse_overrides("A=\"open").is_err());
        assert!(parse_overrides("justaword").is_err());
    }

    #[test]
    fn samconfig_as_sam_deploy_guided_writes_it() {
        let text = r#"
version = 0.1
[default.global.parameters]
region = "eu-west-1"
[default.deploy.parameters]
stack_name = "media-edge"
region = "us-east-1"
capabilities = "CAPABILITY_IAM"
parameter_overrides = "ProcessorMaxConcurrency=\"50\" SlackWorkspaceId=\"T0123\""
"#;
        let config = SamConfig::parse(text).unwrap();
        assert_eq!(config.stack_name.as_deref(), Some("media-edge"));
        assert_eq!(config.region.as_deref(), Some("us-east-1"), "deploy's section wins over global");
        assert_eq!(config.overrides.len(), 2);
        let list = SamConfig::parse("[default.deploy.parameters]\nparameter_overrides = [\"A=1\", \"B=2\"]\n").unwrap();
        assert_eq!(list.overrides, vec![("A".into(), "1".into()), ("B".into(), "2".into())]);
        assert!(SamConfig::parse("[default.deploy.parameters\n").is_err());
    }
}
