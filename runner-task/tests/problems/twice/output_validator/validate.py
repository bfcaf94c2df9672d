# Multi-pass output validator: pass 1 checks twice the test's number and
# asks for a second pass on 10; pass 2 checks 20.
import os
import sys

input_file, _answer, feedback = sys.argv[1], sys.argv[2], sys.argv[3]
state = os.path.join(feedback, "state")
second = os.path.exists(state)
n = int(open(state).read()) if second else int(open(input_file).read())
got = sys.stdin.read().split()
if got != [str(2 * n)]:
    with open(os.path.join(feedback, "judgemessage.txt"), "a") as m:
        m.write(f"pass {2 if second else 1}: for {n} expected {2 * n}, got {got}\n")
    sys.exit(43)
if not second:
    with open(state, "w") as f:
        f.write("10")
    with open(os.path.join(feedback, "nextpass.in"), "w") as f:
        f.write("10\n")
sys.exit(42)
