"""The LocalStack init hook makes what template.yaml declares: run against
the AWS API emulator that scripts/test starts (AWS_ENDPOINT_URL), then
compared, setting by setting, with the template.
"""

import importlib.util
import json
import os
import unittest
import uuid

import boto3

from test_template import ROOT, sam_template

HOOK = os.path.join(ROOT, "localstack", "init", "ready.d", "coderun.py")


def load_hook():
    spec = importlib.util.spec_from_file_location("coderun_hook", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalStackHook(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            raise RuntimeError("needs the AWS API emulator at AWS_ENDPOINT_URL: scripts/test starts it")
        cls.made = load_hook().main(["--stage", f"t{uuid.uuid4().hex[:8]}"])
        # Twice: the hook runs on every LocalStack start.
        load_hook().main(["--stage", cls.made["CODERUN_TABLE"].removeprefix("coderun-")])
        session = boto3.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
        cls.ddb = session.client("dynamodb", endpoint_url=endpoint)
        cls.sqs = session.client("sqs", endpoint_url=endpoint)
        cls.s3 = session.client("s3", endpoint_url=endpoint)
        cls.template = sam_template()["Resources"]

    def test_the_table(self):
        want = self.template["Table"]["Properties"]
        got = self.ddb.describe_table(TableName=self.made["CODERUN_TABLE"])["Table"]
        self.assertEqual(got["KeySchema"], want["KeySchema"])
        self.assertEqual(
            sorted(got["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            sorted(want["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        )
        gsi = [{k: g[k] for k in ("IndexName", "KeySchema", "Projection")}
               for g in got["GlobalSecondaryIndexes"]]
        self.assertEqual(gsi, want["GlobalSecondaryIndexes"])
        self.assertEqual(got["BillingModeSummary"]["BillingMode"], want["BillingMode"])
        self.assertEqual(got["StreamSpecification"]["StreamViewType"],
                         want["StreamSpecification"]["StreamViewType"])
        self.assertEqual(got["SSEDescription"]["Status"], "ENABLED")
        ttl = self.ddb.describe_time_to_live(TableName=self.made["CODERUN_TABLE"])
        self.assertEqual(ttl["TimeToLiveDescription"]["AttributeName"],
                         want["TimeToLiveSpecification"]["AttributeName"])

    def test_the_queues(self):
        for url, name in ((self.made["CODERUN_QUEUE_URL"], "JobQueue"),
                          (self.made["CODERUN_DLQ_URL"], "JobDeadLetters")):
            want = self.template[name]["Properties"]
            got = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            self.assertEqual(int(got["VisibilityTimeout"]), want["VisibilityTimeout"], name)
            self.assertEqual(int(got["MessageRetentionPeriod"]), want["MessageRetentionPeriod"], name)
            if "RedrivePolicy" in want:
                redrive = json.loads(got["RedrivePolicy"])
                self.assertEqual(int(redrive["maxReceiveCount"]),
                                 want["RedrivePolicy"]["maxReceiveCount"])
                self.assertTrue(redrive["deadLetterTargetArn"].endswith(
                    self.made["CODERUN_DLQ_URL"].rsplit("/", 1)[1]))

    def test_the_bucket(self):
        want = self.template["DataBucket"]["Properties"]
        name = self.made["CODERUN_BUCKET"]
        block = self.s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        self.assertEqual(block, want["PublicAccessBlockConfiguration"])
        enc = self.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
        self.assertEqual(enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
                         want["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                         ["ServerSideEncryptionByDefault"]["SSEAlgorithm"])
        rules = self.s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        got = {r["ID"]: (r.get("Filter", {}).get("Prefix", ""), r.get("Expiration", {}).get("Days"))
               for r in rules}
        declared = {r["Id"]: (r.get("Prefix", ""), r.get("ExpirationInDays"))
                    for r in want["LifecycleConfiguration"]["Rules"]}
        self.assertEqual(got, declared)


if __name__ == "__main__":
    unittest.main()
