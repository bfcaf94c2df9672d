# Interactive multi-pass validator: says the input's number, wants it
# doubled back; passes 1 and 2 ask for another with the number plus one.
import os
import sys

input_file, _answer, feedback = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(open(input_file).read())
count = os.path.join(feedback, "passes")
passes = int(open(count).read()) + 1 if os.path.exists(count) else 1
print(n, flush=True)
got = sys.stdin.readline().split()
if got != [str(2 * n)]:
    with open(os.path.join(feedback, "judgemessage.txt"), "a") as m:
        m.write(f"pass {passes}: for {n} expected {2 * n}, got {got}\n")
    sys.exit(43)
with open(count, "w") as f:
    f.write(str(passes))
if passes < 3:
    with open(os.path.join(feedback, "nextpass.in"), "w") as f:
        f.write(f"{n + 1}\n")
sys.exit(42)
