/* SPDX-License-Identifier: MIT */
/*
 * smtp-t.h: types of the SMTP engines. The server and client engines are transport-agnostic:
 * the caller feeds received bytes in (smtp_server_input / smtp_client_input), drains the output
 * buffer, and answers events raised through a hooks struct. They know nothing of DPDK, TLS or
 * the spool; time comes in as `now` (microseconds, monotonic) from the caller.
 *
 * Everything here is fixed-size so a session can live in a per-core pool: no allocation on
 * the data path. Sizes below are hard upper bounds; struct smtp_limits holds the configured
 * (smaller or equal) values.
 */
#ifndef DPMAIL_SMTP_T_H
#define DPMAIL_SMTP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_LOCAL_MAX     64      /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX    255     /* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX      256     /* RFC 5321 4.5.3.1.3, including the angle brackets */
#define SMTP_LINE_BUF_MAX  4096    /* hard bound of a carried partial command line */
#define SMTP_OBUF_SIZE     8192    /* server and client output buffer */
#define SMTP_CHUNK_SIZE    16384   /* client: one BDAT chunk, header included (one TLS record) */
#define SMTP_REPLY_RESERVE 1024    /* room needed in the output buffer before a command runs */
#define SMTP_ENVID_MAX     100     /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX     500     /* RFC 3461 4.2: decoded xtext bound */
#define SMTP_TEXT_MAX      512     /* one reply text kept by the client */
#define SMTP_HELO_MAX      255
#define SMTP_AUTHID_MAX    255
#define SMTP_FROM_HDR_MAX  1024    /* From: header value collected for the sender check */

/* ---- configuration ------------------------------------------------------------------------- */

enum smtp_newline_policy {
	SMTP_NL_REJECT = 0,        /* bare CR or LF in commands or data is an error (default) */
	SMTP_NL_NORMALISE,         /* bare CR and bare LF both mean CRLF, everywhere */
};

/* Server limits and policy knobs (smtp_limits_defaults() fills RFC/industry defaults). */
struct smtp_limits {
	uint32_t cmd_line_max;        /* octets incl. CRLF; 512; bounded by SMTP_LINE_BUF_MAX */
	uint32_t text_line_max;       /* octets incl. CRLF in DATA; 1000 */
	bool text_line_reject;        /* true: longer DATA lines reject the message (5.5.2) */
	uint32_t header_max;          /* header section octets; 256 KiB */
	uint64_t message_max;         /* octets; advertised in SIZE; 50 MiB */
	uint32_t rcpt_max;            /* per message; >= 100 (RFC 5321 4.5.3.1.8) */
	uint32_t errors_max;          /* error replies per session before 421 */
	uint32_t commands_max;        /* commands per session before 421 */
	enum smtp_newline_policy newline;
	uint64_t cmd_timeout_us;      /* waiting for a command: 5 min (RFC 5321 4.5.3.2.7) */
	uint64_t data_timeout_us;     /* between data blocks: 3 min (4.5.3.2.5) */
	uint32_t min_data_rate;       /* octets/s averaged over a window during DATA/BDAT; 0 = off */
	uint64_t rate_window_us;      /* window of the min rate check: 30 s */
	bool advertise_requiretls;    /* REQUIRETLS after TLS (RFC 8689) */
};

/* ---- addresses and envelope ---------------------------------------------------------------- */

/* A parsed RFC 5321 path. addr is the mailbox as text ("local@domain", source route removed,
 * domain folded to lower case, local part as sent, quotes kept). Empty for the null path. */
struct smtp_path {
	char addr[SMTP_PATH_MAX + 1];
	uint16_t len;
	uint16_t local_len;           /* addr[0..local_len) is the local part */
	uint16_t domain_off;          /* addr + domain_off is the domain (or "[literal]") */
	bool null_path;               /* <> */
	bool utf8;                    /* contains non-ASCII octets (needs SMTPUTF8) */
	bool ip_literal;              /* domain is an address literal */
	bool quoted;                  /* local part was a quoted string */
	bool route_stripped;          /* an A-d-l source route was present and removed */
};

enum smtp_body_type { SMTP_BODY_UNSPEC = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_dsn_ret { SMTP_RET_UNSPEC = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

enum smtp_notify_flags {
	SMTP_NOTIFY_NEVER = 1u << 0,
	SMTP_NOTIFY_SUCCESS = 1u << 1,
	SMTP_NOTIFY_FAILURE = 1u << 2,
	SMTP_NOTIFY_DELAY = 1u << 3,
};

/* MAIL FROM and its parameters: what the engine keeps for the current transaction. */
struct smtp_mail {
	struct smtp_path from;
	uint64_t size;                /* SIZE= (0 = not given) */
	enum smtp_body_type body;
	enum smtp_dsn_ret ret;
	bool smtputf8;
	bool requiretls;
	char envid[SMTP_ENVID_MAX + 1]; /* decoded xtext; empty when absent */
	char auth[SMTP_AUTHID_MAX + 1]; /* AUTH= (decoded xtext; "<>" kept verbatim) */
};

/* One RCPT TO and its DSN parameters; handed to the rcpt hook, never stored by the engine. */
struct smtp_rcpt {
	struct smtp_path to;
	uint32_t notify;              /* enum smtp_notify_flags; 0 = not given */
	char orcpt_type[32];          /* e.g. "rfc822"; empty when absent */
	char orcpt[SMTP_ORCPT_MAX + 1]; /* decoded xtext */
};

/* ---- replies ------------------------------------------------------------------------------- */

/* A verdict a hook returns: SMTP code, RFC 3463 enhanced code ("2.1.5") and text. Strings are
 * borrowed for the duration of the hook call only; the engine copies them into its output. */
struct smtp_verdict {
	uint16_t code;
	const char *ecode;
	const char *text;
};

/* Ring-less linear output buffer: bytes [head, tail) are pending. */
struct smtp_obuf {
	uint32_t head, tail;
	bool overflow;                /* a reply did not fit: the session must be closed */
	char buf[SMTP_OBUF_SIZE];
};

/* ---- server --------------------------------------------------------------------------------- */

/* One state per protocol phase; changed only by the transition function in smtp_server.c. */
enum smtp_server_state {
	SMTP_S_GREETING = 0,          /* before smtp_server_start(): nothing sent */
	SMTP_S_NEED_HELO,             /* greeted (or after STARTTLS): EHLO/HELO required */
	SMTP_S_READY,                 /* identified, no transaction */
	SMTP_S_MAIL,                  /* MAIL accepted, no recipient yet */
	SMTP_S_RCPT,                  /* at least one recipient accepted */
	SMTP_S_DATA,                  /* receiving DATA octets until <CRLF>.<CRLF> */
	SMTP_S_BDAT,                  /* receiving a BDAT chunk of known size */
	SMTP_S_BDAT_IDLE,             /* between BDAT chunks of one transaction */
	SMTP_S_WAIT_RESULT,           /* end of data; waiting for smtp_server_data_result() */
	SMTP_S_AUTH_PLAIN,            /* 334 sent, waiting for the PLAIN response */
	SMTP_S_AUTH_LOGIN_USER,
	SMTP_S_AUTH_LOGIN_PASS,
	SMTP_S_TLS_WAIT,              /* 220 to STARTTLS sent; input discarded until tls_started */
	SMTP_S_CLOSING,               /* final reply queued; the caller closes after draining */
	SMTP_S__MAX
};

enum smtp_close_reason {
	SMTP_CLOSE_QUIT = 0,
	SMTP_CLOSE_TIMEOUT,
	SMTP_CLOSE_ERRORS,            /* errors_max reached */
	SMTP_CLOSE_COMMANDS,          /* commands_max reached */
	SMTP_CLOSE_PROTOCOL,          /* unrecoverable framing (BDAT without a size, overflow) */
	SMTP_CLOSE_SHUTDOWN,          /* smtp_server_shutdown(): 421 by the caller's request */
};

/* Why a message in progress was given up (data_abort hook). */
enum smtp_data_error {
	SMTP_DATA_OK = 0,
	SMTP_DATA_TOO_BIG,
	SMTP_DATA_HEADER_TOO_BIG,
	SMTP_DATA_BARE_NEWLINE,
	SMTP_DATA_NUL,
	SMTP_DATA_LINE_TOO_LONG,
	SMTP_DATA_FROM_DENIED,
	SMTP_DATA_HOOK_REFUSED,       /* data_begin said no */
	SMTP_DATA_RESET,              /* RSET / close / timeout before the end */
};

struct smtp_server_session;

/*
 * Events up. Every hook is optional. ctx is the caller's context given at init. Verdict hooks
 * receive a verdict pre-filled with the engine's default and may change it; strings they set
 * must stay valid until the hook returns.
 */
struct smtp_server_hooks {
	/* EHLO/HELO accepted by syntax; default 250. */
	void (*helo)(void *ctx, struct smtp_server_session *s, const char *name, bool ehlo,
		     struct smtp_verdict *v);
	/* Sender-domain authorisation at MAIL (client network / AUTH identity); default 250. */
	void (*mail)(void *ctx, struct smtp_server_session *s, const struct smtp_mail *m,
		     struct smtp_verdict *v);
	/* Relay permission at RCPT; default DENY 554 5.7.1. On 2xx the hook owns recording r. */
	void (*rcpt)(void *ctx, struct smtp_server_session *s, const struct smtp_rcpt *r,
		     struct smtp_verdict *v);
	/* Credential check (AUTH PLAIN/LOGIN, after TLS only); default 535 5.7.8. */
	void (*auth)(void *ctx, struct smtp_server_session *s, const char *mech, const char *authzid,
		     const char *authcid, const char *password, struct smtp_verdict *v);
	/* The 220 to STARTTLS is queued: drain output, run the handshake, call tls_started. */
	void (*starttls)(void *ctx, struct smtp_server_session *s);
	/* Message content begins (DATA 354 or first BDAT); default accept (code 354). */
	void (*data_begin)(void *ctx, struct smtp_server_session *s, struct smtp_verdict *v);
	/* Unstuffed, canonical message octets, zero-copy into the input when possible. */
	void (*data_chunk)(void *ctx, struct smtp_server_session *s, const uint8_t *p, size_t n);
	/* Complete message: the engine waits for smtp_server_data_result(). */
	void (*data_end)(void *ctx, struct smtp_server_session *s);
	/* The message in progress is abandoned (after data_begin, before data_end). */
	void (*data_abort)(void *ctx, struct smtp_server_session *s, enum smtp_data_error why);
	/* From: header value (unfolded, raw) at the end of the header section; default allow. Set
	 * v->code >= 400 to reject the message at end of data (550 5.7.1 typical). */
	void (*from_header)(void *ctx, struct smtp_server_session *s, const char *value, size_t len,
			    struct smtp_verdict *v);
	/* Replies are ready to go out as one pipelining batch: drain the output buffer now. */
	void (*flush)(void *ctx, struct smtp_server_session *s);
	/* The session wants the connection closed once the output is drained. Called once. */
	void (*close)(void *ctx, struct smtp_server_session *s, enum smtp_close_reason why);
	/* Each state change (old -> new), for tracing. */
	void (*trace)(void *ctx, struct smtp_server_session *s, enum smtp_server_state from,
		      enum smtp_server_state to);
};

/* Resumable DATA/BDAT content scanner state. */
enum smtp_dscan_state {
	SMTP_D_BOL = 0,               /* at the start of a line */
	SMTP_D_DOT,                   /* "." at the start of a line */
	SMTP_D_DOT_CR,                /* ".\r" at the start of a line */
	SMTP_D_MID,                   /* inside a line */
	SMTP_D_CR,                    /* "\r" inside a line */
};

enum smtp_hdr_state { SMTP_H_BOL = 0, SMTP_H_LINE, SMTP_H_FROM, SMTP_H_DONE };

struct smtp_dscan {
	enum smtp_dscan_state st;
	bool bdat;                    /* no dot handling, no end detection */
	bool cr_in_chunk;             /* the pending CR (state SMTP_D_CR) is in the current input */
	uint32_t line_len;
	uint64_t size;                /* canonical octets of the message so far */
	enum smtp_data_error bad;     /* first error; content stops flowing once set */
	/* header section tracking (From: extraction and header size) */
	enum smtp_hdr_state hst;
	uint32_t hdr_size;
	uint8_t hdr_pfx_len;
	char hdr_pfx[5];
	bool from_seen, from_overflow, from_active;
	uint16_t from_len;
	char from_val[SMTP_FROM_HDR_MAX];
};

struct smtp_server_session {
	enum smtp_server_state state;
	const struct smtp_limits *lim;
	const struct smtp_server_hooks *hooks;
	void *ctx;
	const char *hostname;         /* our name in the greeting and EHLO (borrowed) */

	bool tls;                     /* TLS is active (after tls_started) */
	bool esmtp;                   /* the client said EHLO */
	bool authenticated;
	bool in_input;                /* inside smtp_server_input (defer flush hook) */
	bool discard_line;            /* an over-long command is being skipped to its CRLF */
	bool close_signalled;
	char helo[SMTP_HELO_MAX + 1];
	char auth_id[SMTP_AUTHID_MAX + 1];

	/* transaction */
	struct smtp_mail mail;
	uint32_t rcpt_count;
	uint32_t messages;
	bool bdat_used;               /* BDAT seen in this transaction (DATA refused) */
	bool bdat_last;               /* the current chunk is the LAST one */
	bool bdat_fail;               /* this chunk is read and discarded, then an error reply */
	uint64_t bdat_left;           /* octets left in the current chunk */
	/* reply decided before the end of the content: a discarded BDAT chunk, a refused From: */
	struct smtp_verdict defer_reply;
	struct smtp_dscan ds;

	/* counters */
	uint32_t errors;
	uint32_t commands;

	/* time */
	uint64_t now;
	uint64_t deadline;            /* next timeout (us); 0 = none */
	uint64_t rate_start;          /* start of the current data-rate window */
	uint64_t rate_bytes;          /* octets received in the window */

	/* carried partial command line */
	uint32_t line_len;
	char line[SMTP_LINE_BUF_MAX];

	struct smtp_obuf out;
};

/* ---- client --------------------------------------------------------------------------------- */

enum smtp_client_state {
	SMTP_C_CONNECTED = 0,         /* waiting for the greeting */
	SMTP_C_EHLO,
	SMTP_C_HELO,
	SMTP_C_STARTTLS,
	SMTP_C_TLS_WAIT,              /* caller runs the handshake; then tls_started */
	SMTP_C_IDLE,                  /* ready for a message */
	SMTP_C_MAIL,                  /* replies to MAIL / RCPT / DATA (pipelined or not) */
	SMTP_C_RCPT,
	SMTP_C_DATA,                  /* waiting for 354 */
	SMTP_C_BODY,                  /* sending the body */
	SMTP_C_DOT,                   /* waiting for the final reply */
	SMTP_C_RSET,
	SMTP_C_QUIT,                  /* QUIT sent; waiting for 221 then the server's close */
	SMTP_C_DONE,                  /* finished or failed; the caller closes */
	SMTP_C__MAX
};

enum smtp_tls_policy { SMTP_TLS_NONE = 0, SMTP_TLS_OPPORTUNISTIC, SMTP_TLS_REQUIRED };

enum smtp_ext {
	SMTP_EXT_PIPELINING = 1u << 0,
	SMTP_EXT_SIZE = 1u << 1,
	SMTP_EXT_8BITMIME = 1u << 2,
	SMTP_EXT_SMTPUTF8 = 1u << 3,
	SMTP_EXT_CHUNKING = 1u << 4,
	SMTP_EXT_DSN = 1u << 5,
	SMTP_EXT_STARTTLS = 1u << 6,
	SMTP_EXT_REQUIRETLS = 1u << 7,
	SMTP_EXT_ENHANCED = 1u << 8,
};

/* Client limits (smtp_client_limits_defaults()). */
struct smtp_client_limits {
	uint32_t reply_line_max;      /* octets incl. CRLF; 512 (RFC 5321 4.5.3.1.5) + slack */
	uint32_t reply_lines_max;     /* lines per multi-line reply; 64 */
	uint64_t greeting_timeout_us; /* 5 min (4.5.3.2.1) */
	uint64_t cmd_timeout_us;      /* MAIL 5 min, RCPT 5 min, EHLO 5 min */
	uint64_t data_init_timeout_us;/* 2 min */
	uint64_t block_timeout_us;    /* 3 min */
	uint64_t final_timeout_us;    /* 10 min */
	bool use_bdat;                /* use CHUNKING when offered */
	uint32_t bdat_chunk;          /* most octets pulled per BDAT chunk (before canonicalisation);
				       * 0 = as many as the output buffer holds */
};

/* A finished reply: code, enhanced code (may be empty) and the first line's text. */
struct smtp_reply {
	uint16_t code;
	char ecode[16];
	char text[SMTP_TEXT_MAX];
};

/* One message to send. Strings are borrowed until the message result is reported. */
struct smtp_client_msg {
	const char *from;             /* mailbox without brackets; "" = null path */
	const char *const *rcpts;
	uint32_t nrcpt;
	uint64_t size;                /* estimate for SIZE=, 0 = unknown */
	bool needs_8bit;
	bool needs_smtputf8;
	bool requiretls;
	enum smtp_dsn_ret ret;
	const char *envid;            /* already xtext-encoded, or NULL */
	const uint32_t *notify;       /* per rcpt (enum smtp_notify_flags), or NULL */
	const char *const *orcpt;     /* per rcpt "rfc822;xtext", or NULL */
};

struct smtp_client_session;

struct smtp_client_hooks {
	/* Capabilities known and the session is idle: the caller may call smtp_client_send(). */
	void (*ready)(void *ctx, struct smtp_client_session *c);
	/* STARTTLS accepted (220): run the handshake, then call smtp_client_tls_started(). */
	void (*starttls)(void *ctx, struct smtp_client_session *c);
	/* Pull up to cap body octets into buf. Returns n > 0, 0 at the end, -EAGAIN when not yet
	 * available (call smtp_client_body_ready() later) or another -errno to fail (temporary). */
	long (*body_read)(void *ctx, struct smtp_client_session *c, uint8_t *buf, size_t cap);
	/* Optional, used instead of body_read when set: the same contract, but *p is pointed at
	 * the next n <= cap octets where they lie (taken by the call; borrowed until the next
	 * body_map call), so the canonicaliser reads the body in place instead of from a copy. */
	long (*body_map)(void *ctx, struct smtp_client_session *c, size_t cap, const uint8_t **p);
	/* One recipient's outcome (idx into msg->rcpts). */
	void (*rcpt_result)(void *ctx, struct smtp_client_session *c, uint32_t idx,
			    const struct smtp_reply *r);
	/* The message's outcome (after the final reply, or a local/earlier failure). */
	void (*msg_result)(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r);
	/* Output is ready: drain it. */
	void (*flush)(void *ctx, struct smtp_client_session *c);
	/* The session is over (QUIT done or a failure); why is the reply that ended it. */
	void (*done)(void *ctx, struct smtp_client_session *c, const struct smtp_reply *why);
};

/* Bounded reply parser state (smtp_client_parse.c). */
struct smtp_rparse {
	uint16_t code;                /* code of the reply in progress (0 = none yet) */
	uint32_t lines;
	uint32_t line_len;
	bool bad;
	bool complete;                /* rp->line holds a finished line (reset on the next feed) */
	bool done;                    /* that line ended the reply */
	char line[600];               /* current line (bounded by reply_line_max <= sizeof) */
};

/*
 * The BDAT chunk being gathered or sent (smtp_client_body.c "Chunks"): canonical body octets are
 * written behind a header slot of SMTP_CHUNK_HDR octets; the header goes in front once the
 * chunk closes (end of the body, buffer full, lim->bdat_chunk reached), so its size is exact.
 */
#define SMTP_CHUNK_HDR 32             /* "BDAT " + 20 digits + " LAST" CRLF */
struct smtp_chunk {
	bool open;                    /* gathering: [SMTP_CHUNK_HDR, +len) holds body octets */
	bool closed;                  /* committed: [head, tail) still to send, behind `before` */
	uint32_t len;                 /* canonical octets gathered */
	uint32_t pulled;              /* body octets pulled into it (for lim->bdat_chunk) */
	uint32_t head, tail;
	uint32_t before;              /* octets of out that precede the chunk on the wire */
	char buf[SMTP_CHUNK_SIZE];
};

struct smtp_client_session {
	enum smtp_client_state state;
	const struct smtp_client_limits *lim;
	const struct smtp_client_hooks *hooks;
	void *ctx;
	const char *helo_name;
	enum smtp_tls_policy tls_policy;
	bool tls;
	bool in_input;
	bool body_eof;
	bool body_wait;               /* body_read returned -EAGAIN */
	bool last_cr;                 /* canonicaliser: previous body octet was CR */
	bool at_bol;                  /* canonicaliser: at the start of a line (for dot-stuffing) */
	bool pipelined;               /* current transaction was pipelined */
	bool bdat;                    /* current transaction uses BDAT */
	bool msg_failed;
	bool drop_input;              /* after 220 to STARTTLS: discard what is buffered */
	bool quit_pending;            /* QUIT once the message in flight is finished */
	bool bdat_last_sent;
	bool bdat_stop;               /* a BDAT failed: send no more chunks (RFC 3030 3) */
	bool mail_ok;                 /* MAIL accepted: the server has a transaction to reset */
	bool data_sent;               /* DATA written (pipelined with the RCPTs, or after them) */
	bool rset_pending;            /* RSET pipelined ahead of MAIL: its reply comes first */
	bool body_early;              /* BDAT chunks follow the RCPTs before their replies */
	uint32_t messages_done;       /* transactions completed on this connection */
	uint32_t ext;                 /* enum smtp_ext */
	uint64_t server_size;         /* SIZE limit advertised (0 = none) */
	const struct smtp_client_msg *msg;
	uint32_t rcpt_sent;           /* RCPTs written */
	uint32_t rcpt_replied;        /* RCPT replies seen */
	uint32_t rcpt_ok;
	uint32_t bdat_pending;        /* BDAT replies outstanding */
	struct smtp_reply first_err;  /* first BDAT error */
	uint64_t deadline;
	uint64_t now;
	struct smtp_rparse rp;
	struct smtp_reply reply;      /* reply being assembled (first line text) */
	struct smtp_obuf out;
	struct smtp_chunk chunk;      /* BDAT: the chunk in progress, sent after out's octets */
};

#endif
