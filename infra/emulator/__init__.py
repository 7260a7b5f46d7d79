"""infra/template.yaml as a CloudFormation stack on the local emulator (moto).

- translate.py: the SAM transform, offline; CodeUri/ContentUri become s3:// artifacts on the emulator.
- placeholders.py: resource types the emulator cannot model (unmodelled.json) become
  placeholders, and every Ref/GetAtt/Sub to them a placeholder string.
- moto_models.py: the CloudFormation models moto 5.2.5 lacks (bucket notifications, SNS
  subscriptions, policies, aliases, alarms, ...), registered by server.py, the launcher
  (`python -m infra.emulator.server -H 127.0.0.1 -p PORT`).
- deploy.py: `python -m infra.emulator deploy|delete`: a stack created from a TemplateURL on the
  emulator's S3, described in a JSON file (outputs, resources, functions, event source mappings,
  queues, topics, buckets) for the test harnesses.

See README.md in this directory.
"""
