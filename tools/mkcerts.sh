#!/bin/sh
# SPDX-License-Identifier: ISC
# Make a throwaway PKI for tests and the demo: mkcerts.sh DIR [AGENT_CN]
#   ca.crt/ca.key            CA "octospool test CA" (trusted)
#   ca.crl                   its CRL (empty at first), made with openssl ca
#   ca.cnf, ca.db/           the minimal openssl ca setup that keeps it
#   server.crt/server.key    server, SAN IP:127.0.0.1, DNS:localhost
#   client.crt/client.key    client CN=AGENT_CN, signed by ca
#   other-ca.crt, other.crt/other.key   a client from another CA
#   rogue.crt/rogue.key      a self-signed client certificate
#   wrongname.crt/.key       server cert for the wrong host (CA-signed)
# Then, on such a DIR:
#   mkcerts.sh client DIR NAME CN    another client certificate NAME.crt/.key
#   mkcerts.sh revoke DIR NAME       revoke NAME.crt and write a new ca.crl
#   mkcerts.sh crl DIR [SECONDS]     write a new ca.crl, valid for SECONDS
#                                    (default 30 days)
# Revoking by hand is the same two openssl ca commands:
#   openssl ca -config DIR/ca.cnf -revoke DIR/NAME.crt
#   openssl ca -config DIR/ca.cnf -gencrl -out DIR/ca.crl
# then give ca.crl to tentacle-recv (crl_file) and send it SIGHUP.
set -eu
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$1" 2>/dev/null; }
ca() { # name subject
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign -out "$1.crt" \
	    2>/dev/null
}
leaf() { # name subject ca ext
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
	printf '%s\n' "$4" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" \
	    -CAcreateserial -days 3650 -extfile "$1.ext" -out "$1.crt" \
	    2>/dev/null
	rm -f "$1.csr" "$1.ext" ./*.srl
	chmod 0644 "$1.crt"
	chmod 0640 "$1.key"
}
# The CRL of ca, valid for $1 seconds: openssl ca with ca.cnf.
gencrl() {
	openssl ca -config ca.cnf -gencrl -crlsec "$1" -out ca.crl.tmp \
	    2>/dev/null
	chmod 0644 ca.crl.tmp
	mv ca.crl.tmp ca.crl
}
# What openssl ca needs to revoke and to sign CRLs: a database, a number.
cadb() {
	mkdir -p ca.db
	: > ca.db/index.txt
	echo 01 > ca.db/crlnumber
	cat > ca.cnf <<-'EOF'
	# openssl ca for the test CA: revocation and CRLs only.
	[ ca ]
	default_ca = test_ca
	[ test_ca ]
	dir = .
	database = $dir/ca.db/index.txt
	crlnumber = $dir/ca.db/crlnumber
	certificate = $dir/ca.crt
	private_key = $dir/ca.key
	default_md = sha256
	default_crl_days = 30
	unique_subject = no
	crl_extensions = crl_ext
	[ crl_ext ]
	authorityKeyIdentifier = keyid:always
	EOF
}

case ${1:-} in
client)
	[ $# -eq 4 ] || { echo "usage: mkcerts.sh client DIR NAME CN" >&2; exit 64; }
	cd "$2"
	umask 077
	leaf "$3" "$4" ca "extendedKeyUsage=clientAuth"
	exit 0 ;;
revoke)
	[ $# -eq 3 ] || { echo "usage: mkcerts.sh revoke DIR NAME" >&2; exit 64; }
	cd "$2"
	umask 077
	openssl ca -config ca.cnf -revoke "$3.crt" 2>/dev/null
	gencrl $((30 * 86400))
	exit 0 ;;
crl)
	[ $# -ge 2 ] || { echo "usage: mkcerts.sh crl DIR [SECONDS]" >&2; exit 64; }
	cd "$2"
	umask 077
	gencrl "${3:-$((30 * 86400))}"
	exit 0 ;;
esac

d=${1:?usage: mkcerts.sh DIR [AGENT_CN]}
cn=${2:-research-agent-01}
mkdir -p "$d"
cd "$d"
umask 077
ca ca "octospool test CA"
ca other-ca "some other CA"
leaf server localhost ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf wrongname elsewhere.example ca "subjectAltName=DNS:elsewhere.example
extendedKeyUsage=serverAuth"
leaf client "$cn" ca "extendedKeyUsage=clientAuth"
leaf other "$cn" other-ca "extendedKeyUsage=clientAuth"
key rogue.key
openssl req -x509 -new -key rogue.key -subj "/CN=$cn" -days 3650 \
    -out rogue.crt 2>/dev/null
cadb
gencrl $((30 * 86400))
chmod 0644 ./*.crt
chmod 0640 ./*.key
