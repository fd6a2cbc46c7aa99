#!/usr/bin/env bash
# Starts a single-node SLURM cluster on this machine for advcomp's SLURM
# executor test (crates/advcomp-cli/tests/slurm.rs) and waits until its node
# is idle. Needs root and Debian's slurm-wlm and munge packages; with
# --install it installs them first (CI does).
#
# The cluster: one node named after this host with all its CPUs, one
# partition `debug`, no accounting database, no cgroups (proctrack/linuxproc,
# task/none), so it also starts inside a container. State, spool and logs go
# to $ADVCOMP_SLURM_DIR (default /tmp/advcomp-slurm). /etc/slurm/slurm.conf is
# written only when it is absent or was written by this script.
#
#   tests/slurm/start.sh [--install]
#   tests/slurm/stop.sh
set -euo pipefail

dir=${ADVCOMP_SLURM_DIR:-/tmp/advcomp-slurm}
conf=/etc/slurm/slurm.conf
marker="# written by advcomp tests/slurm/start.sh"

if [[ ${1:-} == --install ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

for tool in munged slurmctld slurmd sinfo sbatch; do
    command -v "$tool" >/dev/null || { echo "start.sh: $tool not found (run with --install)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "start.sh: needs root (slurmd runs jobs as their user)" >&2; exit 1; }

if [[ -e $conf ]] && ! grep -qxF "$marker" "$conf"; then
    echo "start.sh: $conf exists and was not written by this script; not touching it" >&2
    exit 1
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
mkdir -p "$dir/state" "$dir/spool" /etc/slurm
cat > "$conf" <<CONF
$marker
ClusterName=advcomp
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# A job whose dependency can never be met (a parent failed) is cancelled
# rather than left pending forever.
DependencyParameters=kill_invalid_depend
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# Daemons already running are kept (pidof skips zombies, pgrep does not).
# munge: the package made a key; the daemon runs as the munge user.
if ! pidof munged >/dev/null; then
    [[ -s /etc/munge/munge.key ]] || mungekey --create --force 2>/dev/null || \
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
fi

pidof slurmctld >/dev/null || slurmctld
pidof slurmd >/dev/null || slurmd

for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    case $state in
        idle|mix|alloc) echo "slurm: node $host ($cpus CPUs) is $state"; exit 0 ;;
        down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
echo "start.sh: the node did not become idle; logs:" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
