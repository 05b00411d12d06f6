#!/usr/bin/env bash
# Certificates for dockyardd on TCP with TLS (--tlsverify), made with openssl: a CA, a
# server certificate per host, a client certificate. See deploy/FARM.md.
#
#   deploy/certs.sh [-d DIR] [--days N] ca
#   deploy/certs.sh [-d DIR] [--days N] server NAME ADDRESS...
#   deploy/certs.sh [-d DIR] [--days N] client [NAME]
#
# DIR (default ./dockyard-certs) then holds:
#   ca.pem, ca-key.pem                  the CA (keep ca-key.pem off the hosts)
#   hosts/NAME/ca.pem                   for a host: dockyardd --tlsverify
#   hosts/NAME/server-cert.pem              --tlscacert ca.pem --tlscert server-cert.pem
#   hosts/NAME/server-key.pem               --tlskey server-key.pem
#   client/ca.pem, cert.pem, key.pem    for a client: DOCKER_CERT_PATH=DIR/client,
#                                       DOCKER_TLS_VERIFY=1 (docker CLI, docker-py,
#                                       testcontainers, compose)
# Each ADDRESS (an IP address or a DNS name) is a subjectAltName of the host's
# certificate: the names clients reach it by (DOCKER_HOST=tcp://ADDRESS:2376). Keys are
# ECDSA P-256 and readable by their owner only. An existing file is never overwritten:
# remove it first to make it anew.
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

die() {
    echo "certs.sh: $*" >&2
    exit 1
}

dir=./dockyard-certs
days=825
while [ $# -gt 0 ]; do
    case "$1" in
        -d) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
        --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
[[ "$days" =~ ^[1-9][0-9]*$ ]] || die "--days wants a positive number of days, not '$days'"
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"

umask 077
mkdir -p "$dir"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# A name is one path component: it becomes a directory under hosts/ and a subject CN.
check_name() {
    [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] || die "'$1' is no usable name (letters, digits, . _ -)"
}

refuse_existing() {
    local f
    for f in "$@"; do
        [ ! -e "$f" ] || die "$f exists: remove it to make it anew"
    done
}

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# sign CN EXTENSIONS KEY CERT: a certificate for KEY signed by the CA, with EXTENSIONS.
sign() {
    local cn=$1 extensions=$2 key=$3 cert=$4
    [ -f "$dir/ca.pem" ] && [ -f "$dir/ca-key.pem" ] || die "no CA in $dir: run '$0 -d $dir ca' first"
    printf '%s\n' "$extensions" > "$scratch/ext"
    openssl req -new -key "$key" -subj "/CN=$cn" -out "$scratch/csr"
    openssl x509 -req -in "$scratch/csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
        -extfile "$scratch/ext" -out "$cert" 2>/dev/null
    chmod 0644 "$cert"
}

make_ca() {
    [ $# -eq 0 ] || usage
    refuse_existing "$dir/ca.pem" "$dir/ca-key.pem"
    new_key "$scratch/ca-key.pem"
    openssl req -x509 -new -key "$scratch/ca-key.pem" -subj "/CN=Dockyard CA" -days "$days" -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$scratch/ca.pem"
    chmod 0644 "$scratch/ca.pem"
    mv "$scratch/ca-key.pem" "$dir/ca-key.pem"
    mv "$scratch/ca.pem" "$dir/ca.pem"
    echo "$dir/ca.pem"
}

make_server() {
    [ $# -ge 2 ] || die "server wants a NAME and at least one ADDRESS (IP or DNS name)"
    local name=$1; shift
    check_name "$name"
    local out="$dir/hosts/$name" sans=() a
    for a in "$@"; do
        if [[ "$a" =~ ^[0-9]+(\.[0-9]+){3}$ ]] || [[ "$a" == *:* && "$a" =~ ^[0-9A-Fa-f:.]+$ ]]; then
            sans+=("IP:$a")
        elif [[ "$a" =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
            sans+=("DNS:$a")
        else
            die "'$a' is neither an IP address nor a DNS name"
        fi
    done
    refuse_existing "$out/server-cert.pem" "$out/server-key.pem"
    mkdir -p "$out"
    new_key "$scratch/key.pem"
    sign "$name" "$(printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" \
        "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid,issuer" \
        "subjectAltName=$(IFS=,; echo "${sans[*]}")")" "$scratch/key.pem" "$scratch/cert.pem"
    install -m 0644 "$dir/ca.pem" "$out/ca.pem"
    mv "$scratch/key.pem" "$out/server-key.pem"
    mv "$scratch/cert.pem" "$out/server-cert.pem"
    echo "$out"
}

make_client() {
    [ $# -le 1 ] || usage
    local name=${1:-client}
    check_name "$name"
    [ "$name" != hosts ] || die "'hosts' holds the servers' certificates: name the client otherwise"
    local out="$dir/$name"
    refuse_existing "$out/cert.pem" "$out/key.pem"
    mkdir -p "$out"
    new_key "$scratch/key.pem"
    sign "$name" "$(printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" \
        "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid,issuer")" "$scratch/key.pem" "$scratch/cert.pem"
    install -m 0644 "$dir/ca.pem" "$out/ca.pem"
    mv "$scratch/key.pem" "$out/key.pem"
    mv "$scratch/cert.pem" "$out/cert.pem"
    echo "$out"
}

command=$1; shift
case "$command" in
    ca) make_ca "$@" ;;
    server) make_server "$@" ;;
    client) make_client "$@" ;;
    *) die "unknown command '$command' (ca, server or client)" ;;
esac
