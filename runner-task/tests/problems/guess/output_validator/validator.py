# Interactive validator: input answer feedback_dir; the submission's output
# on stdin, what we print goes to the submission. Up to 10 guesses of 1..1000.
import os
import sys

secret = int(open(sys.argv[1]).read())

def gone():
    # The submission closed its input: what is left unflushed goes nowhere
    # (as Python's documentation advises for a broken pipe).
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

def verdict(code, msg):
    with open(sys.argv[3] + "judgemessage.txt", "w") as f:
        f.write(msg)
    sys.exit(code)

for guess_no in range(1, 11):
    line = sys.stdin.readline()
    if not line:
        verdict(43, "the submission stopped guessing")
    try:
        g = int(line)
    except ValueError:
        verdict(43, "not a number: %r" % line[:20])
    if g == secret:
        try:
            print("=", flush=True)
        except BrokenPipeError:
            gone()
        verdict(42, "found in %d guesses" % guess_no)
    try:
        print("<" if secret < g else ">", flush=True)
    except BrokenPipeError:
        gone()
        verdict(43, "the submission stopped reading")
verdict(43, "too many guesses")
