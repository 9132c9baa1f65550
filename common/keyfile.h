/* SPDX-License-Identifier: MIT */
/*
 * keyfile.h: reading a fixed-size secret (spool encryption keys, the accounting pseudonym key)
 * from a file, at start-up or reload only (it blocks on the file system).
 *
 * A key file holds exactly the key: `len` raw bytes, or 2*len hexadecimal digits followed by at
 * most one newline (what `openssl rand -hex 32 > key` writes). Anything else is refused, so a
 * hex file is never silently taken as raw bytes and a truncated file is never zero-padded.
 * A file readable by "other" is accepted with a warning (operators' umask varies; the key must
 * still load after a restore), mirroring how Postfix treats its private keys.
 */
#ifndef DPMAIL_KEYFILE_H
#define DPMAIL_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

/* Fills key[0..len) from path. 0, or -errno (open/read) / -EINVAL (wrong size or content) with
 * *why set to a static phrase for the operator's error line. len is at most 64. */
int keyfile_read(const char *path, uint8_t *key, size_t len, const char **why);

#endif
