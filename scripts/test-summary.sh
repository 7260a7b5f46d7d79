#!/usr/bin/env bash
# Runs a test command, keeps its output, and ends with one line totalling every "test result:" line
# cargo printed (or cargo nextest's 'Summary [..] N tests run: N passed, N failed'), node's "# pass"/"# fail", the browser check's "browser-check: N passed, N failed",
# the conformance run's "conformance: N passed, N failed"
# and pytest's closing line ("N passed, N failed in 0.5s",
# with or without its "===" frame; errors count as failed): "tests: N passed, N failed".
set -uo pipefail
log=$(mktemp)
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     /^(browser-check|conformance): [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4 }
     /Summary \[ *[0-9.]+s\] [0-9]+ tests? run: / {
       for (i = 1; i <= NF; i++) {
         w = $i; sub(/,$/, "", w)
         if (w == "passed") p += $(i-1)
         if (w == "failed") f += $(i-1)
       }
     }
     /^# pass [0-9]+$/ { p += $3 }
     /^# fail [0-9]+$/ { f += $3 }
     /^(=+ )?[0-9]+ [a-z]+(, [0-9]+ [a-z]+)* in [0-9.]+s/ {
       for (i = 1; i <= NF; i++) {
         w = $i; sub(/,$/, "", w)
         if (w == "passed") p += $(i-1)
         if (w == "failed" || w == "error" || w == "errors") f += $(i-1)
       }
     }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
