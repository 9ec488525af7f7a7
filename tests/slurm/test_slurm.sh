#!/usr/bin/env bash
# A real one-node Slurm for the data-parallel CLI (issue 12; README "On a cluster"): Debian's munged, slurmctld and
# slurmd, configured for this host only in a temporary folder, started here and stopped on exit. Then
#   - `srun -n 2 safeeraser train-vanilla …` (two ranks, Slurm's variables) against one process with the same global
#     batch: the same final loss, the model written once;
#   - `srun -n 2 safeeraser run …`: one run in the store, its id printed once, its metrics those of one process;
#   - squeue sees the job step while it runs;
#   - `reproduce --slurm` with two variants (PO, PO+PD): a vanilla-evaluation job and a two-task array after it;
#     `reproduce --collect` while they run says so, and afterwards merges both into the main store in the sweep's
#     order, once.
# Exits 77 (CTest: skipped) with the reason when the packages are missing or this is not root.
#   tests/slurm/test_slurm.sh SAFEERASER_BINARY [SCREENSHOT_TOOL]
set -euo pipefail
SE="${1:?usage: test_slurm.sh SAFEERASER_BINARY [SCREENSHOT_TOOL]}"

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "the daemons of a one-node Slurm run as root here (slurmd starts jobs as their user)"
for b in munged slurmctld slurmd srun sbatch squeue sinfo; do
  command -v "$b" >/dev/null || skip "$b is missing (Debian: apt-get install slurm-wlm munge)"
done

T="$(mktemp -d /tmp/se-slurm.XXXXXX)"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
    echo "--- slurmctld.log"; tail -20 "$T/slurmctld.log" 2>/dev/null || true
    echo "--- slurmd.log"; tail -20 "$T/slurmd.log" 2>/dev/null || true
  fi
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT

host="$(hostname -s)"
cpus="$(nproc)"
port=$((17000 + RANDOM % 2000))
mkdir -p "$T/state" "$T/spool" "$T/munge"
chmod 700 "$T/munge"
head -c 1024 /dev/urandom >"$T/munge/munge.key"
chmod 400 "$T/munge/munge.key"
munged --force --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" --pid-file="$T/munge/munged.pid" \
  --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed"
pids+=("$(cat "$T/munge/munged.pid")")

cat >"$T/slurm.conf" <<EOF
ClusterName=setest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
export SLURM_CONF="$T/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$T/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %t | grep -q idle || { echo "FAIL: the node did not come up"; sinfo; exit 1; }
echo "slurm: node $host up ($cpus CPUs), ports $port/$((port + 1))"

W="$T/work"
mkdir -p "$W"
"$SE" make-benchmark --out "$W/bench" --records 24 --image-size 64 >/dev/null 2>&1
common=(train-vanilla --data "$W/bench" --steps 8 --batch 4 --threads 1 --seed 7)
"$SE" "${common[@]}" --grad-accum 2 --out "$W/one.safetensors" >"$W/one.out" 2>"$W/one.err"
srun -n 2 -c 1 --kill-on-bad-exit=1 "$SE" "${common[@]}" --out "$W/two.safetensors" >"$W/two.out" 2>"$W/two.err" ||
  { cat "$W/two.err"; echo "FAIL: srun -n 2 train-vanilla"; exit 1; }
grep -q "rank 0 of 2 (slurm, master $host:" "$W/two.err" || { cat "$W/two.err"; echo "FAIL: no rank 0 of 2"; exit 1; }
grep -q "rank 1 of 2 (slurm" "$W/two.err" || { cat "$W/two.err"; echo "FAIL: no rank 1 of 2"; exit 1; }
[ "$(grep -c "finished after 8 steps" "$W/two.out")" = 1 ] || { cat "$W/two.out"; echo "FAIL: not reported once"; exit 1; }
loss() { grep -o "final loss [0-9.]*" "$1"; }
[ "$(loss "$W/one.out")" = "$(loss "$W/two.out")" ] ||
  { echo "FAIL: one process $(loss "$W/one.out"), two ranks $(loss "$W/two.out")"; exit 1; }
[ -s "$W/two.safetensors" ] || { echo "FAIL: no model written"; exit 1; }
echo "ok: srun -n 2 train-vanilla = one process with --grad-accum 2 ($(loss "$W/two.out"))"

# An unlearning run through srun, seen by squeue while it runs; rank 0 records it and prints its id once; its
# evaluation is the same as one process's with the same global batch (same weights, so the same answers).
runargs=(run --data "$W/bench" --model "$W/one.safetensors" --method gd --steps 40 --batch 2 --threads 1 --subset 1
  --greedy)
"$SE" "${runargs[@]}" --store "$W/single.sqlite" --grad-accum 2 --quiet >"$W/single.out" 2>"$W/single.err" ||
  { cat "$W/single.err"; echo "FAIL: the one-process run"; exit 1; }
srun -n 2 -c 1 --job-name=se-dp "$SE" "${runargs[@]}" --store "$W/runs.sqlite" >"$W/run.out" 2>"$W/run.err" &
srun_pid=$!
seen=""
for _ in $(seq 100); do
  seen="$(squeue -h -o '%j %T' 2>/dev/null | grep se-dp || true)"
  [ -n "$seen" ] && break
  sleep 0.2
done
wait "$srun_pid" || { cat "$W/run.err"; echo "FAIL: srun -n 2 run"; exit 1; }
[ -n "$seen" ] || { echo "FAIL: squeue never showed the job"; exit 1; }
[ "$(wc -l <"$W/run.out")" = 1 ] || { cat "$W/run.out"; echo "FAIL: the run id is not printed once"; exit 1; }
"$SE" report --store "$W/runs.sqlite" --run "$(cat "$W/run.out")" --json | grep -q '"status": "finished"' ||
  { echo "FAIL: the run is not finished in the store"; exit 1; }
metrics() { "$SE" report --store "$1" --run "$2" --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]["metrics"], sort_keys=True))'; }
[ "$(metrics "$W/single.sqlite" "$(cat "$W/single.out")")" = "$(metrics "$W/runs.sqlite" "$(cat "$W/run.out")")" ] ||
  { echo "FAIL: srun -n 2 run and one process evaluate differently"; exit 1; }
echo "ok: srun -n 2 run (squeue: $seen), run $(cat "$W/run.out") finished, metrics = one process with --grad-accum 2"
# The sweep as Slurm jobs, then collected.
"$SE" reproduce --slurm --store "$W/sweep.sqlite" --data "$W/bench" --model "$W/one.safetensors" --methods po \
  --steps 10 --subset 1 --greedy --eval-every 5 >"$W/submit.out" 2>"$W/submit.err" ||
  { cat "$W/submit.err"; echo "FAIL: reproduce --slurm"; exit 1; }
grep -q "submitted: vanilla evaluation job [0-9]*, array job [0-9]* (2 runs" "$W/submit.out" ||
  { cat "$W/submit.out"; echo "FAIL: no submission line"; exit 1; }
array="$(sed -n 's/.*array job \([0-9]*\).*/\1/p' "$W/submit.out")"
set +e
"$SE" reproduce --collect --store "$W/sweep.sqlite" >"$W/early.out" 2>"$W/early.err"
early=$?
set -e
[ "$early" = 1 ] || { cat "$W/early.out" "$W/early.err"; echo "FAIL: an early --collect exits $early, not 1"; exit 1; }
grep -q "PENDING\|RUNNING" "$W/early.err" || { cat "$W/early.err"; echo "FAIL: no queued task shown"; exit 1; }
# A second sweep into the same store would replace the parts of this one: refused while it is not collected.
set +e
"$SE" reproduce --slurm --store "$W/sweep.sqlite" --data "$W/bench" --model "$W/one.safetensors" --methods po \
  --steps 10 >"$W/twice.out" 2>&1
twice=$?
set -e
[ "$twice" = 1 ] && grep -q "still has runs queued or running\|not merged into the store yet" "$W/twice.out" ||
  { cat "$W/twice.out"; echo "FAIL: a second sweep over an uncollected one was not refused ($twice)"; exit 1; }
for _ in $(seq 300); do
  [ -z "$(squeue -h -j "$array" 2>/dev/null)" ] && [ -z "$(squeue -h 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h 2>/dev/null)" ] || { squeue; echo "FAIL: the sweep did not end in 300 s"; exit 1; }
"$SE" reproduce --collect --store "$W/sweep.sqlite" >"$W/collect.out" 2>"$W/collect.err" || {
  cat "$W/collect.out" "$W/collect.err"
  for f in "$W"/sweep.sqlite.parts/*.log "$W"/sweep.sqlite.parts/*.out; do echo "--- $f"; tail -5 "$f"; done
  echo "FAIL: reproduce --collect"
  exit 1
}
grep -q "collect: 2 runs merged now" "$W/collect.out" || { cat "$W/collect.out"; echo "FAIL: not 2 merged"; exit 1; }
for row in "1 *Vanilla *finished" "2 *PO  *finished" "3 *PO+PD *finished"; do
  grep -q "^$row" "$W/collect.out" || { cat "$W/collect.out"; echo "FAIL: no row '$row'"; exit 1; }
done
"$SE" reproduce --collect --store "$W/sweep.sqlite" >"$W/again.out" 2>&1
grep -q "collect: 0 runs merged now" "$W/again.out" || { cat "$W/again.out"; echo "FAIL: merged twice"; exit 1; }
sed 's/^/  early: /' "$W/early.err"
sed 's/^/  /' "$W/collect.err" "$W/collect.out"
echo "ok: reproduce --slurm (array job $array) and --collect: vanilla, PO, PO+PD in the sweep's order"
# The workbench opens the merged store and shows the sweep, every task ended (the screenshot tool is the workbench
# with a camera: Run > Cluster Jobs on --store).
if [ -n "${2:-}" ] && [ -x "$2" ]; then
  QT_QPA_PLATFORM=offscreen "$2" --store "$W/sweep.sqlite" --screenshot-view cluster-jobs --screenshot "$W/jobs.png" \
    >"$W/shot.out" 2>&1 || { cat "$W/shot.out"; echo "FAIL: the workbench did not open the merged store"; exit 1; }
  [ -s "$W/jobs.png" ] || { cat "$W/shot.out"; echo "FAIL: no picture of the Cluster Jobs window"; exit 1; }
  echo "ok: the workbench opened the merged store and showed its sweep"
fi
echo "PASS"
