#!/usr/bin/env bash
# Measures `media-edge backfill` on the emulator (docs/pipeline.md, Backfill): 2,000 small originals,
# a dry run, then a send. Run from the repository root:
#   cargo build --bin media-edge && scripts/with-emulator.sh bash scripts/measure-backfill.sh
set -e
.venv/bin/python - <<'PY'
import boto3, os
kw=dict(endpoint_url=os.environ['AWS_ENDPOINT_URL'],aws_access_key_id='x',aws_secret_access_key='x',region_name='us-east-1')
s3=boto3.client('s3',**kw); sqs=boto3.client('sqs',**kw)
s3.create_bucket(Bucket='bf-originals'); s3.create_bucket(Bucket='bf-variants')
url=sqs.create_queue(QueueName='bf-jobs')['QueueUrl']
body=open('samples/logo+alpha.png','rb').read()
for i in range(2000):
    s3.put_object(Bucket='bf-originals',Key=f'uploads/lib/{i:05d}.png',Body=body)
open('/tmp/bf_queue','w').write(url)
PY
export VARIANTS_BUCKET=bf-variants JOBS_QUEUE_URL=$(cat /tmp/bf_queue)
/usr/bin/time -f "dry-run wall %e s, max RSS %M KB" target/debug/media-edge backfill s3://bf-originals/uploads/ --local-settings --dry-run --json | grep -E '"(originals|missing|seconds)"'
/usr/bin/time -f "send wall %e s, max RSS %M KB" target/debug/media-edge backfill s3://bf-originals/uploads/ --local-settings --rate 1000 --json --state /tmp/bf_state.json | grep -E '"(sent|seconds|errors)"'
