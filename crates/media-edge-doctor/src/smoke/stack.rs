//! The deployed stack as CloudFormation describes it: outputs, parameters, alarms.

use std::collections::BTreeMap;

use media_edge_shared::aws::describe_sdk_error;

use crate::error::DoctorError;

#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub name: String,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    /// Names of the stack's CloudWatch alarms, by logical id.
    pub alarms: BTreeMap<String, String>,
}

impl Stack {
    pub async fn describe(cloudformation: &aws_sdk_cloudformation::Client, name: &str) -> Result<Self, DoctorError> {
        let described = cloudformation.describe_stacks().stack_name(name).send().await.map_err(|e| {
            let text = describe_sdk_error(&e);
            if text.contains("does not exist") {
                DoctorError::Usage(format!("there is no stack {name} in this account and Region ({text})"))
            } else {
                DoctorError::Aws(format!("describing stack {name}: {text}"))
            }
        })?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| DoctorError::Usage(format!("there is no stack {name} in this account and Region")))?;
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value().unwrap_or_default().to_string())))
            .collect();
        let parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_string(), p.parameter_value().unwrap_or_default().to_string())))
            .collect();
        let mut alarms = BTreeMap::new();
        let mut pages = cloudformation.list_stack_resources().stack_name(name).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                DoctorError::Aws(format!("listing stack {name}'s resources: {}", describe_sdk_error(&e)))
            })?;
            for r in page.stack_resource_summaries() {
                if r.resource_type() == Some("AWS::CloudWatch::Alarm") {
                    if let (Some(id), Some(physical)) = (r.logical_resource_id(), r.physical_resource_id()) {
                        alarms.insert(id.to_string(), physical.to_string());
                    }
                }
            }
        }
        Ok(Stack { name: name.to_string(), outputs, parameters, alarms })
    }

    pub fn output(&self, key: &str) -> Result<&str, DoctorError> {
        self.outputs.get(key).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
            DoctorError::Usage(format!("stack {} has no output {key}: is it a media-edge stack?", self.name))
        })
    }

    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters.get(key).map(String::as_str)
    }
}
