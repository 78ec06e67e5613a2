#!/bin/bash
# Server benchmark: kvd --sync always vs etcd, put/get/mixed at 1,16,64 connections.
set -u
# B: a folder holding release `kvd` and `kvd-loadgen` (built with --features compare-etcd);
# needs the Debian package etcd-server.
B=${B:-/work/bench}; D=${D:-/work/bench-data}; OUT=${OUT:-$B/out}; mkdir -p $OUT
WL=${WL:-get,put,mixed}; CONNS=${CONNS:-1,16,64}
ARGS="--workloads $WL --connections $CONNS --duration 5 --warmup 1 --keys 100000 --value-size 100"
rm -rf $D; mkdir -p $D
$B/kvd --data-dir $D/kvd --listen 127.0.0.1:50051 --sync always > $OUT/kvd.log 2>&1 &
KP=$!; sleep 2
$B/kvd-loadgen --target kvd --addr 127.0.0.1:50051 $ARGS --json > $OUT/kvd.json 2> $OUT/kvd.err
kill -TERM $KP; wait $KP
etcd --name bench --data-dir $D/etcd \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster bench=http://127.0.0.1:2380 --logger zap --log-level warn > $OUT/etcd.log 2>&1 &
EP=$!; sleep 3
$B/kvd-loadgen --target etcd --addr 127.0.0.1:2379 $ARGS --json > $OUT/etcd.json 2> $OUT/etcd.err
kill -TERM $EP; wait $EP
echo done
