#!/bin/bash
# Builds proto/examples/java/PosClient.java with Debian's protobuf-java and runs it against a real
# accrue-agent on a seeded replica: validate, a sale resent after a "lost" answer (replayed, same
# receipt), its transaction status, and a refusal by message_id.
# Usage: java_client_test.sh AGENT_BINARY PROTOC JAVAC JAVA PROTOBUF_JAR
set -euo pipefail
agent=$1 protoc=$2 javac=$3 java=$4 jar=$5
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/accrue-java-client.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

head -c 64 /dev/urandom >"$work/key"
"$agent" seed --store-id store-1 --data-dir "$work/data" --program-key-file "$work/key" \
  --program "$src/packaging/demo/program.json" --customers 100 >"$work/seed.log" 2>&1
"$agent" --store-id store-1 --data-dir "$work/data" --program-key-file "$work/key" \
  --socket "$work/agent.sock" --currency EUR --default-country PL 2>"$work/agent.log" &
pid=$!

mkdir -p "$work/gen" "$work/classes"
"$protoc" -I "$src/proto" --java_out="$work/gen" \
  "$src/proto/accrue/loyalty/v1/loyalty.proto" "$src/proto/accrue/pos/v1/pos.proto"
"$javac" -nowarn -cp "$jar" -d "$work/classes" $(find "$work/gen" -name '*.java') \
  "$src/proto/examples/java/PosClient.java"

for _ in $(seq 1 200); do [ -S "$work/agent.sock" ] && break; sleep 0.05; done
out=$("$java" -cp "$jar:$work/classes" PosClient "$work/agent.sock" 6000000000000042) || {
  echo "$out"; echo "FAIL: the Java client exited non-zero"; cat "$work/agent.log"; exit 1; }
echo "$out"
for want in "member MEMBER_STATUS_ACTIVE, Bronze" "resent: replayed, same receipt" "status: booked" \
            "redeem 150: ERROR_CODE_OUT_OF_RANGE redeem.off_step: Points go in steps of 100."; do
  grep -qF "$want" <<<"$out" || { echo "FAIL: expected \"$want\""; exit 1; }
done
echo "java example client: ok"
