"""The official Judge0 Python SDK (PyPI `judge0`), unchanged, against
coderun's Judge0 API: a run, a wrong answer by `expected_output`, a
compile error, a runtime error and a batch.

Usage: judge0_sdk.py BASE_URL TOKEN
"""

import sys

import judge0

url, token = sys.argv[1], sys.argv[2]
client = judge0.Client(f"{url}/judge0", headers={"X-Auth-Token": token})
assert client.version == "1.13.1", client.version
assert client.is_language_supported(judge0.CPP), "C++ (id 52) is listed"

# Outputs that are not valid base64: the SDK decodes any that is.
hello = "print('Hello, ' + input())"
ok = judge0.run(client=client, source_code=hello, language=judge0.PYTHON,
                stdin="ann!", expected_output="Hello, ann!")
assert ok.status == judge0.Status.ACCEPTED, ok
assert ok.stdout == "Hello, ann!\n", ok.stdout
assert ok.time is not None and ok.memory > 0, ok

wrong = judge0.run(client=client, source_code=hello, language=judge0.PYTHON,
                   stdin="ann!", expected_output="Hello, bob!")
assert wrong.status == judge0.Status.WRONG_ANSWER, wrong

broken = judge0.run(client=client, source_code="int main( { return 0; }", language=judge0.C)
assert broken.status == judge0.Status.COMPILATION_ERROR, broken
assert "error" in broken.compile_output, broken.compile_output

crash = judge0.run(client=client, source_code="import sys\nsys.exit(3)", language=judge0.PYTHON)
assert crash.status == judge0.Status.RUNTIME_ERROR_NZEC, crash
assert crash.exit_code == 3, crash

batch = [judge0.Submission(source_code=f"print({i} * 7)", language=judge0.PYTHON) for i in range(3)]
done = judge0.run(client=client, submissions=batch)
assert [s.stdout for s in done] == ["0\n", "7\n", "14\n"], done
assert all(s.status == judge0.Status.ACCEPTED for s in done), done

print("judge0 SDK: a run, a wrong answer, a compile error, a runtime error and a batch")
