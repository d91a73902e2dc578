# pki.sh: a throwaway PKI for the TLS tests (sourced, not run). pki_make DIR writes, with openssl and
# EC P-256 keys (fast handshakes): ca.{crt,key} "rsvp test CA"; writer.{crt,key} for DNS:localhost and
# IP:127.0.0.1 (serverAuth); agg.{crt,key} a client certificate (clientAuth); other-ca.{crt,key} an
# unrelated CA and intruder.{crt,key} a client certificate it signed. Returns 1 (openssl's complaint on
# stderr) if openssl fails.
pki_make() {
	local d=$1
	mkdir -p "$d" || return 1
	(
		cd "$d" || exit 1
		ossl() { openssl "$@" >>openssl.log 2>&1; }
		ca() {
			ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
				-keyout "$1.key" -out "$1.crt" -addext basicConstraints=critical,CA:TRUE \
				-addext keyUsage=critical,keyCertSign,cRLSign
		}
		signed() { # NAME CN SAN EKU CA
			printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$3" "$4" >"$1.ext" &&
				ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
					-keyout "$1.key" -out "$1.csr" &&
				ossl x509 -req -in "$1.csr" -CA "$5.crt" -CAkey "$5.key" -CAcreateserial -days 2 \
					-extfile "$1.ext" -out "$1.crt"
		}
		ca ca "rsvp test CA" && ca other-ca "other CA" &&
			signed writer localhost "DNS:localhost,IP:127.0.0.1" serverAuth ca &&
			signed agg aggregator "DNS:aggregator" clientAuth ca &&
			signed intruder aggregator "DNS:aggregator" clientAuth other-ca
	) || {
		tail -n 3 "$d/openssl.log" >&2
		return 1
	}
}
