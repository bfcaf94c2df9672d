# Input validator: the word is one line of words.txt, found in the working
# directory with the test's other files.
import sys

words = open("words.txt").read().split("\n")
line = sys.stdin.read()
sys.exit(42 if line.endswith("\n") and line[:-1] in words else 43)
