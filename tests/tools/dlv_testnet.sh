# SPDX-License-Identifier: MIT
# dlv_testnet.sh: helpers for delivery tests that need a DNS server and MX hosts on port 25,
# sourced after tests/lib/testlib.sh, inside the test's temp dir ($D). Everything lives in one
# network namespace (its own loopback: 127.0.0.x:25 are ours alone; no DNS leaves it).
#   dlv_net NAME                 creates the namespace; sets X="ip netns exec NAME"
#   dlv_dns <<EOF ... EOF        starts unbound on 127.0.0.53:53 serving the unbound.conf
#                                "server:" lines read from stdin (local-zone/local-data)
#   dlv_sink VAR DIR IP [ARGS]   starts tests/tools/mx_sink.py on IP:25 writing to $D/DIR
#   dlv_dpmaild VAR CFG          starts dpmaild -c CFG in the namespace, log in dpmaild.log

dlv_net() {
  t_ns "$1"
  X="ip netns exec $1"
}

dlv_dns() {
  { cat <<EOF
server:
  interface: 127.0.0.53
  port: 53
  do-daemonize: no
  use-syslog: no
  logfile: "$D/unbound.log"
  username: ""
  chroot: ""
  directory: "$D"
  pidfile: ""
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
EOF
    sed 's/^/  /'; } >unbound.conf
  t_bg DLV_UB $X unbound -d -c unbound.conf
  cat >probe.py <<'PY'
import socket, sys
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x07dlvtest\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.3)
s.sendto(q, ("127.0.0.53", 53))
sys.exit(0 if s.recv(512)[:2] == b"\x12\x34" else 1)
PY
  t_check "unbound answers in the namespace" t_wait_for 10 $X /usr/bin/python3 probe.py
}

dlv_sink() {
  local v=$1 dir=$2 ip=$3; shift 3
  t_bg "$v" $X /usr/bin/python3 "$T_ROOT/tests/tools/mx_sink.py" --host "$ip" --port 25 --dir "$D/$dir" "$@" >"$dir.out" 2>&1
  t_wait_for 10 grep -q listening "$dir.out" || t_fail "sink $dir starts"
}

dlv_dpmaild() {
  t_bg "$1" $X env ${DLV_ENV:-} "$BUILD/dpmaild" -c "$2" >>dpmaild.log 2>&1
  t_check "dpmaild starts in the namespace" \
    t_wait_for 10 $X /usr/bin/python3 -c "import smtplib; smtplib.SMTP('127.0.0.1', $IN, timeout=2).quit()"
}

# dlv_cfg PREFIX: the common head of a delivery test's dpmaild configuration (posix backend,
# one worker, SMTP in on $IN, spool and admin socket in $D); the test appends its own sections.
dlv_cfg() {
  cat <<EOF
eal: {file_prefix: $1, memory_mb: 128}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1], idle_sleep_us: 100}
control: {admin_socket: $D/admin.sock}
smtp: {hostname: relay.test, listen: [{port: $IN, tls: none}]}
relay: {clients: [{network: 127.0.0.0/8}]}
spool: {dir: $D/spool, min_free_mb: 1}
EOF
}

# dlv_ca: a test CA (ca.key, ca.crt) in the current directory.
# dlv_cert NAME SAN [self]: NAME.key + NAME.crt for DNS name SAN, signed by the test CA
#                           (dlv_ca first) or self-signed.
dlv_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
    -days 2 -subj "/CN=dpmail test CA" 2>/dev/null
}
dlv_cert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$2" 2>/dev/null
  if [ "${3:-}" = self ]; then
    openssl x509 -req -in "$1.csr" -signkey "$1.key" -out "$1.crt" -days 2 \
      -extfile <(echo "subjectAltName=DNS:$2") 2>/dev/null
  else
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 \
      -extfile <(echo "subjectAltName=DNS:$2") 2>/dev/null
  fi
}

# dlv_dsns FILE...: one line "<final recipient> <action> <status>" per recipient of every
# RFC 3464 report among the given messages (other messages are skipped).
dlv_dsns() {
  /usr/bin/python3 - "$@" <<'PY'
import email, sys
for f in sys.argv[1:]:
    m = email.message_from_bytes(open(f, "rb").read())
    if m.get_content_type() != "multipart/report":
        continue
    st = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"][0]
    for r in st.get_payload()[1:]:
        print(r["Final-Recipient"].split(";")[1].strip(), r["Action"], r["Status"])
PY
}
