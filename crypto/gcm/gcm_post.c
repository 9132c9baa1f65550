// SPDX-License-Identifier: MIT
/*
 * gcm_post.c: what arrives after the handshake besides application data: alerts
 * (close_notify, warnings, fatal), TLS 1.3 KeyUpdate in both directions (RFC 8446 §4.6.3,
 * §7.2) and NewSessionTicket (handed to the owner through s->on_ticket when whole within one
 * record, so a TLS 1.3 client keeps it for resumption; otherwise counted and dropped). Anything else (TLS 1.2 renegotiation, 1.3 post-handshake
 * authentication) ends the session with an alert: dpmail's contexts never ask for them.
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <string.h>

enum { HS_NEW_SESSION_TICKET = 4, HS_KEY_UPDATE = 24 };

static int post_fail(struct gcm_sess *s, uint8_t a, int rc)
{
	if (s->state != GCM_SESS_FAILED) {
		s->alert_out = a;
		gcm_sess_enter(s, GCM_SESS_FAILED);
	}
	return rc;
}

int gcm_dir_update(struct gcm_sess *s, struct gcm_dir_state *d)
{
	size_t hl = gcm_suite_hash_len(s->suite);
	uint8_t next[GCM_MAX_SECRET], key[32], iv[GCM_IV_LEN];
	int rc;

	/* application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length) */
	rc = gcm_hkdf_expand_label(s->suite, d->secret, "traffic upd", NULL, 0, next, hl);
	if (!rc)
		rc = gcm_tls13_traffic_keys(s->suite, next, key, iv);
	if (!rc)
		rc = gcm_key_set(s->eng, &d->keys[(d->gen + 1) & 1], key, gcm_suite_key_len(s->suite));
	if (!rc) {
		memcpy(d->secret, next, hl);
		memcpy(d->iv, iv, GCM_IV_LEN);
		d->gen++;
		d->seq = 0;
	}
	memset(next, 0, sizeof(next));
	memset(key, 0, sizeof(key));
	return rc;
}

static int alert_input(struct gcm_sess *s, const uint8_t *p, size_t len)
{
	if (len != 2)
		return post_fail(s, GCM_ALERT_DECODE_ERROR, -EPROTO);
	s->peer_alert = p[1];
	if (p[1] == GCM_ALERT_CLOSE_NOTIFY) {
		s->peer_closed = true;
		gcm_sess_enter(s, s->state == GCM_SESS_CLOSED ? GCM_SESS_CLOSED
							     : GCM_SESS_PEER_CLOSED);
		return GCM_EV_CLOSE_NOTIFY;
	}
	/* 1.3: every alert but close_notify/user_canceled is fatal; 1.2: by level */
	if ((s->version == GCM_TLS13 && p[1] == 90) || (s->version == GCM_TLS12 && p[0] == 1))
		return GCM_EV_NONE;
	gcm_sess_enter(s, GCM_SESS_FAILED);
	s->alert_out = 0xff; /* nothing to send back after a fatal alert */
	return GCM_EV_ALERT;
}

/* A complete KeyUpdate (header in hs_buf[0..4), request byte at hs_buf[4]). */
static int key_update_input(struct gcm_sess *s, bool last_in_record)
{
	uint8_t req = s->hs_buf[4];

	if (req > 1)
		return post_fail(s, 47 /* illegal_parameter */, -EPROTO);
	/* the message must end its record: what follows would be under the old key */
	if (!last_in_record)
		return post_fail(s, GCM_ALERT_UNEXPECTED_MESSAGE, -EPROTO);
	if (gcm_dir_update(s, &s->rd))
		return post_fail(s, GCM_ALERT_INTERNAL_ERROR, -EIO);
	s->stats.key_updates_in++;
	if (req == 1)
		s->key_update_due = true;
	return 0;
}

/* Feeds TLS 1.3 handshake bytes; messages may span records (tickets) or share one. */
static int hs13_input(struct gcm_sess *s, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t take;
		uint32_t mlen;

		if (s->hs_len == 0 && !s->hs_skip && s->on_ticket && len >= 4 &&
		    p[0] == HS_NEW_SESSION_TICKET) {
			size_t ml = 4 + ((size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);

			if (ml <= len) {
				s->stats.tickets_in++;
				s->stats.tickets_kept++;
				s->on_ticket(s->ticket_ctx, p, ml);
				p += ml;
				len -= ml;
				continue;
			}
		}
		if (s->hs_skip) {
			take = len < s->hs_skip ? len : s->hs_skip;
			s->hs_skip -= (uint32_t)take;
			p += take;
			len -= take;
			continue;
		}
		/* header first (4 bytes); a KeyUpdate also keeps its 1-byte body */
		take = (size_t)((s->hs_len < 4 ? 4 : 5) - s->hs_len);
		take = take < len ? take : len;
		memcpy(s->hs_buf + s->hs_len, p, take);
		s->hs_len += (uint8_t)take;
		p += take;
		len -= take;
		if (s->hs_len < 4)
			break;
		mlen = (uint32_t)s->hs_buf[1] << 16 | (uint32_t)s->hs_buf[2] << 8 | s->hs_buf[3];
		if (s->hs_len == 4) {
			if (s->hs_buf[0] == HS_NEW_SESSION_TICKET) {
				s->stats.tickets_in++;
				s->hs_skip = mlen;
				s->hs_len = 0;
			} else if (s->hs_buf[0] != HS_KEY_UPDATE) {
				return post_fail(s, GCM_ALERT_UNEXPECTED_MESSAGE, -EPROTO);
			} else if (mlen != 1) {
				return post_fail(s, GCM_ALERT_DECODE_ERROR, -EPROTO);
			}
			continue;
		}
		s->hs_len = 0;
		if (key_update_input(s, len == 0))
			return -EPROTO;
	}
	return GCM_EV_NONE;
}

int gcm_post_input(struct gcm_sess *s, uint8_t ct, const uint8_t *p, size_t len)
{
	if (ct == GCM_CT_ALERT)
		return alert_input(s, p, len);
	if (s->version == GCM_TLS12)
		/* HelloRequest or a renegotiating ClientHello: renegotiation is off */
		return post_fail(s, GCM_ALERT_NO_RENEGOTIATION, -EPROTO);
	if (len == 0)
		return post_fail(s, GCM_ALERT_UNEXPECTED_MESSAGE, -EPROTO);
	return hs13_input(s, p, len);
}

bool gcm_sess_key_update_wanted(const struct gcm_sess *s)
{
	return s->version == GCM_TLS13 && s->state != GCM_SESS_FAILED &&
	       s->state != GCM_SESS_CLOSED && (s->key_update_due || s->wr.seq >= s->seq_limit);
}

int gcm_key_update_prep(struct gcm_sess *s, struct gcm_op *op, uint8_t *rec, bool requested)
{
	uint8_t *p = rec + GCM_TLS_HDR;

	if (s->version != GCM_TLS13)
		return -EPROTO;
	p[0] = HS_KEY_UPDATE;
	p[1] = 0;
	p[2] = 0;
	p[3] = 1;
	p[4] = requested ? 1 : 0;
	return gcm_seal_prep(s, op, GCM_CT_HANDSHAKE, rec, 5);
}

int gcm_key_update_commit(struct gcm_sess *s, int status)
{
	if (status || gcm_dir_update(s, &s->wr))
		return post_fail(s, GCM_ALERT_INTERNAL_ERROR, -EIO);
	s->key_update_due = false;
	s->stats.key_updates_out++;
	return 0;
}

int gcm_key_update_seal(struct gcm_sess *s, struct gcm_engine *e, struct gcm_op *op,
			uint8_t *rec, bool requested, uint64_t now)
{
	int n = gcm_key_update_prep(s, op, rec, requested);

	if (n < 0)
		return n;
	gcm_engine_enqueue(e, op, now);
	/* every op queued under the older slot must run before the slot is reused */
	gcm_engine_flush(e);
	if (!op->done)
		gcm_seal_finish(op);
	return gcm_key_update_commit(s, op->status) < 0 ? -EIO : n;
}
