import json, sys, random
out = sys.argv[1]
names = []
for S in (64, 128, 256):
    for G in (16, 32, 64, 128):
        if S == 256 and G == 128: continue
        h = G // 2
        rng = random.Random(S * 1000 + G)
        groups = [{"id": i + 1, "inputs": [0]} for i in range(h)]
        perm = list(range(1, h + 1)); rng.shuffle(perm)
        for i in range(h):
            other = rng.choice([x for x in range(1, h + 1) if x != perm[i]])
            groups.append({"id": h + i + 1, "inputs": sorted([perm[i], other])})
        d = {"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": S,
             "groups": groups, "output": {"inputs": list(range(h + 1, G + 1))}}
        n = f"w{S}-g{G}"
        json.dump(d, open(f"{out}/{n}.json", "w"))
        names.append(n)
# deeper: L levels of P groups, each reading 2 of the level before
for S, L, P in ((64, 8, 16), (128, 8, 8), (128, 16, 8), (256, 8, 4)):
    rng = random.Random(S * 7 + L * 13 + P)
    groups = [{"id": i + 1, "inputs": [0]} for i in range(P)]
    for l in range(1, L):
        prev = list(range((l - 1) * P + 1, l * P + 1))
        perm = prev[:]; rng.shuffle(perm)
        for i in range(P):
            other = rng.choice([x for x in prev if x != perm[i]])
            groups.append({"id": l * P + i + 1, "inputs": sorted([perm[i], other])})
    d = {"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": S,
         "groups": groups, "output": {"inputs": list(range((L - 1) * P + 1, L * P + 1))}}
    n = f"w{S}-l{L}x{P}"
    json.dump(d, open(f"{out}/{n}.json", "w"))
    names.append(n)
print(" ".join(names))
