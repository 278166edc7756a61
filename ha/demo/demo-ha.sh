#!/usr/bin/env bash
# make demo-ha: highly available InfraKit, for real, on one machine.
#
# Three "nodes" (each its own INFRAKIT_HOME, plugins directory and mux port),
# each running a real etcd member, infrakit-manager, InfraKit's stateless
# group plugin, the vanilla flavor and infrakit-instance-aliyun, all over one
# ECS emulator (no Alibaba Cloud account needed). A group of 3 is committed,
# the leader node is SIGKILLed (etcd member, manager, group plugin) and an
# instance is deleted behind InfraKit's back: a new leader takes over and
# puts the group back at exactly 3. Every command is printed as typed
# (build/ on PATH), then its real output. Whatever happens (failure,
# Ctrl-C) every process is stopped and the temporary directory removed.
set -euo pipefail

BIN=${BIN:-build}
BIN=$(cd "$BIN" && pwd)
EXAMPLE=${EXAMPLE:-example/aliyun-vanilla.json}
PAUSE=${PAUSE:-1}
TIMEOUT=${TIMEOUT:-90}
export PATH="$BIN:$PATH"

for b in etcd infrakit-manager infrakit infrakit-group-default infrakit-flavor-vanilla infrakit-instance-aliyun ecs-emulator; do
	[ -x "$BIN/$b" ] || { echo "demo-ha: $BIN/$b missing: run make build" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/infrakit-ha-demo.XXXXXX")
PIDS=()
cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	if [ "$rc" != 0 ]; then
		echo "--- demo-ha failed (exit $rc); last lines of each log ---"
		for f in "$WORK"/*.log "$WORK"/n*/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 8 "$f"; }; done
	fi
	rm -rf "$WORK"
	echo "demo-ha: stopped every process, removed $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step=0
say() { step=$((step + 1)); printf '\n=== %d. %s\n' "$step" "$*"; }
# show prints a command as a user types it, then runs it (output as is).
show() { printf '$ %s\n' "$*"; "$@"; sleep "$PAUSE"; }
# bg starts a long-running process in the background, logging to $1.
bg() { local log=$1; shift; printf '$ %s > %s 2>&1 &\n' "$*" "${log#"$WORK"/}"; "$@" >"$log" 2>&1 & PIDS+=($!); LAST=$!; disown "$LAST"; }
waitfor() { # what, command...: poll until the command succeeds
	local what=$1; shift
	local end=$((SECONDS + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || { echo "demo-ha: timed out waiting for $what" >&2; return 1; }
		sleep 0.2
	done
}
gone() { ! kill -0 "$1" 2>/dev/null; }
since() { # seconds since $1 (microseconds from EPOCHREALTIME), 0.1 s precision
	local us=$(( ${EPOCHREALTIME/[.,]/} - $1 ))
	printf '%d.%d s' $((us / 1000000)) $((us / 100000 % 10))
}
USED=" "
freeport() { # a TCP port nobody listens on, below Linux's ephemeral range
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		[[ $USED == *" $p "* ]] && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { USED="$USED$p "; echo "$p"; return; }
	done
}

cd "$WORK"
say "start the ECS emulator (it stands in for Alibaba Cloud)"
bg "$WORK/emulator.log" ecs-emulator --listen 127.0.0.1:0 --boot-time 30s --time-scale 30
waitfor "the emulator" grep -q 'listening on http' "$WORK/emulator.log"
EMU=$(grep -o 'listening on http://[0-9.:]*' "$WORK/emulator.log" | head -1 | cut -d' ' -f3)
echo "emulator at $EMU"

declare -A CLIENT PEER MUX PID_ETCD PID_MGR PID_GROUP
NODES=(n1 n2 n3)
CLUSTER=""
for n in "${NODES[@]}"; do
	CLIENT[$n]=$(freeport); USED="$USED${CLIENT[$n]} "
	PEER[$n]=$(freeport); USED="$USED${PEER[$n]} "
	MUX[$n]=$(freeport); USED="$USED${MUX[$n]} "
	CLUSTER="${CLUSTER:+$CLUSTER,}$n=http://127.0.0.1:${PEER[$n]}"
	mkdir -p "$WORK/$n/plugins"
done

etcd_healthy() ( # GET /health on the member's client URL, with bash alone
	exec 3<>"/dev/tcp/127.0.0.1/${CLIENT[$1]}" || exit 1
	printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
	grep -q '"health":"true"' <&3
)
start_etcd() {
	local n=$1
	bg "$WORK/$n/etcd.log" etcd --name "$n" --data-dir "$WORK/$n/etcd" \
		--listen-client-urls "http://127.0.0.1:${CLIENT[$n]}" --advertise-client-urls "http://127.0.0.1:${CLIENT[$n]}" \
		--listen-peer-urls "http://127.0.0.1:${PEER[$n]}" --initial-advertise-peer-urls "http://127.0.0.1:${PEER[$n]}" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --log-level warn
	PID_ETCD[$n]=$LAST
}
endpoints() { # this node's member first: its manager leads while that member leads etcd
	local n=$1 e="http://127.0.0.1:${CLIENT[$1]}" o
	for o in "${NODES[@]}"; do [ "$o" = "$n" ] || e="$e,http://127.0.0.1:${CLIENT[$o]}"; done
	echo "$e"
}
start_control() {
	local n=$1
	export INFRAKIT_HOME="$WORK/$n" INFRAKIT_PLUGINS_DIR="$WORK/$n/plugins"
	bg "$WORK/$n/group-stateless.log" infrakit-group-default --name group-stateless
	PID_GROUP[$n]=$LAST
	waitfor "$n group-stateless" test -S "$WORK/$n/plugins/group-stateless"
	bg "$WORK/$n/manager.log" infrakit-manager --id "$n" --etcd-endpoints "$(endpoints "$n")" \
		--store-prefix infrakit-demo/ --poll-interval 500ms --mux-listen "127.0.0.1:${MUX[$n]}"
	PID_MGR[$n]=$LAST
	waitfor "$n manager" test -S "$WORK/$n/plugins/group"
}
leader() { # the node whose manager last logged leader=true
	local n
	for n in "${NODES[@]}"; do
		[ -n "${PID_MGR[$n]:-}" ] && kill -0 "${PID_MGR[$n]}" 2>/dev/null || continue
		grep 'msg=leadership' "$WORK/$n/manager.log" | tail -1 | grep -q 'leader=true' && { echo "$n"; return 0; }
	done
	return 1
}
on() { local n=$1; shift; INFRAKIT_HOME="$WORK/$n" INFRAKIT_PLUGINS_DIR="$WORK/$n/plugins" "$@"; }
live() { # live instances of the group, from the ECS plugin's describe on node $1
	on "$1" infrakit instance-aliyun describe --tags infrakit.group=cattle 2>/dev/null | grep -c '^i-' || true
}
members() { [ "$(live "$1")" = "$2" ]; }
# node prints a command as typed on node $1 (its INFRAKIT_HOME), then runs it.
node() { local n=$1; shift; printf '%s$ %s\n' "$n" "$*"; on "$n" "$@"; sleep "$PAUSE"; }

say "start a 3-member etcd cluster, one member per node"
for n in "${NODES[@]}"; do start_etcd "$n"; done
for n in "${NODES[@]}"; do waitfor "etcd $n" etcd_healthy "$n"; done
echo "etcd: 3 members healthy"

say "on every node: the ECS plugin, the vanilla flavor, the stateless group plugin and the manager"
for n in "${NODES[@]}"; do
	echo "# node $n (INFRAKIT_HOME=\$WORK/$n)"
	export INFRAKIT_HOME="$WORK/$n" INFRAKIT_PLUGINS_DIR="$WORK/$n/plugins"
	bg "$WORK/$n/instance-aliyun.log" infrakit-instance-aliyun --endpoint "$EMU" --region cn-hangzhou \
		--access-key-id emulator --access-key-secret emulator --namespace-tags demo=ha
	bg "$WORK/$n/flavor-vanilla.log" infrakit-flavor-vanilla
	waitfor "$n plugins" test -S "$WORK/$n/plugins/instance-aliyun" -a -S "$WORK/$n/plugins/flavor-vanilla"
	start_control "$n"
done
waitfor "a leader" leader
L=$(leader)
echo "leader: $L (its etcd member leads the etcd cluster)"
show grep -h 'msg=leadership' "$WORK/n1/manager.log" "$WORK/n2/manager.log" "$WORK/n3/manager.log"

say "commit a group of 3 through the leader's manager (it stores the spec in etcd)"
cp "$OLDPWD/$EXAMPLE" "$WORK/cattle.json"
node "$L" infrakit group/groups commit-group "$WORK/cattle.json"
waitfor "3 instances" members "$L" 3
node "$L" infrakit instance-aliyun describe --tags infrakit.group=cattle

say "kill -9 the leader node's etcd member, manager and group plugin; delete one instance behind InfraKit's back"
VICTIM=$(on "$L" infrakit instance-aliyun describe --tags infrakit.group=cattle | grep -m1 -o '^i-[a-z0-9]*')
START=${EPOCHREALTIME/[.,]/}
show kill -9 "${PID_ETCD[$L]}" "${PID_MGR[$L]}" "${PID_GROUP[$L]}"
for p in "${PID_ETCD[$L]}" "${PID_MGR[$L]}" "${PID_GROUP[$L]}"; do waitfor "pid $p to exit" gone "$p"; done
OLD=$L; PID_MGR[$OLD]=""
node "$OLD" infrakit instance-aliyun destroy "$VICTIM"
waitfor "a new leader" leader
L=$(leader)
echo "new leader: $L after $(since "$START")"
waitfor "the group back at 3" members "$L" 3
echo "group back at exactly 3 instances after $(since "$START")"
node "$L" infrakit instance-aliyun describe --tags infrakit.group=cattle

say "bring node $OLD back: its etcd member rejoins from its data dir, its manager follows"
start_etcd "$OLD"
start_control "$OLD"
waitfor "$OLD to report leadership" grep -q 'msg=leadership' "$WORK/$OLD/manager.log"
show grep -h 'msg=leadership' "$WORK/$OLD/manager.log"

say "destroy the group through the leader"
node "$L" infrakit group/cattle destroy
waitfor "no instance left" test "$(live "$L")" = 0
node "$L" infrakit instance-aliyun describe --tags infrakit.group=cattle
