//! Which object events are work. Everything else is acknowledged with a logged reason.

use media_edge_shared::s3_event::ObjectEvent;

use crate::lambda::config::ProcessorConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    Process,
    Skip(String),
}

pub fn classify(event: &ObjectEvent, config: &ProcessorConfig) -> Intake {
    if !event.is_object_created() {
        return Intake::Skip(format!("{} is not an upload", event.event_name));
    }
    // Checked before the input prefix, so even a misconfigured notification cannot loop.
    if config.is_own_output(&event.bucket, &event.key) {
        return Intake::Skip("the processor's own output".into());
    }
    if event.bucket != config.originals_bucket {
        return Intake::Skip(format!("bucket {} is not the originals bucket", event.bucket));
    }
    if config.layout.relative(&event.key).is_none() {
        return Intake::Skip(format!("not under the input prefix {:?}", config.layout.input_prefix));
    }
    if event.key.ends_with('/') {
        return Intake::Skip("folder placeholder".into());
    }
    Intake::Process
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::make::render::RenderSettings;
    use crate::store::keys::OutputLayout;

    fn config() -> ProcessorConfig {
        ProcessorConfig {
            originals_bucket: "media".into(),
            variants_bucket: "media".into(),
            layout: OutputLayout { input_prefix: "uploads/".into(), output_prefix: "variants/".into() },
            status_topic_arn: "arn".into(),
            render: RenderSettings::default(),
            work_root: std::env::temp_dir(),
        }
    }

    fn event(name: &str, bucket: &str, key: &str) -> ObjectEvent {
        ObjectEvent {
            event_name: name.into(),
            bucket: bucket.into(),
            key: key.into(),
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
            event_time: None,
            asked_effort: None,
        }
    }

    #[test]
    fn only_uploads_under_the_input_prefix_are_work() {
        let c = config();
        assert_eq!(classify(&event("ObjectCreated:Put", "media", "uploads/a.jpg"), &c), Intake::Process);
        assert_eq!(
            classify(&event("ObjectCreated:CompleteMultipartUpload", "media", "uploads/x/y z.png"), &c),
            Intake::Process
        );
        for (name, bucket, key) in [
            ("ObjectRemoved:Delete", "media", "uploads/a.jpg"),
            ("ObjectCreated:Put", "media", "variants/a.jpg/0123/pc.jpg"),
            ("ObjectCreated:Put", "other", "uploads/a.jpg"),
            ("ObjectCreated:Put", "media", "elsewhere/a.jpg"),
            ("ObjectCreated:Put", "media", "uploads/folder/"),
        ] {
            assert!(matches!(classify(&event(name, bucket, key), &c), Intake::Skip(_)), "{name} {key}");
        }
    }
}
