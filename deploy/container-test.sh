#!/usr/bin/env bash
# Builds the sigprop image with podman on a Debian 12 machine that reaches only Debian's package
# mirror (no image registry), runs it, and checks it end to end:
#   1. base image: debootstrap --variant=minbase bookworm, then `podman import` (reused when an
#      image of that name exists; SIGPROP_REBUILD_BASE=1 makes it again);
#   2. `podman build --isolation=chroot` of ./Dockerfile; the image runs as a non-root user, keeps
#      its db in the /var/lib/sigprop volume, declares a HEALTHCHECK;
#   3. the server container as PID 1 (no --init) with the db on a named volume; healthy;
#   4. the demo sweep submitted from the host CLI equals, byte for byte, the embedded run;
#   5. SIGTERM (podman stop) ends the server cleanly, exit status 0;
#   6. a new container on the same volume still has the sweep and its results.
# Exit status: 0 passed, 1 failed, 77 skipped because podman cannot run here (reason printed).
#
# Needs root (or sudo) to install podman & co. and for debootstrap. Environment:
#   SIGPROP_CLI           host sigprop binary (default: build/release/client/sigprop, built when
#                         missing with the release preset)
#   SIGPROP_MIRROR        Debian mirror (default http://deb.debian.org/debian)
#   SIGPROP_REBUILD_BASE  1: debootstrap the base image even if it exists
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
log() { printf '[container-test %4ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

mirror=${SIGPROP_MIRROR:-http://deb.debian.org/debian}
base_image=localhost/sigprop-base:bookworm
image=localhost/sigprop:container-test
name=sigprop-container-test-$$
volume=sigprop-container-test-$$
work=$(mktemp -d /tmp/sigprop-container-test.XXXXXX)

# Facts of these machines: crun fails here, runc works; the default ulimits are not accepted, and
# runc may set no limit above what this shell holds (nproc even below it), so ask for modest ones.
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then nofile=65536; fi
podman_run_flags=(--runtime=runc --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)

cleanup() {
  $sudo podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
  $sudo podman volume rm -f "$volume" >/dev/null 2>&1 || true
  $sudo rm -rf "$work"
}
trap cleanup EXIT

# --- tools ---------------------------------------------------------------------------------------
tools=(podman debootstrap runc uidmap slirp4netns fuse-overlayfs)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  # CI's machines reach the Debian mirror: there a failed install is a failure, not a skip.
  cannot_install() {
    if [ "${CI:-}" = "true" ]; then log "FAIL: $*"; exit 1; fi
    skip "$*"
  }
  $sudo apt-get update -qq || cannot_install "apt-get update failed; cannot install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || cannot_install "cannot install ${missing[*]}"
fi
# Podman needs namespaces (mount, pid, network, user for rootless); a container that cannot start
# the simplest process means this machine cannot run containers at all.
if ! probe=$($sudo podman info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}' 2>&1); then
  skip "podman cannot run here: $(printf '%s' "$probe" | tail -n 1)"
fi
log "podman $($sudo podman version --format '{{.Client.Version}}'), runtime/storage: $probe"

# --- base image ----------------------------------------------------------------------------------
if [ "${SIGPROP_REBUILD_BASE:-0}" != 1 ] && $sudo podman image exists "$base_image"; then
  log "base image $base_image exists (SIGPROP_REBUILD_BASE=1 rebuilds it)"
else
  log "debootstrap --variant=minbase bookworm from $mirror"
  rootfs="$work/rootfs"
  $sudo debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log"; fail "debootstrap"; }
  # Updates and security fixes come from the same place as on the host.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
    "$mirror" "$mirror" "$mirror" | $sudo tee "$rootfs/etc/apt/sources.list" >/dev/null
  $sudo rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  $sudo tar -C "$rootfs" -c . | $sudo podman import --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  log "imported $base_image ($($sudo podman image inspect --format '{{.Size}}' "$base_image") bytes)"
fi

# --- image ---------------------------------------------------------------------------------------
log "podman build --isolation=chroot (build stage compiles with the release preset)"
$sudo podman build --isolation=chroot --format docker --build-arg "BASE=$base_image" -t "$image" . \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "podman build"; }
log "built $image ($($sudo podman image inspect --format '{{.Size}}' "$image") bytes)"

inspect() { $sudo podman image inspect --format "$1" "$image"; }
[ "$(inspect '{{.Config.User}}')" = sigprop ] || fail "image user is '$(inspect '{{.Config.User}}')', not sigprop"
inspect '{{json .Config.Volumes}}' | grep -q '"/var/lib/sigprop"' || fail "no /var/lib/sigprop volume"
inspect '{{json .Config.ExposedPorts}}' | grep -q '50051/tcp' || fail "port 50051 not exposed"
inspect '{{json .HealthCheck}} {{json .Config.Healthcheck}}' | grep -q '"sigprop","health"' \
  || fail "no HEALTHCHECK running sigprop health"
uid=$($sudo podman run --rm "${podman_run_flags[@]}" --entrypoint id "$image" -u 2>"$work/id.err") \
  || { cat "$work/id.err"; fail "podman run of the image"; }
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "container runs as root"
# The runtime stage holds the two programs; no compiler, no build tree, no headers.
$sudo podman run --rm "${podman_run_flags[@]}" --entrypoint /bin/sh "$image" -c \
  'command -v sigprop-server && command -v sigprop && ! command -v g++ && ! command -v cmake && [ ! -e /src ] && [ ! -d /usr/include/grpcpp ]' \
  >/dev/null 2>&1 || fail "runtime stage holds more than the binaries and their libraries"
log "image: user sigprop (uid $uid), volume /var/lib/sigprop, port 50051, HEALTHCHECK; no toolchain"

# --- host CLI ------------------------------------------------------------------------------------
cli=${SIGPROP_CLI:-build/release/client/sigprop}
if [ -n "${SIGPROP_CLI:-}" ] && [ ! -x "$cli" ]; then fail "SIGPROP_CLI=$cli is not an executable"; fi
if [ ! -x "$cli" ]; then
  log "building the host CLI with the release preset"
  cmake --preset release >/dev/null
  cmake --build --preset release --target sigprop
fi
cli=$(realpath "$cli")

# --- run -----------------------------------------------------------------------------------------
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target="127.0.0.1:$port"
start_server() {
  # Without systemd podman cannot schedule the periodic HEALTHCHECK timer and says so on stderr;
  # `podman healthcheck run` below runs the check itself.
  $sudo podman run -d --name "$name" "${podman_run_flags[@]}" -p "$target:50051" \
    -v "$volume:/var/lib/sigprop" "$image" >/dev/null 2>"$work/podman-run.err" \
    || { cat "$work/podman-run.err"; fail "podman run"; }
  for _ in $(seq 1 60); do
    if "$cli" health --target "$target" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  $sudo podman logs "$name" | tail -n 20
  fail "server in the container did not become SERVING on $target within 60 s"
}
stop_server() {
  $sudo podman stop -t 30 "$name" >/dev/null 2>&1
  local code
  code=$($sudo podman inspect --format '{{.State.ExitCode}}' "$name")
  $sudo podman logs "$name" >"$work/server.log" 2>&1
  $sudo podman rm "$name" >/dev/null 2>&1
  [ "$code" = 0 ] || { cat "$work/server.log"; fail "server exited $code on SIGTERM, not 0"; }
  grep -q 'sigprop-server: stopped' "$work/server.log" || fail "no clean-shutdown line in the log"
}

log "podman run (server is PID 1, no --init), db on volume $volume, port $target"
start_server
pid1=$($sudo podman exec "$name" cat /proc/1/cmdline | tr '\0' ' ')
case "$pid1" in sigprop-server*) ;; *) fail "PID 1 is '$pid1', not sigprop-server" ;; esac
$sudo podman healthcheck run "$name" >/dev/null || fail "podman healthcheck run: unhealthy"
log "healthy: $("$cli" health --target "$target"); podman healthcheck run: healthy"

log "demo sweep from the host CLI to the container, and embedded"
"$cli" run examples/demo.json --target "$target" --out "$work/remote.jsonl" 2>"$work/remote.err" \
  || { cat "$work/remote.err"; fail "sigprop run --target $target"; }
sweep=$(grep -o 'sweep sw-[0-9a-f]*' "$work/remote.err" | head -n 1 | cut -d' ' -f2)
"$cli" run examples/demo.json --quiet --out "$work/embedded.jsonl"
cmp "$work/remote.jsonl" "$work/embedded.jsonl" || fail "container results differ from the embedded run"
log "results identical: $(wc -l <"$work/remote.jsonl") lines, sha256 $(sha256sum <"$work/remote.jsonl" | cut -c1-16)…, sweep $sweep"

log "podman stop (SIGTERM to PID 1)"
stop_server
log "server exited 0: $(tail -n 1 "$work/server.log")"

log "restart on the same volume"
start_server
"$cli" get "$sweep" --target "$target" | grep -q '"state":"SUCCEEDED"' || fail "sweep $sweep lost after restart"
"$cli" results "$sweep" --target "$target" --out "$work/after-restart.jsonl"
cmp "$work/after-restart.jsonl" "$work/embedded.jsonl" || fail "stored results changed across the restart"
log "db survived: sweep $sweep SUCCEEDED, stored results identical"
stop_server

log "PASS in $(( $(date +%s) - started )) s"
