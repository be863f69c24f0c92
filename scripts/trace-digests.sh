#!/usr/bin/env bash
# Prints one line per (scenario, seed): a hash of the run's JSONL trace, for every shipped
# scenario and seeds 0..19. Run it with the binary before and after a change and diff the two
# outputs: a refactor that changed no behaviour leaves every line the same.
#
#   scripts/trace-digests.sh target/release/idemsim > after.txt
#   scripts/trace-digests.sh /path/to/old/idemsim > before.txt && diff before.txt after.txt
#
# Extra arguments go to every run (e.g. --dedup off).
set -u  # a failing run (exit 1) is still hashed
bin=${1:?usage: scripts/trace-digests.sh IDEMSIM_BINARY [RUN ARGS...]}
shift
cd "$(dirname "$0")/.."
for file in sim-scenarios/*.toml; do
  for seed in $(seq 0 19); do
    digest=$("$bin" run "$file" --seed "$seed" --trace jsonl "$@" 2>/dev/null | sha256sum | cut -c1-16)
    echo "$(basename "$file" .toml) $seed $digest"
  done
done
