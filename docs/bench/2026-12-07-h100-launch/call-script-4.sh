#!/bin/bash
# wide-group graphs: one block an SM vs two, interleaved, 2 reps
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b71 /tmp/wg && tar -xzf .carry/c71.tgz -C /tmp/b71
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b71/new
G=$(python3 .carry/mkwide.py /tmp/wg)
D=$OUT/p; mkdir -p $D
for g in $G; do
  for r in 1 2; do
    for bps in 1 2; do
      GN_CUDA_BLOCKS_PER_SM=$bps timeout 60 /tmp/b71/new/genet-rt bench /tmp/wg/$g.json --backend cuda --steps 30 --warmup 5 > $D/$g-$bps-$r.txt 2>&1
      ms=$(grep -o '[0-9.]* ms/step' $D/$g-$bps-$r.txt | cut -d' ' -f1)
      info=$(grep -o '[0-9]* worker blocks[^;]*;' $D/$g-$bps-$r.txt | head -1 | cut -c1-60)
      tl=$(grep -o 'tiles of [0-9]* rows' $D/$g-$bps-$r.txt | head -1)
      echo "$g bps=$bps rep=$r ms=$ms | $info | $tl"
    done
  done
done > $D/all.txt
cat $D/all.txt
python3 - $D/all.txt <<'PY'
import sys, re, statistics as st
d = {}
for l in open(sys.argv[1]):
    m = re.match(r'(\S+) bps=(\d) rep=\d ms=([0-9.]+)', l)
    if m: d.setdefault((m[1], m[2]), []).append(float(m[3]))
print("| graph | 1 an SM ms | 2 an SM ms | 2/1 |")
print("| --- | ---: | ---: | ---: |")
for g in dict.fromkeys(k[0] for k in d):
    a, b = st.median(d.get((g, '1'), [0])), st.median(d.get((g, '2'), [0]))
    print(f"| {g} | {a:.4f} | {b:.4f} | {b / a if a else 0:.3f} |")
PY
tar -czf $OUT/p.tgz -C $OUT p
echo done72
