#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (controller and compute node on localhost), for
# testing `diffedit launch --slurm` for real. Debian's slurmctld, slurmd, slurm-client and munge
# (installed by scripts/setup.sh). Needs root (it writes /etc/slurm/slurm.conf and starts daemons).
#
#   scripts/slurm-local.sh start    # write the config if absent, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh stop     # stop the daemons
#   scripts/slurm-local.sh status   # sinfo
#
# A slurm.conf that this script did not write is left alone (and used as it is).
set -euo pipefail
CONF=/etc/slurm/slurm.conf
MARK="# written by diffedit-bench scripts/slurm-local.sh"

write_conf() {
  local node cpus mem
  node=$(hostname -s)
  cpus=$(nproc)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
  cat > "$CONF" <<CONF
$MARK
ClusterName=diffedit-local
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

start() {
  if [ "$(id -u)" -ne 0 ]; then echo "slurm-local: needs root" >&2; exit 2; fi
  if [ ! -f "$CONF" ] || grep -q "$MARK" "$CONF"; then write_conf; fi
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
  fi
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "slurm-local: the node did not come up; see /var/log/slurm/" >&2
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  exit 1
}

stop() {
  pkill -x slurmd || true
  pkill -x slurmctld || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
