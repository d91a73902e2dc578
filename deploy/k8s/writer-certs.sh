#!/usr/bin/env bash
# Certificates of the aggregator -> writer link for the plain manifests (deploy/k8s): a CA, the writer's server
# certificate (the writer Service's names, which the aggregators check) and the aggregators' client certificate,
# made with openssl, as the two Secrets deploy/k8s/base expects (kubernetes.io/tls with tls.crt, tls.key, ca.crt).
# usage: deploy/k8s/writer-certs.sh DIR [--apply]   (NAME=rsvp-pipeline NAMESPACE=default DAYS=825)
#   DIR gets ca.{crt,key}, writer.{crt,key}, aggregator.{crt,key}; --apply also creates or replaces the Secrets
#   NAME-writer-tls and NAME-aggregator-tls in NAMESPACE with kubectl. Keep ca.key offline; rotation: docs/deploy.md.
set -euo pipefail
DIR=${1:?usage: $0 DIR [--apply]}
NAME=${NAME:-rsvp-pipeline} NAMESPACE=${NAMESPACE:-default} DAYS=${DAYS:-825}
HOST=$NAME-writer
mkdir -p "$DIR"
cd "$DIR"
ossl() { openssl "$@" 2>>openssl.log || { tail -n 5 openssl.log >&2; exit 1; }; }
[[ -f ca.crt && -f ca.key ]] || ossl req -x509 -newkey rsa:2048 -nodes -days "$DAYS" -subj "/CN=$NAME writer link CA" \
	-keyout ca.key -out ca.crt -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
sign() { # sign WHO CN EXT
	printf '%s\nbasicConstraints=CA:FALSE\n' "$3" >"$1.ext"
	ossl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
	ossl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" -extfile "$1.ext" -out "$1.crt"
	rm -f "$1.csr" "$1.ext"
}
sign writer "$HOST" "subjectAltName=DNS:$HOST,DNS:$HOST.$NAMESPACE,DNS:$HOST.$NAMESPACE.svc,DNS:$HOST.$NAMESPACE.svc.cluster.local
extendedKeyUsage=serverAuth,clientAuth"
sign aggregator "$NAME-aggregator" "extendedKeyUsage=clientAuth"
chmod 0600 ./*.key
if [[ ${2:-} == --apply ]]; then
	for who in writer aggregator; do
		kubectl -n "$NAMESPACE" create secret tls "$NAME-$who-tls" --cert="$who.crt" --key="$who.key" \
			--dry-run=client -o yaml | kubectl -n "$NAMESPACE" patch --local -f - --type merge -o yaml \
			-p "{\"data\":{\"ca.crt\":\"$(base64 -w0 ca.crt)\"}}" | kubectl -n "$NAMESPACE" apply -f - >/dev/null
	done
	echo "Secrets $NAME-writer-tls and $NAME-aggregator-tls applied in namespace $NAMESPACE"
fi
