#!/bin/bash
# Side-by-side engine benchmark (issue 7). Output: JSON lines per engine and size.
set -u
# B: a folder holding the kvd-bench binary built with --features compare-rocksdb,compare-fjall.
B=${B:-/work/bench}; OUT=${OUT:-$B/eng}; mkdir -p $OUT; D=${D:-/work/bench-data/eng}
W1=fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readreverse,readwhilewriting,reopen
for e in kvd rocksdb fjall; do
  rm -rf $D; $B/kvd-bench --engine $e --num 1000000 --benchmarks $W1 --db $D --json > $OUT/1m-$e.json 2>$OUT/1m-$e.err
  rm -rf $D; $B/kvd-bench --engine $e --num 1000000 --benchmarks fillsync --threads 1 --db $D --json > $OUT/sync1-$e.json 2>&1
  rm -rf $D; $B/kvd-bench --engine $e --num 1000000 --benchmarks fillsync --threads 16 --db $D --json > $OUT/sync16-$e.json 2>&1
done
W10=fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readwhilewriting,reopen
for e in kvd rocksdb fjall; do
  rm -rf $D; $B/kvd-bench --engine $e --num 10000000 --reads 1000000 --benchmarks $W10 --db $D --json > $OUT/10m-$e.json 2>$OUT/10m-$e.err
done
rm -rf $D
echo finished > $OUT/DONE
