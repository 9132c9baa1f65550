/* SPDX-License-Identifier: MIT */
/*
 * spool_recover.c: start-up recovery of one core's spool (blocking; runs before the lcore loop).
 * Every segment is read in sequence order and scanned record by record (CRC, then the GCM tag
 * when sealed). Chunk records are remembered by position; a commit record makes a message live
 * only if every chunk it lists was seen intact with its queue id; outcome and state records
 * then replay the per-recipient state, and a message whose recipients are all final is dropped.
 * A torn tail (a bad record with nothing valid after it: the unsynced end of the last write) is
 * truncated; a bad record followed by valid ones is corruption: the rest of the segment is moved
 * to the quarantine directory with a log line and never delivered. Nothing here trusts a length
 * read from disk.
 */
#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Chunks seen so far: open addressing on position (seq << 32 | off). */
struct chunk_set {
	struct chunk_ent {
		uint64_t pos;         /* 0 = empty (offset 0 always holds SEGHDR) */
		uint64_t qid;
		uint32_t reclen;
	} *t;
	uint32_t mask, n;
};

static int cs_put(struct chunk_set *cs, uint64_t pos, uint64_t qid, uint32_t reclen)
{
	if (2 * (cs->n + 1) > cs->mask + 1 || !cs->t) {
		uint32_t nsz = cs->t ? 2 * (cs->mask + 1) : 4096;
		struct chunk_ent *nt = calloc(nsz, sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		for (uint32_t i = 0; cs->t && i <= cs->mask; i++) {
			if (!cs->t[i].pos)
				continue;
			uint32_t j = (uint32_t)(cs->t[i].pos * 0x9E3779B97F4A7C15ull >> 32) & (nsz - 1);
			while (nt[j].pos)
				j = (j + 1) & (nsz - 1);
			nt[j] = cs->t[i];
		}
		free(cs->t);
		cs->t = nt;
		cs->mask = nsz - 1;
	}
	uint32_t j = (uint32_t)(pos * 0x9E3779B97F4A7C15ull >> 32) & cs->mask;
	while (cs->t[j].pos && cs->t[j].pos != pos)
		j = (j + 1) & cs->mask;
	if (!cs->t[j].pos)
		cs->n++;
	cs->t[j] = (struct chunk_ent){ pos, qid, reclen };
	return 0;
}

static const struct chunk_ent *cs_get(const struct chunk_set *cs, uint64_t pos)
{
	if (!cs->t)
		return NULL;
	uint32_t j = (uint32_t)(pos * 0x9E3779B97F4A7C15ull >> 32) & cs->mask;
	while (cs->t[j].pos) {
		if (cs->t[j].pos == pos)
			return &cs->t[j];
		j = (j + 1) & cs->mask;
	}
	return NULL;
}

struct rcv {
	struct spool *sp;
	struct chunk_set cs;
	struct spool_seg *seg;
};

static int rec_commit(struct rcv *rc, const uint8_t *pl, uint32_t plen, uint64_t off, uint32_t reclen)
{
	struct spool *sp = rc->sp;
	struct spool_commit_view v;
	if (spool_commit_decode(pl, plen, &v))
		return -EBADMSG;
	uint32_t home = rc->seg->seq;
	for (uint32_t i = 0; i < v.nchunks; i++) {
		struct spool_chunk_ref c;
		spool_commit_chunk(&v, i, &c);
		const struct chunk_ent *ce = cs_get(&rc->cs, (uint64_t)c.seq << 32 | c.off);
		if (!ce || ce->qid != v.qid || ce->reclen != c.reclen) {
			char q[17];
			bool copy = spool_index_get(sp, v.qid) != NULL; /* the original stays in charge */
			log_msg(copy ? LOG_LVL_WARN : LOG_LVL_ERR, "qid=%s spool core=%u: chunk %u missing "
				"or damaged, %s", spool_qid_str(v.qid, q), sp->core, i,
				copy ? "incomplete copy ignored" : "message not recovered");
			sp->st.rec_incomplete += !copy;
			return 0;
		}
		if (i == 0)
			home = c.seq;
	}
	struct spool_msg *m = spool_index_get(sp, v.qid);
	if (m) {
		/* a later copy of a live message (compaction): it moves there, state stays */
		spool_seg_unref(sp, spool_seg_find(sp, m->home_seq));
		m->commit_seq = rc->seg->seq;
		m->commit_off = (uint32_t)off;
		m->commit_len = reclen;
		m->home_seq = home;
		struct spool_seg *hs = spool_seg_find(sp, home);
		if (hs)
			hs->live++;
		sp->st.rec_copies++;
		return 0;
	}
	m = spool_msg_new(v.env, v.env_len, (uint16_t)v.nrcpt);
	if (!m)
		return -ENOMEM;
	m->qid = v.qid;
	m->body_len = v.body_len;
	m->commit_seq = rc->seg->seq;
	m->commit_off = (uint32_t)off;
	m->commit_len = reclen;
	m->home_seq = home;
	int e = spool_index_put(sp, m);
	if (e) {
		free(m);
		return e == -EEXIST ? 0 : e;
	}
	struct spool_seg *hs = spool_seg_find(sp, home);
	if (hs)
		hs->live++;
	sp->st.rec_messages++;
	return 0;
}

static int rec_state(struct rcv *rc, uint8_t type, const uint8_t *pl, uint32_t plen)
{
	struct spool_rbuf r = { .p = pl, .len = plen };
	struct spool_msg *m = spool_index_get(rc->sp, spool_get64(&r));
	if (type == SPOOL_REC_OUTCOME) {
		uint16_t idx = spool_get16(&r);
		uint8_t st = spool_get8(&r);
		if (r.bad || st >= SPOOL_RCPT__MAX)
			return -EBADMSG;
		if (m && idx < m->nrcpt)
			spool_msg_set_status(rc->sp, m, idx, st);
		return 0;
	}
	uint64_t next = spool_get64(&r);
	uint16_t attempts = spool_get16(&r);
	uint16_t n = spool_get16(&r);
	const uint8_t *states = spool_getmem(&r, n);
	if (r.bad)
		return -EBADMSG;
	uint8_t marks = r.off < r.len ? spool_get8(&r) : 0;  /* absent in older records */
	if (!m || n != m->nrcpt)
		return 0; /* dead already (its home segment is gone) or not ours */
	m->next_attempt_us = next;
	m->attempts = attempts;
	m->marks = marks;
	uint8_t *s = spool_msg_states(m);
	m->nfinal = 0;
	for (uint16_t i = 0; i < n; i++) {
		s[i] = states[i] < SPOOL_RCPT__MAX ? states[i] : SPOOL_RCPT_PENDING;
		m->nfinal += s[i] != SPOOL_RCPT_PENDING;
	}
	if (m->nfinal == m->nrcpt)
		spool_msg_kill(rc->sp, m);
	return 0;
}

static int rec_one(struct rcv *rc, uint8_t *buf, uint64_t off, const struct spool_rec_hdr *h)
{
	struct spool *sp = rc->sp;
	uint8_t *pl;
	uint32_t plen;
	/* the classification checked the CRC (rec_one only sees SPOOL_RC_OK records) */
	if (spool_rec_open(sp, rc->seg->seq, off, buf + off, h, &pl, &plen, false))
		return -EBADMSG; /* bad tag, unknown key, or plaintext when encryption is on */
	if (h->flags & SPOOL_RF_SEALED)
		spool_seg_note_key(rc->seg, h->key_id);
	sp->st.rec_records++;
	struct spool_rbuf r = { .p = pl, .len = plen };
	switch (h->type) {
	case SPOOL_REC_SEGHDR: {
		uint32_t fmt = spool_get32(&r);
		uint16_t core = spool_get16(&r);
		uint32_t seq = spool_get32(&r);
		return r.bad || fmt != SPOOL_FORMAT || core != sp->core || seq != rc->seg->seq ||
			       off != 0 ? -EBADMSG : 0;
	}
	case SPOOL_REC_CHUNK: {
		uint64_t qid = spool_get64(&r);
		spool_get32(&r);
		if (r.bad)
			return -EBADMSG;
		return cs_put(&rc->cs, (uint64_t)rc->seg->seq << 32 | off, qid, SPOOL_REC_HDR + h->len);
	}
	case SPOOL_REC_COMMIT:
		return rec_commit(rc, pl, plen, off, SPOOL_REC_HDR + h->len);
	case SPOOL_REC_OUTCOME:
	case SPOOL_REC_STATE:
		return rec_state(rc, h->type, pl, plen);
	case SPOOL_REC_RETRY:
		return 0;
	}
	return -EBADMSG;
}

/* Moves buf[off..len) of a segment to the quarantine directory, durably, before the segment
 * is cut at off. */
static int quarantine(struct spool *sp, struct spool_seg *s, const uint8_t *buf, uint64_t off,
		      uint64_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.at-%08" PRIx64, sp->qdir, s->name, off);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int e = 0;
	for (uint64_t done = 0; done < len - off && !e;) {
		ssize_t n = write(fd, buf + off + done, len - off - done);
		if (n < 0)
			e = -errno;
		else
			done += (uint64_t)n;
	}
	if (!e && fsync(fd) < 0)
		e = -errno;
	close(fd);
	int qd = open(sp->qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!e && (qd < 0 || fsync(qd) < 0))
		e = -errno;
	if (qd >= 0)
		close(qd);
	log_err("spool core=%u seg=%s off=%" PRIu64 " bytes=%" PRIu64 " quarantine=%s err=%d: "
		"corrupt record, rest of the segment quarantined", sp->core, s->name, off, len - off,
		path, e);
	return e;
}

static int read_all(int fd, uint8_t **buf, size_t *cap, uint64_t size)
{
	if (size > *cap) {
		uint8_t *n = realloc(*buf, size);
		if (!n)
			return -ENOMEM;
		*buf = n;
		*cap = size;
	}
	for (uint64_t done = 0; done < size;) {
		ssize_t n = pread(fd, *buf + done, size - done, (off_t)done);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

static int scan_seg(struct rcv *rc, uint8_t *buf, uint64_t len)
{
	struct spool *sp = rc->sp;
	struct spool_seg *s = rc->seg;
	uint64_t off = 0;
	for (;;) {
		struct spool_rec_hdr h;
		enum spool_rec_class c = spool_rec_classify(buf, len, off, &h);
		if (c == SPOOL_RC_OK) {
			int e = rec_one(rc, buf, off, &h);
			if (e == -ENOMEM)
				return e;
			if (e == 0) {
				off += SPOOL_REC_HDR + h.len;
				continue;
			}
			c = SPOOL_RC_CORRUPT; /* CRC fine but tag or content wrong: tampered */
		}
		if (c == SPOOL_RC_CORRUPT) {
			int e = quarantine(sp, s, buf, off, len);
			if (e)
				return e;
			sp->st.rec_quarantined++;
		} else if (c == SPOOL_RC_TORN) {
			log_warn("spool core=%u seg=%s off=%" PRIu64 " bytes=%" PRIu64
				 ": torn tail truncated", sp->core, s->name, off, len - off);
			sp->st.rec_torn++;
		}
		if (off < len && (ftruncate(s->fd, (off_t)off) < 0 || fdatasync(s->fd) < 0))
			return -errno;
		s->size = off;
		return 0;
	}
}

static int parse_name(const char *name, unsigned core, uint32_t *seq, bool exact)
{
	unsigned c, q;
	int n = 0;
	if (sscanf(name, "seg-%3u-%8x%n", &c, &q, &n) != 2 || n != 16 || c != core)
		return -1;
	if (exact && name[n] != '\0')
		return -1;
	*seq = q;
	return 0;
}

int spool_cores_on_disk(const char *dir, bool present[256])
{
	DIR *dp = opendir(dir);
	if (!dp)
		return -errno;
	int n = 0;
	memset(present, 0, 256 * sizeof(present[0]));
	struct dirent *de;
	while ((de = readdir(dp))) {
		unsigned c, q;
		int len = 0;
		if (sscanf(de->d_name, "seg-%3u-%8x%n", &c, &q, &len) == 2 && len == 16 &&
		    !de->d_name[len] && c < 256 && !present[c]) {
			present[c] = true;
			n++;
		}
	}
	closedir(dp);
	return n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists this core's segment seqs (sorted) and raises next_seq past every seq ever used,
 * quarantined ones included. */
static int list_segs(struct spool *sp, uint32_t **out, uint32_t *n)
{
	uint32_t cap = 0, cnt = 0, *v = NULL, seq;
	const char *dirs[2] = { sp->dir, sp->qdir };
	for (int d = 0; d < 2; d++) {
		DIR *dp = opendir(dirs[d]);
		if (!dp)
			return d == 0 ? -errno : 0;
		struct dirent *de;
		while ((de = readdir(dp))) {
			if (parse_name(de->d_name, sp->core, &seq, d == 0))
				continue;
			if (seq >= sp->next_seq)
				sp->next_seq = seq + 1;
			if (d == 1)
				continue;
			if (cnt == cap) {
				cap = cap ? 2 * cap : 64;
				uint32_t *nv = realloc(v, cap * sizeof(*nv));
				if (!nv) {
					closedir(dp);
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			v[cnt++] = seq;
		}
		closedir(dp);
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u32);
	*out = v;
	*n = cnt;
	return 0;
}

static int recover_one(struct rcv *rc, uint32_t seq, uint8_t **buf, size_t *cap)
{
	struct spool *sp = rc->sp;
	struct spool_seg *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->seq = seq;
	s->rfd = -1; /* recovered segments are read only: one buffered descriptor */
	spool_seg_name(sp, seq, s->name, sizeof(s->name));
	s->fd = openat(sp->dirfd, s->name, O_RDWR | O_CLOEXEC);
	struct stat st;
	int e = s->fd < 0 || fstat(s->fd, &st) < 0 ? -errno : 0;
	if (!e)
		e = spool_seg_insert(sp, s);
	if (e) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return e;
	}
	rc->seg = s;
	if ((e = read_all(s->fd, buf, cap, (uint64_t)st.st_size)))
		return e;
	return scan_seg(rc, *buf, (uint64_t)st.st_size);
}

int spool_recover(struct spool *sp, uint64_t now_us)
{
	sp->now = now_us;
	if (sp->nsegs)
		return -EALREADY;
	uint32_t *seqs = NULL, n = 0;
	int e = list_segs(sp, &seqs, &n);
	if (e)
		return e;
	struct rcv rc = { .sp = sp };
	uint8_t *buf = NULL;
	size_t cap = 0;
	for (uint32_t i = 0; i < n && !e; i++)
		e = recover_one(&rc, seqs[i], &buf, &cap);
	free(buf);
	free(seqs);
	free(rc.cs.t);
	if (!e)
		e = spool_seg_open_active(sp, now_us);
	sp->space_next_us = 0;
	spool_space_refresh(sp, now_us);
	if (e) {
		log_err("spool core=%u dir=%s err=%d: recovery failed", sp->core, sp->dir, e);
		return e;
	}
	log_info("spool core=%u dir=%s segments=%u records=%" PRIu64 " live=%u torn=%" PRIu64
		 " quarantined=%" PRIu64 " incomplete=%" PRIu64 " copies=%" PRIu64, sp->core, sp->dir,
		 n, sp->st.rec_records, sp->count, sp->st.rec_torn, sp->st.rec_quarantined,
		 sp->st.rec_incomplete, sp->st.rec_copies);
	return 0;
}
