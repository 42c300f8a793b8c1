/* bench_tls: what lib/bench needs for https:// targets, with BearSSL:
 * trust anchors read from a PEM bundle (the system's, or a file given
 * for a private CA or a self-signed test certificate) and the per
 * connection client state. Internal to bench. */
#ifndef AIGW_BENCH_TLS_H
#define AIGW_BENCH_TLS_H

#include <bearssl.h>
#include <stddef.h>

#include "err.h"

/* The bundle read when no file is named. */
#define AIGW_BENCH_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct aigw_bench_anchors {
	br_x509_trust_anchor *v;
	size_t n, cap;
};

/* Reads every CERTIFICATE of the PEM file path as a trust anchor.
 * Returns 0, AIGW_ENOTFOUND when the file cannot be read, or
 * AIGW_EINVAL when it holds no usable certificate (err names the file). */
int aigw_bench_anchors_load(struct aigw_bench_anchors *a, const char *path,
			    struct aigw_err *err);
void aigw_bench_anchors_release(struct aigw_bench_anchors *a);

/* One connection's TLS client: about 40 KB, allocated once per
 * connection for the run. */
struct aigw_bench_tls {
	br_ssl_client_context client;
	br_x509_minimal_context x509;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* Prepares t for a new handshake with server_name (SNI and the name the
 * certificate must carry). Returns 0 or AIGW_EFAIL. */
int aigw_bench_tls_start(struct aigw_bench_tls *t, const struct aigw_bench_anchors *a,
			 const char *server_name);

/* A BearSSL error code in words, for failure details. */
const char *aigw_bench_tls_error(int code);

#endif
