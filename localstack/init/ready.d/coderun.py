#!/usr/bin/env python3
"""LocalStack init hook (ready.d): creates what template.yaml declares for
the services LocalStack's free tier has — the DynamoDB table, the job queue
with its dead-letter queue, the data bucket — with the template's settings.
ECS and Cognito are paid features there: the tests' Fargate shim and the
local token issuer stand in for them (README: "LocalStack").

Idempotent. Also run by scripts/test against the moto emulator, then the
AWS end-to-end tests run on what it made, so hook and template agree.

  AWS_ENDPOINT_URL=http://localhost:4566 python3 localstack/init/ready.d/coderun.py [--stage local]

Prints the resources as shell variables (CODERUN_TABLE=..., ...).
"""

import argparse
import json
import os

import boto3
from botocore.exceptions import ClientError

RETENTION_DAYS = 7


def names(stage, account="000000000000", region="us-east-1"):
    return {
        "table": f"coderun-{stage}",
        "bucket": f"coderun-{stage}-{account}-{region}",
        "queue": f"coderun-{stage}-jobs",
        "dlq": f"coderun-{stage}-jobs-dlq",
    }


def table(ddb, name):
    try:
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                                  for a in ("PK", "SK", "GSI1PK", "GSI1SK")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "byUser",
                "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                              {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
            SSESpecification={"Enabled": True},
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        ddb.get_waiter("table_exists").wait(TableName=name)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "AttributeName": "expiresAt", "Enabled": True})
    try:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
    except ClientError as e:  # not every emulator keeps backups
        print(f"# point-in-time recovery not set: {e}")


def queues(sqs, queue, dlq):
    dlq_url = sqs.create_queue(QueueName=dlq, Attributes={
        "VisibilityTimeout": "720",
        "MessageRetentionPeriod": "1209600",
        "SqsManagedSseEnabled": "true",
    })["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=queue, Attributes={
        # At least 6 times the dispatcher's timeout (30 s).
        "VisibilityTimeout": "180",
        "MessageRetentionPeriod": "86400",
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 60}),
    })["QueueUrl"]
    return url, dlq_url


def bucket(s3, name, region):
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "manifests", "Status": "Enabled", "Filter": {"Prefix": "jobs/"},
         "Expiration": {"Days": RETENTION_DAYS}},
        {"ID": "staged-imports", "Status": "Enabled", "Filter": {"Prefix": "imports/"},
         "Expiration": {"Days": RETENTION_DAYS}},
        {"ID": "mailboxes", "Status": "Enabled", "Filter": {"Prefix": "runners/"},
         "Expiration": {"Days": 1}},
        {"ID": "incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    ]})


def main(argv=None):
    ap = argparse.ArgumentParser(description="coderun's resources on LocalStack (or moto)")
    ap.add_argument("--stage", default=os.environ.get("CODERUN_STAGE", "local"))
    args = ap.parse_args(argv)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.Session(
        region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    client = lambda service: session.client(service, endpoint_url=endpoint)
    account = client("sts").get_caller_identity()["Account"]
    n = names(args.stage, account, region)
    table(client("dynamodb"), n["table"])
    queue_url, dlq_url = queues(client("sqs"), n["queue"], n["dlq"])
    bucket(client("s3"), n["bucket"], region)
    out = {
        "CODERUN_TABLE": n["table"],
        "CODERUN_BUCKET": n["bucket"],
        "CODERUN_QUEUE_URL": queue_url,
        "CODERUN_DLQ_URL": dlq_url,
    }
    for k, v in out.items():
        print(f"{k}={v}")
    return out


if __name__ == "__main__":
    main()
