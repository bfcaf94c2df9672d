"""The security invariants of template.yaml, checked on the template as
CloudFormation will see it (translated by the SAM translator, offline).

Each invariant is also checked against a broken copy of the template (a
task role added, a wildcard action, an unauthorized route, a NAT, ...):
these tests fail if the checks stop catching what they exist for.

Run by scripts/test:  python3 -m unittest discover -s tests/infra
"""

import copy
import json
import os
import subprocess
import unittest

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# The routes open without a token: everything else needs the JWT authorizer.
PUBLIC_ROUTES = {
    ("get", "/health"),
    ("get", "/languages"),
    ("get", "/openapi.json"),
    ("get", "/config.json"),
    ("get", "/problems"),
    ("get", "/problems/{id}"),
    # A statement's images: an <img> sends no token.
    ("get", "/problems/{id}/statement/{file}"),
    # Judge0's API: its clients send X-Auth-Token, which the function
    # verifies itself (JWT_ISSUER, JWKS_URL, JWT_AUDIENCE).
    ("any", "/judge0/{proxy+}"),
    # Piston's API likewise (the token as a Basic password).
    ("any", "/piston/{proxy+}"),
}
# Services holding coderun's data: no wildcard actions on them.
DATA_SERVICES = ("dynamodb", "s3", "sqs")
# Actions that name no resource and read no data: `*` is their only form.
RESOURCELESS = {"dynamodb:ListStreams"}


def sam_template():
    with open(os.path.join(ROOT, "template.yaml")) as f:
        return yaml_parse(f.read())


def translate(sam):
    """The CloudFormation template `sam deploy` would create, offline."""
    sam = copy.deepcopy(sam)
    for r in sam["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            # As `sam validate` does: the code location is not checked here.
            r["Properties"]["CodeUri"] = "s3://bucket/key"
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name="us-east-1"),
    )
    return translator.translate(sam_template=sam, parameter_values={})


def of_type(cfn, type_):
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == type_}


def listed(v):
    return v if isinstance(v, list) else [v]


def statements(cfn):
    """Every IAM statement: roles' inline policies, policies, bucket and
    endpoint policies, with where each was found."""
    for name, r in cfn["Resources"].items():
        props = r.get("Properties", {})
        docs = []
        if r["Type"] == "AWS::IAM::Role":
            docs += [p["PolicyDocument"] for p in props.get("Policies", [])]
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(props["PolicyDocument"])
        if r["Type"] in ("AWS::S3::BucketPolicy", "AWS::EC2::VPCEndpoint", "AWS::SQS::QueuePolicy"):
            if "PolicyDocument" in props:
                docs.append(props["PolicyDocument"])
        for doc in docs:
            for s in listed(doc.get("Statement", [])):
                yield name, s


def violations(cfn):
    """What breaks the security invariants; empty when all hold."""
    found = []

    # Runners hold no credentials: no task role, a read-only root.
    for name, r in of_type(cfn, "AWS::ECS::TaskDefinition").items():
        props = r["Properties"]
        if "TaskRoleArn" in props:
            found.append(f"{name}: runner task definitions have no task role")
        for c in props["ContainerDefinitions"]:
            if c.get("ReadonlyRootFilesystem") is not True:
                found.append(f"{name}: the runner's root file system is read-only")
            if c.get("Privileged"):
                found.append(f"{name}: runners are not privileged")

    # No wildcard actions on the data services; no `*` at all.
    for name, s in statements(cfn):
        if s.get("Effect") != "Allow":
            continue
        for action in listed(s.get("Action", [])):
            if not isinstance(action, str):
                continue
            service = action.split(":")[0].lower()
            if action == "*" or ("*" in action and service in DATA_SERVICES):
                found.append(f"{name}: wildcard action {action!r}")
        resources = [r for r in listed(s.get("Resource", [])) if isinstance(r, str)]
        actions = [a for a in listed(s.get("Action", [])) if isinstance(a, str)]
        if "*" in resources and any(a.split(":")[0] in DATA_SERVICES and a not in RESOURCELESS for a in actions):
            found.append(f"{name}: data actions on every resource")

    # Every role: coderun's inline policies only. AWS's managed policies
    # grant their actions on every queue, stream, repository and log group
    # of the account (AmazonECSTaskExecutionRolePolicy among them).
    for name, r in of_type(cfn, "AWS::IAM::Role").items():
        if r["Properties"].get("ManagedPolicyArns"):
            found.append(f"{name}: a role with managed policies")

    # The api function never writes or deletes results or manifests (a
    # runner's verdict is the results function's to apply).
    api_role = cfn["Resources"].get("ApiRole", {}).get("Properties", {})
    for policy in api_role.get("Policies", []):
        for st in listed(policy["PolicyDocument"]["Statement"]):
            writes = [a for a in listed(st.get("Action", [])) if a in ("s3:PutObject", "s3:DeleteObject", "s3:*")]
            for res in listed(st.get("Resource", [])):
                text = json.dumps(res)
                if writes and ("/results/" in text or "manifest" in text or text.endswith('/*"')
                               and "/sources/" not in text and "/imports/" not in text
                               and "/problems/" not in text and "/jobs/" not in text):
                    found.append(f"ApiRole: {writes} on {text}")

    # Runner tasks: the capabilities they add are the one the runner
    # needs (SYS_PTRACE, see the README), never more.
    for name, r in of_type(cfn, "AWS::ECS::TaskDefinition").items():
        for c in r["Properties"]["ContainerDefinitions"]:
            caps = c.get("LinuxParameters", {}).get("Capabilities", {})
            extra = set(caps.get("Add", [])) - {"SYS_PTRACE"}
            if extra:
                found.append(f"{name}: adds capabilities {sorted(extra)}")
            if "SETPCAP" not in caps.get("Drop", []):
                found.append(f"{name}: keeps SETPCAP, which the runner does not use")

    # Presigned URLs live a set start allowance plus their job's budget.
    for name, f in of_type(cfn, "AWS::Lambda::Function").items():
        ttl = f["Properties"].get("Environment", {}).get("Variables", {}).get("URL_TTL_SECONDS")
        if ttl is None or int(ttl) > 900:
            found.append(f"{name}: URL_TTL_SECONDS must be set, at most 900 (got {ttl})")

    # Buckets: public access blocked, encrypted.
    for name, r in of_type(cfn, "AWS::S3::Bucket").items():
        props = r.get("Properties", {})
        block = props.get("PublicAccessBlockConfiguration", {})
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(flag) is not True:
                found.append(f"{name}: {flag} must be true")
        if "BucketEncryption" not in props:
            found.append(f"{name}: not encrypted")

    # Encryption at rest elsewhere.
    for name, r in of_type(cfn, "AWS::DynamoDB::Table").items():
        if r["Properties"].get("SSESpecification", {}).get("SSEEnabled") is not True:
            found.append(f"{name}: table not encrypted")
    for name, r in of_type(cfn, "AWS::SQS::Queue").items():
        p = r["Properties"]
        if not (p.get("SqsManagedSseEnabled") or p.get("KmsMasterKeyId")):
            found.append(f"{name}: queue not encrypted")
    for name, r in of_type(cfn, "AWS::SNS::Topic").items():
        if "KmsMasterKeyId" not in r["Properties"]:
            found.append(f"{name}: topic not encrypted")

    # No way out to the internet.
    for t in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EgressOnlyInternetGateway"):
        for name in of_type(cfn, t):
            found.append(f"{name}: no {t.split('::')[-1]}")
    for name, r in of_type(cfn, "AWS::EC2::Route").items():
        found.append(f"{name}: private subnets have no routes out")
    runner_groups = {
        ref["Ref"]
        for f in of_type(cfn, "AWS::Lambda::Function").values()
        for ref in listed(f["Properties"].get("Environment", {}).get("Variables", {}).get("SECURITY_GROUPS", []))
        if isinstance(ref, dict) and "Ref" in ref
    }
    if not runner_groups:
        found.append("the functions name no security group for runners")
    for name in runner_groups:
        if cfn["Resources"][name]["Properties"].get("SecurityGroupIngress"):
            found.append(f"{name}: runners accept no connections")
        egress = list(cfn["Resources"][name]["Properties"].get("SecurityGroupEgress", []))
        egress += [r["Properties"] for r in of_type(cfn, "AWS::EC2::SecurityGroupEgress").values()
                   if r["Properties"].get("GroupId") == {"Ref": name}]
        if not egress:
            found.append(f"{name}: no egress rules (the default allows everything)")
        for rule in egress:
            if "CidrIp" in rule or "CidrIpv6" in rule:
                found.append(f"{name}: egress to an address range ({rule.get('CidrIp') or rule.get('CidrIpv6')}); "
                             "only S3's prefix list and the endpoints' group")
    for name, r in of_type(cfn, "AWS::EC2::SecurityGroupIngress").items():
        found.append(f"{name}: no ingress rules beside the endpoints'")

    # Every route but the public ones goes through the JWT authorizer.
    for name, r in of_type(cfn, "AWS::ApiGatewayV2::Api").items():
        body = r["Properties"].get("Body", {})
        schemes = body.get("components", {}).get("securitySchemes", {})
        jwt = {k for k, a in schemes.items()
               if a.get("x-amazon-apigateway-authorizer", {}).get("type") == "jwt"}
        if not jwt:
            found.append(f"{name}: no JWT authorizer")
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                method = "any" if method == "x-amazon-apigateway-any-method" else method
                if method.startswith("x-"):
                    continue
                authorized = any(set(req) & jwt for req in op.get("security", []))
                if not authorized and (method, path) not in PUBLIC_ROUTES:
                    found.append(f"{name}: {method.upper()} {path} is not authorized")
    # Routes without the authorizer that take tokens (Judge0's) are
    # verified by the function: it must know the pool's issuer and keys.
    env = cfn["Resources"]["ApiFunction"]["Properties"].get("Environment", {}).get("Variables", {})
    for var in ("JWT_ISSUER", "JWKS_URL", "JWT_AUDIENCE"):
        if var not in env:
            found.append(f"ApiFunction: {var} is not set, and Judge0's routes take tokens unchecked by the gateway")
    return found


class Template(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sam = sam_template()
        cls.cfn = translate(cls.sam)

    def test_the_template_keeps_its_invariants(self):
        self.assertEqual(violations(self.cfn), [])

    def test_cfn_lint_passes_the_translated_template(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "coderun-translated.json")
        with open(path, "w") as f:
            json.dump(self.cfn, f, indent=1)
        # W2001 (unused parameter): the offline translation inlines
        # parameter defaults into the OpenAPI body (CORS origin).
        out = subprocess.run(["cfn-lint", "--ignore-checks", "W2001", "--", path],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_every_language_has_a_runner_task(self):
        env = self.sam["Globals"]["Function"]["Environment"]["Variables"]["TASK_DEFINITIONS"]
        mapped = {item["Fn::Sub"].split("=")[0] for item in env["Fn::Join"][1]}
        runner = os.environ.get("RUNNER_TASK", os.path.join(ROOT, "target", "debug", "runner-task"))
        self.assertTrue(os.path.exists(runner), "build runner-task first (cargo build -p runner-task)")
        languages = json.loads(subprocess.run([runner, "languages"], capture_output=True,
                                              check=True).stdout)
        self.assertEqual(mapped, {l["id"] for l in languages} | {"package"})

    def test_a_stage_names_its_front_end(self):
        # No localhost default that a prod deploy would silently keep.
        params = self.sam["Parameters"]
        for p in ("FrontendOrigin", "CallbackUrls", "LogoutUrls", "S3PrefixListId"):
            self.assertNotIn("Default", params[p], p)

    def test_the_queue_outlasts_the_dispatcher(self):
        queue = self.sam["Resources"]["JobQueue"]["Properties"]
        timeout = self.sam["Globals"]["Function"]["Timeout"]
        timeout = self.sam["Resources"]["DispatcherFunction"]["Properties"].get("Timeout", timeout)
        self.assertGreaterEqual(queue["VisibilityTimeout"], 6 * timeout)
        jobs = self.sam["Resources"]["DispatcherFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
        self.assertEqual(jobs["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertLessEqual(jobs["ScalingConfig"]["MaximumConcurrency"], 20)

    def test_a_broken_template_is_caught(self):
        """Each break of an invariant is reported (the checks can fail)."""

        def broken(change):
            cfn = copy.deepcopy(self.cfn)
            change(cfn)
            return violations(cfn)

        def task_role(cfn):
            cfn["Resources"]["PythonTask"]["Properties"]["TaskRoleArn"] = "arn:aws:iam::1:role/x"

        def wildcard(cfn):
            role = next(iter(of_type(cfn, "AWS::IAM::Role").values()))
            role["Properties"].setdefault("Policies", []).append({
                "PolicyName": "oops",
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]},
            })

        def open_route(cfn):
            api = next(iter(of_type(cfn, "AWS::ApiGatewayV2::Api").values()))
            api["Properties"]["Body"]["paths"]["/{proxy+}"]["x-amazon-apigateway-any-method"]["security"] = [{"NONE": []}]

        def nat(cfn):
            cfn["Resources"]["Nat"] = {"Type": "AWS::EC2::NatGateway", "Properties": {}}

        def public_bucket(cfn):
            cfn["Resources"]["DataBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False

        def plain_table(cfn):
            del cfn["Resources"]["Table"]["Properties"]["SSESpecification"]

        def runner_ingress(cfn):
            cfn["Resources"]["RunnerSecurityGroup"]["Properties"]["SecurityGroupIngress"] = [
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}]

        def managed_policy(cfn):
            cfn["Resources"]["DispatcherRole"]["Properties"]["ManagedPolicyArns"] = [
                "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]

        def every_queue(cfn):
            cfn["Resources"]["ResultsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
                {"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": "*"})

        def execution_managed_policy(cfn):
            cfn["Resources"]["RunnerExecutionRole"]["Properties"]["ManagedPolicyArns"] = [
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]

        def api_writes_results(cfn):
            cfn["Resources"]["ApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
                {"Effect": "Allow", "Action": ["s3:PutObject"],
                 "Resource": {"Fn::Sub": "arn:aws:s3:::coderun-${Stage}/results/*"}})

        def open_egress(cfn):
            cfn["Resources"]["RunnerSecurityGroup"]["Properties"]["SecurityGroupEgress"].append(
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"})

        def sys_admin(cfn):
            c = cfn["Resources"]["JavaTask"]["Properties"]["ContainerDefinitions"][0]
            c["LinuxParameters"]["Capabilities"]["Add"].append("SYS_ADMIN")

        def long_urls(cfn):
            for f in of_type(cfn, "AWS::Lambda::Function").values():
                f["Properties"]["Environment"]["Variables"]["URL_TTL_SECONDS"] = "7200"

        def unverified_judge0(cfn):
            del cfn["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]["JWT_ISSUER"]

        for change in (task_role, wildcard, open_route, nat, public_bucket, plain_table, runner_ingress,
                       managed_policy, every_queue, execution_managed_policy, api_writes_results,
                       open_egress, sys_admin, long_urls, unverified_judge0):
            with self.subTest(change.__name__):
                self.assertNotEqual(broken(change), [], change.__name__)


if __name__ == "__main__":
    unittest.main()
