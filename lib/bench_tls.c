/* bench_tls: trust anchors and TLS client state for bench (see
 * bench_tls.h). */
#include "bench_tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void append_buf(void *ctx, const void *data, size_t len)
{
	aigw_buf_append(ctx, data, len);
}

static unsigned char *dup_bytes(const void *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);
	if (!d)
		abort();
	memcpy(d, p, n);
	return d;
}

/* Turns one DER certificate into a trust anchor; false when BearSSL
 * cannot decode it or its key type (bundles hold a few of those). */
static bool add_anchor(struct aigw_bench_anchors *a, const struct aigw_buf *der)
{
	br_x509_decoder_context dc;
	struct aigw_buf dn = AIGW_BUF_INIT;
	br_x509_pkey *pk;
	br_x509_trust_anchor ta;

	br_x509_decoder_init(&dc, append_buf, &dn);
	br_x509_decoder_push(&dc, der->data, der->len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (!pk || br_x509_decoder_last_error(&dc) != 0) {
		aigw_buf_release(&dn);
		return false;
	}
	memset(&ta, 0, sizeof(ta));
	ta.dn.data = dup_bytes(dn.data, dn.len);
	ta.dn.len = dn.len;
	aigw_buf_release(&dn);
	ta.flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta.pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta.pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta.pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta.pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta.pkey.key.rsa.elen = pk->key.rsa.elen;
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		ta.pkey.key.ec.curve = pk->key.ec.curve;
		ta.pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		ta.pkey.key.ec.qlen = pk->key.ec.qlen;
	} else {
		free(ta.dn.data);
		return false;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		br_x509_trust_anchor *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			abort();
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = ta;
	return true;
}

int aigw_bench_anchors_load(struct aigw_bench_anchors *a, const char *path,
			    struct aigw_err *err)
{
	FILE *f = fopen(path, "rb");
	br_pem_decoder_context pc;
	struct aigw_buf der = AIGW_BUF_INIT;
	unsigned char chunk[8192];
	bool in_cert = false;
	size_t n;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (!f)
		return aigw_err_set(err, AIGW_ENOTFOUND, "cannot read '%s': %s", path,
				    strerror(errno));
	br_pem_decoder_init(&pc);
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		unsigned char *p = chunk;
		while (n > 0) {
			size_t used = br_pem_decoder_push(&pc, p, n);
			p += used;
			n -= used;
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ:
				in_cert = strcmp(br_pem_decoder_name(&pc), "CERTIFICATE") == 0 ||
					  strcmp(br_pem_decoder_name(&pc), "X509 CERTIFICATE") == 0;
				aigw_buf_reset(&der);
				br_pem_decoder_setdest(&pc, in_cert ? append_buf : NULL,
						       in_cert ? &der : NULL);
				break;
			case BR_PEM_END_OBJ:
				if (in_cert)
					add_anchor(a, &der);
				in_cert = false;
				break;
			case BR_PEM_ERROR:
				rc = aigw_err_set(err, AIGW_EINVAL, "'%s': not a PEM file", path);
				n = 0;
				break;
			default:
				break;
			}
		}
	}
	fclose(f);
	aigw_buf_release(&der);
	if (!rc && a->n == 0)
		rc = aigw_err_set(err, AIGW_EINVAL, "'%s': no certificate in it", path);
	if (rc)
		aigw_bench_anchors_release(a);
	return rc;
}

void aigw_bench_anchors_release(struct aigw_bench_anchors *a)
{
	for (size_t i = 0; i < a->n; i++) {
		br_x509_trust_anchor *ta = &a->v[i];
		free(ta->dn.data);
		if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
			free(ta->pkey.key.rsa.n);
			free(ta->pkey.key.rsa.e);
		} else {
			free(ta->pkey.key.ec.q);
		}
	}
	free(a->v);
	memset(a, 0, sizeof(*a));
}

int aigw_bench_tls_start(struct aigw_bench_tls *t, const struct aigw_bench_anchors *a,
			 const char *server_name)
{
	br_ssl_client_init_full(&t->client, &t->x509, a->v, a->n);
	br_ssl_engine_set_buffer(&t->client.eng, t->iobuf, sizeof(t->iobuf), 1);
	return br_ssl_client_reset(&t->client, server_name, 0) ? 0 : AIGW_EFAIL;
}

const char *aigw_bench_tls_error(int code)
{
	switch (code) {
	case BR_ERR_X509_NOT_TRUSTED:
		return "certificate not trusted";
	case BR_ERR_X509_BAD_SERVER_NAME:
		return "certificate is not for this host name";
	case BR_ERR_X509_EXPIRED:
		return "certificate expired or not yet valid";
	case BR_ERR_BAD_VERSION:
	case BR_ERR_BAD_CIPHER_SUITE:
	case BR_ERR_UNSUPPORTED_VERSION:
		return "no TLS version or cipher suite in common";
	default:
		break;
	}
	if (code >= BR_ERR_SEND_FATAL_ALERT)
		return "handshake refused";
	if (code >= BR_ERR_RECV_FATAL_ALERT)
		return "the server sent a fatal alert";
	if (code >= 32 && code < 64)
		return "bad certificate";
	return "TLS protocol error";
}
