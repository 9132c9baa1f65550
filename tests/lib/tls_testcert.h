/* SPDX-License-Identifier: MIT */
/*
 * tls_testcert.h: test PKI for crypto/tls tests and benchmarks, made at run time with OpenSSL
 * (nothing secret is checked in). tls_testcert_make(dir) writes PEM files into dir:
 *   ca.pem ca.key                 test CA (ECDSA P-256)
 *   ecdsa.pem ecdsa.key           leaf, P-256, SAN mx.test, *.mx.test  (chain: leaf + CA)
 *   rsa.pem rsa.key               leaf, RSA-2048, same names          (chain: leaf + CA)
 *   other.pem other.key           leaf for other.test (second SNI identity), same CA
 *   rogue.pem rogue.key           self-signed P-256 for mx.test (not under the CA)
 */
#ifndef DPMAIL_TLS_TESTCERT_H
#define DPMAIL_TLS_TESTCERT_H

/* 0 on success, -1 with a message on stderr. */
int tls_testcert_make(const char *dir);

#endif
