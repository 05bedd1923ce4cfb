# Sourced by the demo and tools/rust-sdk-check: starts powersync-test-service in the background on
# a free 127.0.0.1 port and waits until it listens.
#   start_test_service BIN RULES SEED LOG
# sets SERVICE (its pid) and URL, and stops the service when the calling script exits.
start_test_service() {
  local bin=$1 rules=$2 seed=$3 log=$4
  "$bin/powersync-test-service" serve --rules "$rules" --seed "$seed" --listen 127.0.0.1:0 > "$log" 2>&1 &
  SERVICE=$!
  trap 'kill $SERVICE 2>/dev/null || true; wait $SERVICE 2>/dev/null || true' EXIT
  URL=
  for _ in $(seq 1 100); do
    URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$URL" ] && return 0
    kill -0 "$SERVICE" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
  echo "the test service did not start:"; cat "$log"; exit 1
}
