#!/bin/bash
# 41st round call 3: wide-256-2x16 (and 64, 128) at 1 and 2 blocks an SM forced, against auto
set -u
exec > >(tee $OUT/log.txt) 2>&1
[ -x /tmp/b76/head/genet-rt ] || { mkdir -p /tmp/b76 && tar -xzf .carry/c76.tgz -C /tmp/b76; }
export LD_LIBRARY_PATH=/tmp/b76/head
mkdir -p /tmp/w1 /tmp/w2
printf '#!/bin/sh\nGN_CUDA_BLOCKS_PER_SM=1 exec /tmp/b76/head/genet-rt "$@"\n' > /tmp/w1/genet-rt
printf '#!/bin/sh\nGN_CUDA_BLOCKS_PER_SM=2 exec /tmp/b76/head/genet-rt "$@"\n' > /tmp/w2/genet-rt
chmod +x /tmp/w1/genet-rt /tmp/w2/genet-rt
REPS=3 STEPS=100 WARMUP=10 WORKLOADS="wide-256-2x16 wide-128-2x16 wide-256-2x32" timeout 200 tools/bench/compare.sh /tmp/b76/head/genet-rt /tmp/w1/genet-rt /tmp/w2/genet-rt > $OUT/compare-w256.txt 2>&1; echo "rc $?"
sed -n '/us per worker/,$p' $OUT/compare-w256.txt
echo done78
