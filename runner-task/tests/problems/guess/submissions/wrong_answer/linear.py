g = 1
while True:
    print(g, flush=True)
    if input().strip() == "=":
        break
    g += 1
