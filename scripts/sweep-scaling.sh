#!/usr/bin/env bash
# Sweep scaling and memory: the default scenario over SEEDS seeds (default 100000) on one job
# and on two, each line with the sweep's own runs/s and the process's peak memory (max RSS,
# from GNU time when installed, else from /proc). Memory is flat when the peak of a
# 100,000-seed sweep is that of a 10,000-seed one.
#
#   cargo build --release && scripts/sweep-scaling.sh target/release/idemsim [SEEDS]
set -euo pipefail
bin=${1:?usage: scripts/sweep-scaling.sh IDEMSIM_BINARY [SEEDS]}
seeds=${2:-100000}
peak_kb() {  # run "$@", print its peak RSS in kB on stderr's last line
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "peak_kb %M" "$@"
  else
    "$@" & pid=$!
    peak=0
    while kill -0 "$pid" 2>/dev/null; do
      rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ "${rss:-0}" -gt "$peak" ] && peak=$rss
      sleep 0.2
    done
    wait "$pid"
    echo "peak_kb $peak" >&2
  fi
}
for n in $((seeds / 10)) "$seeds"; do
  for jobs in 1 2; do
    out=$(peak_kb "$bin" sweep --seeds "0..$n" --jobs "$jobs" 2>&1)
    speed=$(echo "$out" | awk '/^speed/ {print $2}')
    peak=$(echo "$out" | awk '/^peak_kb/ {print $2}')
    echo "seeds 0..$n  jobs $jobs  runs/s $speed  peak ${peak} kB"
  done
done
