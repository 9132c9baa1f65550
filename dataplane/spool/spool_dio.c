/* SPDX-License-Identifier: MIT */
/*
 * spool_dio.c: direct I/O for segment writes. Buffered writes cost a page-cache copy, writeback
 * from the fdatasync (in an io_uring worker thread), and, for an append, an inode write per
 * commit (size and extents; a journal commit on a journalling ext4). In direct mode a batch is
 * written with O_DIRECT from its aligned stage buffer, and the active segment is zero-filled a
 * few MiB ahead of the write position in the background (one zero write + fdatasync per step),
 * so a commit overwrites blocks that are already allocated, written and durable: its fdatasync
 * has only the device cache flush left to do. Writes start on a block boundary: a batch begins
 * with a copy of the segment's last partial block (bytes already written, rewritten identical)
 * and is padded with zeros to the next boundary, so the bytes on disk are exactly those of a
 * buffered spool (the record format does not change, recovery reads the zeros as the end).
 * Body readers use a second, buffered descriptor; fresh records come from the read cache.
 * Filesystems without direct I/O (tmpfs) keep buffered writes (logged at start-up).
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define DIO_ALIGN 4096u          /* the page size: also the physical block of most devices */
#define ZERO_STEP (1u << 20)     /* one zero-fill write */

uint32_t spool_dio_round(const struct spool *sp, uint64_t v)
{
	return (uint32_t)((v + sp->align - 1) & ~(uint64_t)(sp->align - 1));
}

static bool dio_supported(int fd, uint32_t *mem, uint32_t *off)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN) || stx.stx_dio_offset_align == 0)
		return false;
	*mem = stx.stx_dio_mem_align;
	*off = stx.stx_dio_offset_align;
	return *mem <= DIO_ALIGN && *off <= DIO_ALIGN;
}

int spool_dio_setup(struct spool *sp, int fd)
{
	if (sp->align)
		return 0; /* decided with the first segment */
	sp->align = 1;
	if (sp->t.direct_io == SPOOL_DIO_OFF) {
		log_info("spool core=%u dir=%s direct_io=off: buffered writes + fdatasync", sp->core,
			 sp->dir);
		return 0;
	}
	uint32_t mem = 0, off = 0;
	bool ok = dio_supported(fd, &mem, &off);
	int fl = ok ? fcntl(fd, F_GETFL) : -1;
	void *z = NULL;
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0 || posix_memalign(&z, DIO_ALIGN, ZERO_STEP)) {
		if (sp->t.direct_io == SPOOL_DIO_ON) {
			log_err("spool core=%u dir=%s direct_io=on: the filesystem does not support "
				"direct I/O", sp->core, sp->dir);
			return -EINVAL;
		}
		log_info("spool core=%u dir=%s direct_io=unsupported: buffered writes + fdatasync",
			 sp->core, sp->dir);
		return 0;
	}
	memset(z, 0, ZERO_STEP);
	sp->zeros = z;
	sp->direct = true;
	sp->align = DIO_ALIGN;
	sp->st.direct = 1;
	log_info("spool core=%u dir=%s direct_io=on mem_align=%u offset_align=%u write_align=%u "
		 "prezero=%u read_cache=%u", sp->core, sp->dir, mem, off, sp->align,
		 sp->t.prezero_bytes, sp->t.read_cache_bytes);
	return 0;
}

int spool_seg_rfd(const struct spool_seg *s)
{
	return s->rfd >= 0 ? s->rfd : s->fd;
}

/* The first segment of a run (start-up, blocking): created buffered, switched to O_DIRECT by
 * spool_dio_setup() when supported, plus a buffered descriptor for readers. */
int spool_dio_open_seg(struct spool *sp, struct spool_seg *s, int flags)
{
	s->fd = openat(sp->dirfd, s->name, flags, 0600);
	if (s->fd < 0)
		return -errno;
	int e = spool_dio_setup(sp, s->fd);
	if (!e && sp->direct && (s->rfd = openat(sp->dirfd, s->name, O_RDONLY | O_CLOEXEC)) < 0)
		e = -errno;
	return e;
}

bool spool_dio_overlaps_zero(const struct spool_seg *s, uint64_t off, uint64_t end)
{
	return s->zpending && end > s->zstart && off < s->zend;
}

/* Zero-fill keeps `zeroed` between prezero_bytes / 2 and prezero_bytes ahead of the write
 * position, up to the segment's size. Each step is one write of ZERO_STEP zeros past everything
 * staged, linked to an fdatasync (the new size and extents become durable here, off the commit
 * path); steps start only when the lead fell under half, so they are few and large (a step per
 * commit would put the metadata write back on every commit). A staged batch never overlaps a
 * step in flight: spool_stage_flush() waits for it (see overlaps_zero). */
void spool_dio_prezero(struct spool *sp)
{
	struct spool_seg *s = spool_seg_active(sp);
	if (!sp->direct || !sp->t.prezero_bytes || !s || s->poisoned || s->zpending ||
	    sp->now < sp->zero_retry_us)
		return;
	uint64_t pos = spool_dio_round(sp, s->size);
	uint64_t start = s->zeroed > pos ? s->zeroed : pos;
	uint64_t limit = spool_dio_round(sp, sp->t.segment_bytes);
	if (start >= limit || start >= pos + sp->t.prezero_bytes / 2)
		return;
	uint32_t n = limit - start > ZERO_STEP ? ZERO_STEP : (uint32_t)(limit - start);
	if (io_uring_sq_space_left(&sp->ring) < 2)
		io_uring_submit(&sp->ring);
	struct io_uring_sqe *sqe = spool_sqe(sp, s, SPOOL_OP_ZERO);
	if (!sqe)
		return;
	io_uring_prep_write(sqe, s->fd, sp->zeros, n, start);
	sqe->flags |= IOSQE_IO_LINK;
	struct io_uring_sqe *sq2 = spool_sqe(sp, s, SPOOL_OP_ZERO);
	if (!sq2) {
		sqe->flags &= (uint8_t)~IOSQE_IO_LINK;
		s->zpending = 1;
	} else {
		io_uring_prep_fsync(sq2, s->fd, IORING_FSYNC_DATASYNC);
		s->zpending = 2;
	}
	s->zres = sq2 ? 0 : -EAGAIN; /* without its sync the step does not count */
	s->zstart = start;
	s->zend = start + n;
}

void spool_dio_zero_done(struct spool *sp, struct spool_seg *s, int res)
{
	if (res == -ECANCELED)
		res = -EIO;
	if (res < 0 && s->zres == 0)
		s->zres = res;
	if (--s->zpending)
		return;
	if (s->zres == 0) {
		s->zeroed = s->zend;
		sp->st.zero_bytes += s->zend - s->zstart;
		return;
	}
	if (s->zres != -EAGAIN)
		log_warn("spool core=%u seg=%s op=zerofill off=%" PRIu64 " err=%d: retrying in 1s "
			 "(commits there pay the metadata sync)", sp->core, s->name, s->zstart, s->zres);
	sp->zero_retry_us = sp->now + 1000000;
}
