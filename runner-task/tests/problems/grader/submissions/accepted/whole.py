# No grader in Python: a whole program.
input()
print(sum(map(int, input().split())))
