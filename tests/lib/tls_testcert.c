/* SPDX-License-Identifier: MIT */
/* tls_testcert.c: the run-time test PKI of tls_testcert.h. */
#include "tls_testcert.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static int write_pem(const char *dir, const char *name, EVP_PKEY *key, X509 *cert, X509 *ca)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if (!(f = fopen(path, "w")))
		return -1;
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if (!(f = fopen(path, "w")))
		return -1;
	PEM_write_X509(f, cert);
	if (ca)
		PEM_write_X509(f, ca);
	fclose(f);
	return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

/* Makes a certificate for key, signed by ca_key (self-signed when ca is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *ca,
		       EVP_PKEY *ca_key, long serial)
{
	X509 *c = X509_new();
	if (!c)
		return NULL;
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 7 * 24 * 3600L);
	X509_set_pubkey(c, key);
	X509_NAME *n = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"dpmail test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, ca ? X509_get_subject_name(ca) : n);
	X509 *issuer = ca ? ca : c;
	int bad = 0;
	if (!ca || !san) {
		bad |= add_ext(c, issuer, NID_basic_constraints, san ? "critical,CA:FALSE" : "critical,CA:TRUE");
		if (!san)
			bad |= add_ext(c, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		bad |= add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
	}
	bad |= add_ext(c, issuer, NID_subject_key_identifier, "hash");
	if (ca)
		bad |= add_ext(c, issuer, NID_authority_key_identifier, "keyid");
	if (san) {
		bad |= add_ext(c, issuer, NID_subject_alt_name, san);
		bad |= add_ext(c, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (bad || !X509_sign(c, ca_key ? ca_key : key, EVP_sha256())) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int leaf(const char *dir, const char *name, EVP_PKEY *key, const char *cn,
		const char *san, X509 *ca, EVP_PKEY *ca_key, long serial)
{
	int rc = -1;
	X509 *c;
	if (!key)
		return -1;
	c = make_cert(key, cn, san, ca, ca_key, serial);
	if (c)
		rc = write_pem(dir, name, key, c, ca);
	X509_free(c);
	EVP_PKEY_free(key);
	return rc;
}

int tls_testcert_make(const char *dir)
{
	int rc = -1;
	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	X509 *ca = ca_key ? make_cert(ca_key, "dpmail test CA", NULL, NULL, NULL, 1) : NULL;
	if (!ca || write_pem(dir, "ca", ca_key, ca, NULL) < 0)
		goto out;
	if (leaf(dir, "ecdsa", EVP_EC_gen("P-256"), "mx.test", "DNS:mx.test,DNS:*.mx.test", ca,
		 ca_key, 2) < 0 ||
	    leaf(dir, "rsa", EVP_RSA_gen(2048), "mx.test", "DNS:mx.test,DNS:*.mx.test", ca, ca_key,
		 3) < 0 ||
	    leaf(dir, "other", EVP_EC_gen("P-256"), "other.test", "DNS:other.test", ca, ca_key, 4) < 0 ||
	    leaf(dir, "rogue", EVP_EC_gen("P-256"), "mx.test", "DNS:mx.test", NULL, NULL, 5) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "tls_testcert: cannot make test certificates in %s\n", dir);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}
