word = input()
print(open("words.txt").read().split("\n").index(word) + 1)
