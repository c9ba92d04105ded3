#!/bin/sh
# Make a throwaway PKI for tests and the demo: mkcerts.sh DIR [AGENT_CN]
#   ca.crt/ca.key            CA "octospool test CA" (trusted)
#   server.crt/server.key    server, SAN IP:127.0.0.1, DNS:localhost
#   client.crt/client.key    client CN=AGENT_CN, signed by ca
#   other-ca.crt, other.crt/other.key   a client from another CA
#   rogue.crt/rogue.key      a self-signed client certificate
#   wrongname.crt/.key       server cert for the wrong host (CA-signed)
set -eu
d=${1:?usage: mkcerts.sh DIR [AGENT_CN]}
cn=${2:-research-agent-01}
mkdir -p "$d"
cd "$d"
umask 077
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
	rm -f "$1.csr" "$1.ext"
}
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
rm -f ./*.srl
chmod 0644 ./*.crt
chmod 0640 ./*.key
