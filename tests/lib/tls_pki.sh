# SPDX-License-Identifier: MIT
# tls_pki.sh: helpers for tests/integration/tls_*.sh (source it): the test PKI, made with the
# openssl CLI at test time, and port selection.

# tls_port: a port of crypto/tls's range (12600-12699) that nothing listens on now. The same
# tests run concurrently in several work trees, so fixed ports collide; callers then check
# that the listener is their own process (tls_listening PORT PID).
tls_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((12600 + RANDOM % 100))
    ss -ltnH "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  return 1
}
# tls_listening PORT PID: PID (or one of its children) listens on PORT.
tls_listening() { ss -ltnpH "sport = :$1" | grep -q "pid=$2,"; }
# tls_server_port LOG: the port a tls_smtp_server started with -p 0 announced.
tls_server_port() { sed -n 's/^event=listening port=\([0-9]*\)$/\1/p' "$1" | head -1; }
# tls_pki DIR: test CA (P-256), leaves ecdsa (P-256) and rsa (RSA-2048) for mx.test, other.test, rogue
tls_pki() {
  local d=$1
  ( cd "$d" || exit 1
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
      -days 2 -subj "/O=dpmail test/CN=dpmail test CA" -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || exit 1
    leaf() { # name keyopts cn sans [self]
      openssl req -new -newkey $2 -nodes -keyout $1.key -out $1.csr -subj "/O=dpmail test/CN=$3" 2>/dev/null || exit 1
      printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$4" > $1.ext
      if [ -n "${5:-}" ]; then
        openssl x509 -req -in $1.csr -signkey $1.key -out $1.pem -days 2 -extfile $1.ext 2>/dev/null || exit 1
      else
        openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $1.crt -days 2 -extfile $1.ext 2>/dev/null || exit 1
        cat $1.crt ca.pem > $1.pem
      fi
    }
    leaf ecdsa "ec -pkeyopt ec_paramgen_curve:P-256" mx.test "DNS:mx.test,DNS:*.mx.test"
    leaf rsa "rsa:2048" mx.test "DNS:mx.test,DNS:*.mx.test"
    leaf other "ec -pkeyopt ec_paramgen_curve:P-256" other.test "DNS:other.test"
    leaf rogue "ec -pkeyopt ec_paramgen_curve:P-256" mx.test "DNS:mx.test" self
  )
}
