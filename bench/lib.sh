# Shared helpers for bench/memory and bench/latency (sourced, not run).
# Expects: set -euo pipefail, ROOT (the checkout) and WORK (a temp dir) set by the caller.

SLUICE_JAR="$ROOT/target/sluice.jar"
CLIENT_JAR="$ROOT/bench/client/target/bench-client.jar"
# The ./sluice launcher's JVM flags (it prints them), plus SLUICE_JAVA_OPTS from the environment
# (e.g. SLUICE_JAVA_OPTS="-Xmx256m").
# shellcheck disable=SC2206
SLUICE_JVM_FLAGS=($(SLUICE_PRINT_JVM_FLAGS=1 "$ROOT/sluice") ${SLUICE_JAVA_OPTS:-})
# ... and the JVM it runs ($JAVA_HOME/bin/java, else java on PATH).
SLUICE_JAVA="$(SLUICE_PRINT_JAVA=1 "$ROOT/sluice")"

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mvn offline first (dependencies are in ~/.m2), online when that fails.
mvn_build() {
  mvn -q -o -B -Dstyle.color=never "$@" || mvn -q -B -Dstyle.color=never "$@"
}

# Builds target/sluice.jar when it is missing or older than the sources.
build_sluice() {
  if [[ ! -f $SLUICE_JAR || -n $(find "$ROOT/pom.xml" "$ROOT/src/main" -newer "$SLUICE_JAR" -print -quit 2>/dev/null) ]]; then
    echo "building target/sluice.jar (mvn -q -o -B -DskipTests package)"
    (cd "$ROOT" && mvn_build -DskipTests package) || { echo "build of sluice.jar failed" >&2; return 1; }
  fi
}

# Builds bench/client/target/bench-client.jar when it is missing or older than its sources.
build_client() {
  if [[ ! -f $CLIENT_JAR || -n $(find "$ROOT/bench/client/pom.xml" "$ROOT/bench/client/src" -newer "$CLIENT_JAR" -print -quit 2>/dev/null) ]]; then
    echo "building bench/client/target/bench-client.jar"
    (cd "$ROOT/bench/client" && mvn_build package) || { echo "build of bench-client.jar failed" >&2; return 1; }
  fi
}

need_postfix_tools() {
  SMTP_SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
  if [[ ! -x $SMTP_SINK ]]; then
    if [[ $(id -u) -eq 0 ]]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y postfix >/dev/null || { apt-get update >/dev/null && apt-get install -y postfix >/dev/null; }
      SMTP_SINK=/usr/sbin/smtp-sink
    else
      echo "smtp-sink missing: install postfix (as root: apt-get install -y postfix)" >&2
      return 1
    fi
  fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# free_port START: the first port from START up (at most 200 tried) that nothing on this machine
# listens on (other benchmarks may share the machine).
free_port() {
  local p
  for (( p = $1; p < $1 + 200; p++ )); do
    if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && ! port_open 127.0.0.1 "$p"; then
      echo "$p"; return 0
    fi
  done
  echo "no free port in $1..$(( $1 + 199 ))" >&2
  return 1
}

# await_banner HOST PORT SECONDS: until HOST:PORT answers with a 220 greeting.
await_banner() {
  local host=$1 port=$2 limit=$3 start line
  start=$(date +%s)
  while (( $(date +%s) - start < limit )); do
    if { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
      line=""
      IFS= read -r -t 2 line <&3 || true
      printf 'QUIT\r\n' >&3 2>/dev/null || true
      exec 3<&- 3>&- || true
      [[ $line == 220* ]] && return 0
    fi
    sleep 0.2
  done
  return 1
}

# start_sink PORT OUTFILE: Postfix smtp-sink on 127.0.0.1:PORT with running counters (-c).
start_sink() {
  local port=$1 out=$2
  "$SMTP_SINK" -c -u root -m 2000 -h "sink-$port" "127.0.0.1:$port" 1024 >"$out" 2>&1 &
  PIDS+=($!)
  await_banner 127.0.0.1 "$port" 10 || { echo "smtp-sink on :$port did not start:" >&2; cat "$out" >&2; return 1; }
}
# Messages a sink has received so far.
sink_count() {
  tr '\r' '\n' <"$1" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 | grep . || echo 0
}

# start_sluice CONFIG LOG PORT: runs the jar with the launcher's flags; sets SLUICE_PID; waits
# until the listener on 127.0.0.1:PORT greets (listeners open after the first health probes).
start_sluice() {
  local config=$1 log=$2 port=$3 start
  (cd "$WORK" && exec "$SLUICE_JAVA" "${SLUICE_JVM_FLAGS[@]}" -jar "$SLUICE_JAR" run -c "$config") >"$log" 2>&1 &
  SLUICE_PID=$!
  PIDS+=("$SLUICE_PID")
  start=$(date +%s)
  while (( $(date +%s) - start < 60 )); do
    if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
      echo "sluice exited before its listener came up; last log lines:" >&2
      tail -20 "$log" >&2
      return 1
    fi
    await_banner 127.0.0.1 "$port" 1 && return 0
  done
  echo "sluice listener 127.0.0.1:$port did not greet within 60 s; last log lines:" >&2
  tail -20 "$log" >&2
  return 1
}

# stop_pid PID: TERM, wait up to 10 s, then KILL.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# /proc figures in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
threads_of() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }
fds_of() { ls "/proc/$1/fd" | wc -l; }
# Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
reset_hwm() { echo 5 >"/proc/$1/clear_refs"; }

# Java heap used in kB (G1: "garbage-first heap   total 262144K, used 12345K").
heap_used_kb() {
  jcmd "$1" GC.heap_info 2>/dev/null | awk '/heap/ && /used/ { for (i = 1; i <= NF; i++) if ($i == "used") { v = $(i + 1); gsub(/[^0-9]/, "", v); print v; exit } }'
}
heap_committed_kb() {
  jcmd "$1" GC.heap_info 2>/dev/null | awk '/heap/ && /total/ { for (i = 1; i <= NF; i++) if ($i == "total") { v = $(i + 1); gsub(/[^0-9]/, "", v); print v; exit } }'
}
full_gc() { jcmd "$1" GC.run >/dev/null 2>&1 || true; sleep 1; }

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

machine_info() {
  echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc:    $(nproc); RAM $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)"
  echo "kernel:   $(uname -sr)"
  echo "load:     $(cut -d" " -f1-3 /proc/loadavg) (1/5/15 min; other work on this machine skews results)"
  echo "java:     $(java -version 2>&1 | head -1)"
  echo "jvm:      java ${SLUICE_JVM_FLAGS[*]} -jar target/sluice.jar run -c FILE"
  echo "postfix:  $(postconf -h mail_version 2>/dev/null || echo unknown) (smtp-sink)"
}

# write_section FILE NAME CONTENTFILE: replaces the text between <!-- NAME:begin --> and
# <!-- NAME:end --> in FILE (markers kept), or appends the marked section.
write_section() {
  local file=$1 name=$2 content=$3
  local begin="<!-- $name:begin -->" end="<!-- $name:end -->"
  if grep -qF "$begin" "$file" && grep -qF "$end" "$file"; then
    awk -v b="$begin" -v e="$end" -v f="$content" '
      $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$file" >"$file.tmp" && mv "$file.tmp" "$file"
  else
    { echo; echo "$begin"; cat "$content"; echo "$end"; } >>"$file"
  fi
}
