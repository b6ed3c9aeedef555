#!/bin/bash
# A real single-node Slurm 22.05 (Debian's slurmctld + slurmd, auth/none, cred/none) in private
# mount, network, UTS and PID namespaces, with two fake GPUs (character devices in a temp dir) whose
# gres.conf `whisper-vram slurm gres-conf --simulate` writes. Shows:
#   1. jobs sized by `whisper-vram slurm request` land on a GPU with enough shards (their
#      CUDA_VISIBLE_DEVICES and SLURM_SHARDS_ON_NODE, recorded inside the job);
#   2. a job that does not fit beside the running ones waits with Reason=Resources and starts when
#      shards free;
#   3. `slurm request --check gres.conf` and `--check-live` refuse a job no single GPU can take (exit 1)
#      and pass one that fits;
#   4. inside a job, `whisper-vram run` asking more than the job's shards is refused (exit 1), and
#      one within them runs.
# Usage: real_slurm_test.sh WHISPER_VRAM_BINARY [CAPTURE_DIR]   (CAPTURE_DIR: keep scontrol output)
# Everything lives in a temp dir and the namespaces; the daemons die with the PID namespace.
# Exit 0 pass, 1 fail, 77 skipped (no namespaces; no slurmd unless WHISPER_VRAM_REQUIRE_TEST_TOOLS=1).
set -euo pipefail

if [ "${1:-}" != "--inner" ]; then
    WV=$(readlink -f "${1:?usage: real_slurm_test.sh WHISPER_VRAM_BINARY [CAPTURE_DIR]}")
    CAPTURE=${2:-}
    skip() {
        if [ "${WHISPER_VRAM_REQUIRE_TEST_TOOLS:-}" = 1 ] && [ "$2" = tool ]; then
            echo "FAIL: $1 (WHISPER_VRAM_REQUIRE_TEST_TOOLS=1)"; exit 1
        fi
        echo "SKIP: $1"; exit 77
    }
    for tool in slurmctld slurmd scontrol sbatch squeue scancel; do
        command -v "$tool" >/dev/null || skip "$tool not found (install slurmctld slurmd slurm-client: scripts/setup.sh --tests)" tool
    done
    command -v ip >/dev/null || skip "ip not found (install iproute2: scripts/setup.sh --tests)" tool
    NS=(--mount --net --uts --pid --fork --mount-proc)
    if ! unshare "${NS[@]}" true 2>/dev/null; then
        NS=(--user --map-root-user "${NS[@]}")
        unshare "${NS[@]}" true 2>/dev/null || skip "cannot create mount/network/UTS/PID namespaces here (unshare failed)" ns
    fi
    T=$(mktemp -d "${TMPDIR:-/tmp}/wv-slurm.XXXXXX")
    chmod 755 "$T"
    trap 'rm -rf "$T"' EXIT
    rc=0
    timeout -k 5 200 unshare "${NS[@]}" --kill-child bash "$0" --inner "$WV" "$T" "$CAPTURE" || rc=$?
    if [ $rc -ne 0 ]; then
        echo "---- slurmctld log (tail)"; tail -n 30 "$T/slurmctld.log" 2>/dev/null || true
        echo "---- slurmd log (tail)"; tail -n 30 "$T/slurmd.log" 2>/dev/null || true
        [ $rc -eq 124 ] && echo "FAIL: timed out after 200 s"
        exit 1
    fi
    exit 0
fi

# ---- inside the namespaces (PID 1 of the new PID namespace) ----------------------------------------
WV=$2 T=$3 CAPTURE=$4
NODE=wvnode
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }
# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local limit=$1; shift
    for _ in $(seq 1 $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

step "namespace: hostname $NODE, 192.0.2.1 on a veth (TEST-NET-1: nothing is ever sent there)"
hostname "$NODE"
ip link set lo up
ip link add wv0 type veth peer name wv1
ip addr add 192.0.2.1/24 dev wv0
ip link set wv0 up
ip link set wv1 up
printf '127.0.0.1 localhost\n192.0.2.1 %s\n' "$NODE" >"$T/hosts"
mount --bind "$T/hosts" /etc/hosts
mkdir -p "$T/dev" "$T/state" "$T/spool" "$T/etc" "$T/wv-state" "$T/out"

# Two fake GPUs of 24 GiB, 1 GiB shards, no headroom → 24 shards each. Jobs: big = large-v3 --batch 8
# (18 shards), small = large (10: not beside big on one GPU), huge = large-v3 --batch 16 (27: fits the
# node total of 48, no single GPU). In-job cap, 10 shards: large (9.825 GiB) runs, large --margin 0.3
# (10.64 GiB, far less than the GPU's 24 GiB) is refused by the cap.
# Equal GPUs on purpose: slurmctld 22.05.8 spreads a node's shards evenly over its GPUs whatever the
# per-device Count= in gres.conf (DebugFlags=Gres: topo_gres_cnt_avail 18/18 for a 12/24 gres.conf),
# so with unequal GPUs a job can land on a GPU with fewer shards than it asked for.
SPEC="24GiB,24GiB"
for i in 0 1; do
    mknod "$T/dev/nvidia$i" c 4 "$i" 2>/dev/null || ln -s "/dev/tty$i" "$T/dev/nvidia$i"
    [ -c "$T/dev/nvidia$i" ] || fail "no character device for fake GPU $i"
done
step "gres.conf from whisper-vram slurm gres-conf --simulate $SPEC"
"$WV" slurm gres-conf --simulate "$SPEC" --node "$NODE" --only gres.conf >"$T/gres.generated"
grep -q '^Name=shard Count=24 File=/dev/nvidia0$' "$T/gres.generated" || fail "gres.conf: $(cat "$T/gres.generated")"
grep -q '^Name=shard Count=24 File=/dev/nvidia1$' "$T/gres.generated" || fail "gres.conf: $(cat "$T/gres.generated")"
sed "s#File=/dev/nvidia#File=$T/dev/nvidia#" "$T/gres.generated" >"$T/etc/gres.conf"
NODELINE=$("$WV" slurm gres-conf --simulate "$SPEC" --node "$NODE" --only slurm.conf | grep '^NodeName=')
[ "$NODELINE" = "NodeName=$NODE Gres=gpu:2,shard:48" ] || fail "slurm.conf line: $NODELINE"
cat >"$T/etc/slurm.conf" <<CONF
ClusterName=wvtest
SlurmctldHost=$NODE(192.0.2.1)
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu,shard
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
$NODELINE NodeAddr=192.0.2.1 CPUs=8 RealMemory=1000 State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/etc/slurm.conf
# The names matter: under slurmctld-wlm/slurmd-wlm the node's Gres= is silently dropped.
step "starting slurmctld and slurmd"
(exec -a slurmctld "$(command -v slurmctld)" -D -c >"$T/slurmctld.out" 2>&1) &
(exec -a slurmd "$(command -v slurmd)" -D >"$T/slurmd.out" 2>&1) &
node_idle() { timeout 5 scontrol show node "$NODE" | grep -q 'State=IDLE'; }
wait_for 60 node_idle || fail "node $NODE not IDLE within 60 s: $(timeout 5 scontrol show node "$NODE" 2>&1 | head -5)"
timeout 5 scontrol show node "$NODE" >"$T/out/scontrol_show_node.txt"
timeout 5 scontrol show node -o >"$T/out/scontrol_show_node_o.txt"
grep -q 'Gres=gpu:2,shard:48' "$T/out/scontrol_show_node.txt" || fail "node Gres: $(grep Gres "$T/out/scontrol_show_node.txt")"

# ---- the job sizes -------------------------------------------------------------------------------
# shards(model) = ceil(recommended / 1 GiB) from `slurm request --json`.
shards_of() { "$WV" slurm request "$@" --json | sed -n 's/^  "shards": \([0-9]*\),*$/\1/p'; }
K_BIG=$(shards_of large-v3 --batch 8)
K_SMALL=$(shards_of large)
K_HUGE=$(shards_of large-v3 --batch 16)
echo "shards: big $K_BIG, small $K_SMALL, huge $K_HUGE"
[ "$K_BIG" -gt 12 ] && [ "$K_BIG" -le 24 ] || fail "big job: $K_BIG shards, want 13..24 (one per GPU)"
[ "$K_SMALL" -le 12 ] && [ $((K_SMALL + K_BIG)) -gt 24 ] || fail "small job: $K_SMALL shards"
[ "$K_HUGE" -gt 24 ] && [ "$K_HUGE" -le 48 ] || fail "huge job: $K_HUGE shards, want 25..48 (fits the node total only)"

step "--check and --check-live"
"$WV" slurm request large-v3 --batch 8 --check "$T/gres.generated" >/dev/null || fail "--check refused the big job"
rc=0; "$WV" slurm request large-v3 --batch 16 --check "$T/gres.generated" >"$T/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "--check on the huge job: exit $rc, want 1: $(cat "$T/check.out")"
grep -q "most any single GPU has is 24" "$T/check.out" || fail "--check reason: $(cat "$T/check.out")"
"$WV" slurm request large --check-live >/dev/null || fail "--check-live refused the small job"
rc=0; "$WV" slurm request large-v3 --batch 16 --check-live >"$T/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "--check-live on the huge job: exit $rc, want 1: $(cat "$T/check.out")"
grep -q "most any single GPU has is 24" "$T/check.out" || fail "--check-live reason: $(cat "$T/check.out")"

# ---- jobs ----------------------------------------------------------------------------------------
# Each job records its placement, then holds its shards until $T/release-<name> exists (60 s max).
submit() {  # name, gres option, [extra script]
    local name=$1 gres=$2 extra=${3:-}
    cat >"$T/$name.sh" <<JOB
#!/bin/bash
echo "CUDA_VISIBLE_DEVICES=\$CUDA_VISIBLE_DEVICES SLURM_SHARDS_ON_NODE=\$SLURM_SHARDS_ON_NODE SLURM_JOB_ID=\$SLURM_JOB_ID"
$extra
for i in \$(seq 1 300); do [ -e "$T/release-$name" ] && exit 0; sleep 0.2; done
JOB
    timeout 10 sbatch --parsable "$gres" -J "$name" -o "$T/$name.out" "$T/$name.sh"
}
job_state() { timeout 5 squeue -h -j "$1" -o '%T %r' 2>/dev/null; }
running() { [ "$(job_state "$1" | cut -d' ' -f1)" = RUNNING ]; }
gone() { [ -z "$(job_state "$1")" ]; }
placed() { grep -q '^CUDA_VISIBLE_DEVICES=' "$T/$1.out" 2>/dev/null; }

step "big job (--gres=shard:$K_BIG) and small job (--gres=shard:$K_SMALL)"
BIG=$(submit big "$("$WV" slurm request large-v3 --batch 8 --option-only)")
wait_for 30 running "$BIG" || fail "big job not running: $(job_state "$BIG")"
wait_for 10 placed big || fail "big job wrote no placement"
SMALL=$(submit small "$("$WV" slurm request large --option-only)")
wait_for 30 running "$SMALL" || fail "small job not running: $(job_state "$SMALL")"
wait_for 10 placed small || fail "small job wrote no placement"
cat "$T/big.out" "$T/small.out"
gpu_of() { sed -n "s/^CUDA_VISIBLE_DEVICES=\([0-9]\) SLURM_SHARDS_ON_NODE=$2 .*/\1/p" "$T/$1.out"; }
GPU_BIG=$(gpu_of big "$K_BIG") GPU_SMALL=$(gpu_of small "$K_SMALL")
[ -n "$GPU_BIG" ] || fail "big job placement: $(cat "$T/big.out")"
[ -n "$GPU_SMALL" ] || fail "small job placement: $(cat "$T/small.out")"
[ "$GPU_BIG" != "$GPU_SMALL" ] || fail "big ($K_BIG) and small ($K_SMALL) share GPU $GPU_BIG of 24 shards"
timeout 5 scontrol -d show node "$NODE" >"$T/out/scontrol_show_node_d_busy.txt"

step "a second big job does not fit beside the first: pending with Reason=Resources"
BIG2=$(submit big2 "--gres=shard:$K_BIG")
pending_resources() { [ "$(job_state "$BIG2")" = "PENDING Resources" ]; }
wait_for 20 pending_resources || fail "second big job: '$(job_state "$BIG2")', want PENDING Resources"
sleep 2
pending_resources || fail "second big job started beside the first: $(job_state "$BIG2")"
touch "$T/release-big"
wait_for 30 gone "$BIG" || fail "first big job did not end"
wait_for 30 running "$BIG2" || fail "second big job did not start once shards freed: $(job_state "$BIG2")"
wait_for 10 placed big2 || fail "second big job wrote no placement"
[ "$(gpu_of big2 "$K_BIG")" = "$GPU_BIG" ] || fail "second big job not on the freed GPU $GPU_BIG: $(cat "$T/big2.out")"
touch "$T/release-big2" "$T/release-small"
wait_for 30 gone "$BIG2" && wait_for 30 gone "$SMALL" || fail "jobs did not end"

step "in-job cap: whisper-vram run inside a --gres=shard:$K_SMALL job"
RUNS="export WHISPER_VRAM_SIMULATE=$SPEC WHISPER_VRAM_STATE_DIR=$T/wv-state
\"$WV\" run --model large -- true; echo \"fits_rc=\$?\"
\"$WV\" run --model large --margin 0.3 -- true 2>\"$T/cap.err\"; echo \"over_rc=\$?\""
CAP=$(submit cap "--gres=shard:$K_SMALL" "$RUNS")
touch "$T/release-cap"
wait_for 60 gone "$CAP" || fail "cap job did not end: $(job_state "$CAP")"
cat "$T/cap.out" "$T/cap.err"
grep -q '^fits_rc=0$' "$T/cap.out" || fail "run within the job's shards: $(cat "$T/cap.out")"
grep -q '^over_rc=1$' "$T/cap.out" || fail "run above the job's shards: $(cat "$T/cap.out")"
grep -q "SLURM_SHARDS_ON_NODE=$K_SMALL" "$T/cap.err" || fail "cap message: $(cat "$T/cap.err")"

if [ -n "$CAPTURE" ]; then
    mkdir -p "$CAPTURE"
    cp "$T/out/"*.txt "$CAPTURE/"
    cp "$T/gres.generated" "$CAPTURE/gres.conf"
fi
echo "PASS: real Slurm: placement by shards, Reason=Resources, --check/--check-live, in-job cap"
