"""A function as built, invoked with a sample event through cargo lambda, against a stack of
infra/template.yaml on the emulator, with the environment the stack gave the function.

    python -m infra.emulator invoke --function image-processor \\
        --event events/image-processor/sns-wrapped.json [--binary PATH] [--param Key=Value ...]

In order:
1. deploys the template as a stack (deploy.py) and reads the function's deployed configuration;
2. puts in place what the event names: an S3 record's `uploads/<name>` is stored from
   `samples/<name>`; for the release functions, `events/releases-bucket/` goes into the releases
   bucket;
3. points the event at the stack: the sample events' names (`media-edge-originals-example`, the
   `123456789012` queue and topic ARNs) become the stack's;
4. subscribes an observer queue to each of the stack's topics, to show what the function published;
5. starts `cargo lambda watch --only-lambda-apis` (cargo-lambda's local Runtime API) and the
   binary with the deployed function's environment (only the layer's ffmpeg path is this
   machine's), and sends the event with `cargo lambda invoke --data-file`;
6. reports the function's answer, the objects it wrote and the messages it published, then stops
   both processes and deletes the stack.

Why `--only-lambda-apis`: plain `cargo lambda watch` builds the function itself (`cargo run`, the
debug profile, this one package's features); here the binary is the one you choose, e.g.
cargo-lambda's release build under target/lambda/, the one deployment ships.
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

from infra.emulator import deploy

ROOT = pathlib.Path(__file__).resolve().parents[2]

FUNCTIONS = {
    "image-processor": "ImageProcessorFunction",
    "notifier": "NotifierFunction",
    "edge-router": "EdgeRouterFunction",
    "release-controller": "ReleaseControllerFunction",
}

# What the sample events in events/ call things, and the stack resource that stands for each.
# Longer names first: the jobs queue's ARN is a prefix of its dead-letter queue's.
SAMPLE_NAMES = [
    ("arn:aws:sqs:us-east-1:123456789012:media-edge-jobs-dlq", ("queue", "JobsDeadLetterQueue")),
    ("arn:aws:sqs:us-east-1:123456789012:media-edge-jobs", ("queue", "JobsQueue")),
    ("arn:aws:sqs:us-east-1:123456789012:media-edge-notifier", ("queue", "NotifierQueue")),
    ("arn:aws:sns:us-east-1:123456789012:media-edge-uploads", ("topic", "UploadsTopic")),
    ("arn:aws:sns:us-east-1:123456789012:media-edge-status", ("topic", "StatusTopic")),
    ("media-edge-originals-example", ("bucket", "OriginalsBucket")),
]

RELEASES_FILES = ROOT / "events" / "releases-bucket"
CONTENT_TYPES = {".js": "text/javascript", ".json": "application/json", ".html": "text/html", ".css": "text/css"}


class InvokeError(Exception):
    pass


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _physical(description, kind, logical_id):
    if kind == "queue":
        return description["queues"][logical_id]["Attributes"]["QueueArn"]
    if kind == "topic":
        return description["topics"][logical_id]["TopicArn"]
    return description["resources"][logical_id]["physical_id"]


def point_at_stack(event_text, description):
    """The sample event with its example names replaced by the stack's."""
    for sample, (kind, logical_id) in SAMPLE_NAMES:
        event_text = event_text.replace(sample, _physical(description, kind, logical_id))
    return event_text


def s3_objects_named(event):
    """(bucket, key) of every S3 record in an SQS event's bodies (SNS-wrapped, raw, or direct)."""
    named = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record.get("body", ""))
            if isinstance(body, dict) and "Message" in body:
                body = json.loads(body["Message"])
        except (ValueError, TypeError):
            continue  # a poison message is part of the sample: nothing to stage
        for s3_record in body.get("Records", []) if isinstance(body, dict) else []:
            s3 = s3_record.get("s3", {}) if isinstance(s3_record, dict) else {}
            bucket, key = s3.get("bucket", {}).get("name"), s3.get("object", {}).get("key")
            if bucket and key:
                # S3 form-encodes keys in event notifications.
                named.append((bucket, urllib.parse.unquote_plus(key)))
    return named


def stage_objects(s3, description, function, event):
    """Stores what the event names; returns [(bucket logical id, key, source)]."""
    staged = []
    if function == "image-processor":
        originals = description["resources"]["OriginalsBucket"]["physical_id"]
        for bucket, key in s3_objects_named(event):
            if bucket != originals:
                continue
            source = ROOT / "samples" / key.rsplit("/", 1)[-1]
            if not source.is_file():
                staged.append(("OriginalsBucket", key, None))
                continue
            s3.put_object(Bucket=bucket, Key=key, Body=source.read_bytes())
            staged.append(("OriginalsBucket", key, str(source.relative_to(ROOT))))
    if function in ("edge-router", "release-controller"):
        bucket = description["resources"]["ReleasesBucket"]["physical_id"]
        for path in sorted(p for p in RELEASES_FILES.rglob("*") if p.is_file()):
            key = path.relative_to(RELEASES_FILES).as_posix()
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(),
                          ContentType=CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
            staged.append(("ReleasesBucket", key, str(path.relative_to(ROOT))))
    return staged


def receive(sqs, queue_url, count, wait_seconds=20):
    """Up to `count` messages from the queue, with every attribute, left in flight."""
    messages, until = [], time.monotonic() + wait_seconds
    while len(messages) < count and time.monotonic() < until:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, count - len(messages)),
                                  WaitTimeSeconds=1, AttributeNames=["All"], MessageAttributeNames=["All"])
        messages.extend(got.get("Messages", []))
    return messages


def sqs_event(messages, queue_arn, region):
    """Messages as Lambda's SQS event source hands them to a function."""
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


def _bucket_etags(s3, description):
    etags = {}
    for logical_id, resource in description["resources"].items():
        if resource["type"] != "AWS::S3::Bucket" or resource["placeholder"]:
            continue
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=resource["physical_id"]):
            for o in page.get("Contents", []):
                etags[(logical_id, o["Key"])] = o["ETag"]
    return etags


class Observers:
    """A queue subscribed to each of the stack's topics: what the function publishes."""

    def __init__(self, sqs, sns, description):
        self.sqs, self.sns = sqs, sns
        self.queues = {}
        self.subscriptions = []
        stack = description["stack"]["name"]
        for logical_id, topic in description["topics"].items():
            url = sqs.create_queue(QueueName=f"{stack}-observe-{logical_id}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sub = sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
            self.queues[logical_id] = url
            self.subscriptions.append(sub["SubscriptionArn"])

    def drain(self):
        """{topic logical id: [{"subject", "message"}]}, waiting a second for stragglers."""
        seen = {}
        for logical_id, url in self.queues.items():
            while True:
                got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                messages = got.get("Messages", [])
                if not messages:
                    break
                for m in messages:
                    envelope = json.loads(m["Body"])
                    seen.setdefault(logical_id, []).append(
                        {"subject": envelope.get("Subject"), "message": envelope.get("Message")})
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return seen

    def close(self):
        for arn in self.subscriptions:
            self.sns.unsubscribe(SubscriptionArn=arn)
        for url in self.queues.values():
            self.sqs.delete_queue(QueueUrl=url)


def function_environment(config, runtime_api, endpoint, region):
    """The process environment of the function as the stack configured it, on this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
    env.update(config.get("Environment", {}).get("Variables", {}))
    # The layer's ffmpeg is /opt/bin/ffmpeg in Lambda; here the same pinned build under .local.
    if "FFMPEG_PATH" in env and os.environ.get("FFMPEG_PATH"):
        env["FFMPEG_PATH"] = os.environ["FFMPEG_PATH"]
    env.update({
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    })
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.setdefault(name, "testing")
    return env


def cargo_lambda():
    found = ROOT / ".venv" / "bin" / "cargo-lambda"
    if found.is_file():
        return str(found)
    which = shutil.which("cargo-lambda")
    if not which:
        raise InvokeError("cargo-lambda not found: `make venv` installs it into .venv")
    return which


def _wait_for_port(port, process, what, timeout=30):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if process.poll() is not None:
            raise InvokeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise InvokeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def _stop(process):
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Runtime:
    """cargo lambda's local Runtime API (`cargo lambda watch --only-lambda-apis`) with one process
    of `binary` attached, configured as `config` (a deployed function's GetFunctionConfiguration)
    says; `invoke()` sends it an event through `cargo lambda invoke`. Use it as a context manager:
    both processes are stopped (by their process group) at the end."""

    def __init__(self, binary, config, endpoint, region, log_path):
        self.binary = pathlib.Path(binary).resolve()
        if not self.binary.is_file():
            raise InvokeError(f"{self.binary} is missing: build it first (make invoke does)")
        self.config, self.endpoint, self.region = config, endpoint, region
        self.log_path = pathlib.Path(log_path)
        self.work = pathlib.Path(tempfile.mkdtemp(prefix="media-edge-invoke-"))
        self.watch = self.process = None
        self.port = None

    def __enter__(self):
        try:
            self.port = _free_port()
            self.watch = subprocess.Popen(
                [cargo_lambda(), "lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1",
                 "--invoke-port", str(self.port)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            _wait_for_port(self.port, self.watch, "cargo lambda watch")
            env = function_environment(self.config, f"http://127.0.0.1:{self.port}/.rt", self.endpoint, self.region)
            # Lambda's /tmp is the function's own; here, a directory of this run's (the processor's
            # work root, WORK_DIR), not the machine's shared one.
            env.setdefault("WORK_DIR", str(self.work))
            with open(self.log_path, "w") as log:
                self.process = subprocess.Popen(
                    [str(self.binary)], cwd=self.work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    env=env)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def invoke(self, event_text, timeout=300):
        """(the function's answer, parsed if JSON; None) or (None, cargo lambda invoke's error)."""
        event_file = self.work / f"event-{time.monotonic_ns()}.json"
        event_file.write_text(event_text)
        invoked = subprocess.run(
            [cargo_lambda(), "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port),
             "--data-file", str(event_file), "--output-format", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if self.process.poll() is not None:
            raise InvokeError(f"{self.binary.name} exited with {self.process.returncode}:\n" + self.log()[-3000:])
        if invoked.returncode != 0:
            return None, (invoked.stderr or invoked.stdout).strip()
        try:
            return json.loads(invoked.stdout), None
        except ValueError:
            return invoked.stdout, None

    def log(self):
        return self.log_path.read_text() if self.log_path.is_file() else ""

    def __exit__(self, *exc):
        _stop(self.process)
        _stop(self.watch)
        shutil.rmtree(self.work, ignore_errors=True)


def run(endpoint, function, event_path, binary, description, timeout=300):
    """Invokes `binary` (the function `function` of the stack `description`) with the event.

    Returns {"function", "event", "response" (the function's answer, parsed if JSON), "error"
    (cargo lambda invoke's message when the invocation failed, else None), "staged", "written"
    ([(bucket logical id, key)] new or changed), "published" ({topic: [...]}), "log"}."""
    if function not in FUNCTIONS:
        raise InvokeError(f"unknown function {function!r}: one of {', '.join(FUNCTIONS)}")
    region = description["stack"]["region"]
    client = deploy.clients(endpoint, region)
    s3, sqs, sns = client("s3"), client("sqs"), client("sns")
    config = description["functions"][FUNCTIONS[function]]

    event_text = point_at_stack(pathlib.Path(event_path).read_text(), description)
    staged = stage_objects(s3, description, function, json.loads(event_text))
    before = _bucket_etags(s3, description)
    observers = Observers(sqs, sns, description)
    with tempfile.TemporaryDirectory(prefix="media-edge-invoke-log-") as logs:
        try:
            with Runtime(binary, config, endpoint, region, pathlib.Path(logs) / "function.log") as runtime:
                response, error = runtime.invoke(event_text, timeout)
                published = observers.drain()
                log = runtime.log()
        finally:
            observers.close()
    after = _bucket_etags(s3, description)
    return {
        "function": function,
        "event": str(event_path),
        "response": response,
        "error": error,
        "staged": staged,
        "written": sorted(k for k, etag in after.items() if before.get(k) != etag),
        "published": published,
        "log": log,
    }


def report(result, out):
    """What happened, for people."""
    print(f"{result['function']} <- {result['event']} (through cargo lambda's Runtime API)", file=out)
    for bucket, key, source in result["staged"]:
        print(f"  staged   {bucket}: {key}" + (f"  (from {source})" if source else "  (no sample file: left absent)"),
              file=out)
    if result["error"]:
        print(f"  failed   {result['error']}", file=out)
    else:
        print(f"  answered {json.dumps(result['response'], ensure_ascii=False)[:2000]}", file=out)
    for bucket, key in result["written"]:
        print(f"  wrote    {bucket}: {key}", file=out)
    for topic, messages in sorted(result["published"].items()):
        for m in messages:
            print(f"  published to {topic}: {m['subject'] or m['message'][:200]}", file=out)
    if not result["written"] and not result["published"]:
        print("  (wrote no object and published nothing)", file=out)
