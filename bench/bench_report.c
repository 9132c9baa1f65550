/* SPDX-License-Identifier: MIT */
/*
 * bench_report.c: `dpmail-bench report RUN.json...` puts runs side by side (a text table, or
 * Markdown with --markdown for docs/benchmarks.md) and with --svg-prefix P writes
 * P-throughput.svg and P-latency.svg: messages/s and end-of-data p99 against concurrency, one
 * line per label. `dpmail-bench verify SENT RECEIVED` compares Message-ID lists for loss and
 * duplicates.
 */
#include "bench.h"
#include "bench_idset.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static double num(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = o;
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, k);
	return cur && json_is_number(cur) ? json_number_value(cur) : 0.0;
}

int bench_report_row(json_t *j, const char *fallback_label, struct bench_row *r)
{
	memset(r, 0, sizeof(*r));
	const char *tool = json_string_value(json_object_get(j, "tool"));
	const char *mode = json_string_value(json_object_get(j, "mode"));
	if (!tool || strcmp(tool, "dpmail-bench") != 0 || !mode)
		return -1;
	const char *label = json_string_value(json_object_get(j, "label"));
	snprintf(r->label, sizeof(r->label), "%s", label && *label ? label : fallback_label);
	r->msgs_s = num(j, "msgs_per_s");
	r->mb_s = num(j, "mb_per_s");
	if (strcmp(mode, "sink") == 0) {
		r->mode = "sink";
		r->sessions = num(j, "connections.peak");
		r->accepted = (long long)num(j, "messages.accepted");
		return 0;
	}
	json_t *mps = json_object_get(json_object_get(j, "config"), "messages_per_session");
	r->mode = mps && json_integer_value(mps) == 0 ? "idle" : "load";
	r->sessions = num(j, "config.sessions");
	r->greeted = (long long)num(j, "sessions.ready_peak");
	r->banner_p99 = num(j, "latency_us.banner.p99") / 1e3;
	r->ehlo_p99 = num(j, "latency_us.ehlo.p99") / 1e3;
	r->tls = json_is_true(json_object_get(json_object_get(j, "config"), "starttls"));
	r->p50 = num(j, "latency_us.eod.p50") / 1e3;
	r->p99 = num(j, "latency_us.eod.p99") / 1e3;
	r->p999 = num(j, "latency_us.eod.p999") / 1e3;
	r->msg_p99 = num(j, "latency_us.msg.p99") / 1e3;
	r->accepted = (long long)num(j, "messages.accepted");
	r->tempfail = (long long)num(j, "messages.tempfail");
	r->permfail = (long long)num(j, "messages.permfail");
	r->errors = (long long)num(j, "messages.errors");
	r->has_sut = json_object_get(j, "sut") != NULL;
	r->sut_k = num(j, "sut.cpu_s_per_1000_msgs");
	r->e2e = num(j, "relay.msgs_per_s");
	r->sut_net_k = num(j, "sut.net_cpu_s_per_1000_msgs");
	return 0;
}

static void print_rows(const struct bench_row *rows, unsigned n, bool md)
{
	static const char *const hdr[] = { "run", "mode", "sessions", "TLS", "msgs/s", "MB/s",
					   "eod p50 ms", "eod p99 ms", "eod p99.9 ms", "msg p99 ms",
					   "accepted", "4xx", "5xx", "errors", "relay e2e msgs/s",
					   "SUT CPU-s/1000 msgs", "msgs/SUT CPU-s",
					   "net of idle CPU-s/1000" };
	unsigned nh = sizeof(hdr) / sizeof(hdr[0]);
	int w = 24; /* the label column: as wide as the longest label, so labels stay whole */
	for (unsigned i = 0; i < n; i++)
		if ((int)strlen(rows[i].label) > w)
			w = (int)strlen(rows[i].label);
	if (md) {
		for (unsigned i = 0; i < nh; i++)
			printf("| %s ", hdr[i]);
		printf("|\n");
		for (unsigned i = 0; i < nh; i++)
			printf(i < 2 ? "|---" : "|---:");
		printf("|\n");
	} else {
		printf("%-*s %-4s %8s %3s %9s %7s %8s %8s %8s %8s %9s %6s %6s %6s %9s %9s %9s %9s\n",
		       w, "run", "mode", "sessions", "TLS", "msgs/s", "MB/s", "eod-p50", "eod-p99",
		       "eod-p999", "msg-p99", "accepted", "4xx", "5xx", "errors", "e2e/s", "SUT-CPU/k",
		       "msg/CPUs", "net-CPU/k");
	}
	for (unsigned i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];
		if (strcmp(r->mode, "idle") == 0)
			continue; /* listed below the table */
		char sut[32] = "-", per[32] = "-", e2e[32] = "-";
		if (r->has_sut && r->sut_k > 0) {
			snprintf(sut, sizeof(sut), "%.3f", r->sut_k);
			snprintf(per, sizeof(per), "%.0f", 1000.0 / r->sut_k);
		}
		if (r->e2e > 0)
			snprintf(e2e, sizeof(e2e), "%.1f", r->e2e);
		char net[32] = "-";
		if (r->sut_net_k > 0)
			snprintf(net, sizeof(net), "%.3f", r->sut_net_k);
		if (md)
			printf("| %s | %s | %.0f | %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %lld | "
			       "%lld | %lld | %lld | %s | %s | %s | %s |\n",
			       r->label, r->mode, r->sessions, r->tls ? "yes" : "no", r->msgs_s, r->mb_s,
			       r->p50, r->p99, r->p999, r->msg_p99, r->accepted, r->tempfail,
			       r->permfail, r->errors, e2e, sut, per, net);
		else
			printf("%-*s %-4s %8.0f %3s %9.1f %7.2f %8.2f %8.2f %8.2f %8.2f %9lld %6lld "
			       "%6lld %6lld %9s %9s %9s %9s\n",
			       w, r->label, r->mode, r->sessions, r->tls ? "yes" : "no", r->msgs_s, r->mb_s,
			       r->p50, r->p99, r->p999, r->msg_p99, r->accepted, r->tempfail,
			       r->permfail, r->errors, e2e, sut, per, net);
	}
}

/* Idle-session runs: how many were greeted and how fast, one line each. */
static void print_idle(const struct bench_row *rows, unsigned n, bool md)
{
	for (unsigned i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];
		if (strcmp(r->mode, "idle") != 0)
			continue;
		printf("%sidle sessions %s: %lld of %.0f greeted%s, banner p99 %.2f ms, EHLO p99 %.2f ms\n",
		       md ? "\n- " : "", r->label, r->greeted, r->sessions, r->tls ? " (STARTTLS)" : "",
		       r->banner_p99, r->ehlo_p99);
	}
}

/* Groups load rows by label into series (x = sessions), sorted by x. */
static unsigned series_of(const struct bench_row *rows, unsigned n, bool latency,
			  struct bench_svg_series *s)
{
	unsigned ns = 0;
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(rows[i].mode, "load") != 0)
			continue;
		unsigned k = 0;
		while (k < ns && strcmp(s[k].name, rows[i].label) != 0)
			k++;
		if (k == ns) {
			if (ns == BENCH_SVG_MAX_SERIES)
				continue;
			s[ns] = (struct bench_svg_series){ .name = rows[i].label };
			ns++;
		}
		if (s[k].n == BENCH_SVG_MAX_POINTS)
			continue;
		unsigned at = s[k].n++;
		while (at > 0 && s[k].x[at - 1] > rows[i].sessions) { /* insertion sort by x */
			s[k].x[at] = s[k].x[at - 1];
			s[k].y[at] = s[k].y[at - 1];
			at--;
		}
		s[k].x[at] = rows[i].sessions;
		s[k].y[at] = latency ? rows[i].p99 : rows[i].msgs_s;
	}
	return ns;
}

static int write_plots(const char *prefix, const struct bench_row *rows, unsigned n)
{
	struct bench_svg_series s[BENCH_SVG_MAX_SERIES];
	char path[4096];
	for (int lat = 0; lat < 2; lat++) {
		unsigned ns = series_of(rows, n, lat, s);
		bool logx = false;
		for (unsigned i = 0; i < ns; i++)
			for (unsigned k = 0; k < s[i].n; k++)
				logx |= s[i].x[k] >= 100 * s[i].x[0];
		snprintf(path, sizeof(path), "%s-%s.svg", prefix, lat ? "latency" : "throughput");
		if (bench_svg_write(path, lat ? "End of data to 250, p99" : "Throughput",
				    "concurrent sessions", lat ? "milliseconds" : "messages per second",
				    s, ns, logx) < 0) {
			fprintf(stderr, "dpmail-bench report: cannot write %s\n", path);
			return -1;
		}
		printf("wrote %s\n", path);
	}
	return 0;
}

/* Runs grouped by label, then by concurrency. */
static int row_cmp(const void *a, const void *b)
{
	const struct bench_row *x = a, *y = b;
	int c = strcmp(x->label, y->label);
	if (c)
		return c;
	return (x->sessions > y->sessions) - (x->sessions < y->sessions);
}

int bench_report_main(int argc, char **argv)
{
	static const struct option opts[] = { { "svg-prefix", 1, 0, 's' }, { "markdown", 0, 0, 'm' },
					      { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	const char *svg = NULL;
	bool md = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': svg = optarg; break;
		case 'm': md = true; break;
		case 'h': printf("usage: dpmail-bench report [--markdown] [--svg-prefix P] RUN.json...\n"); return 0;
		default: return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: dpmail-bench report [--markdown] [--svg-prefix P] RUN.json...\n");
		return 2;
	}
	unsigned n = 0, cap = (unsigned)(argc - optind);
	struct bench_row *rows = calloc(cap, sizeof(*rows));
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		json_error_t e;
		json_t *j = json_load_file(argv[i], 0, &e);
		const char *base = strrchr(argv[i], '/');
		if (!j || bench_report_row(j, base ? base + 1 : argv[i], &rows[n]) < 0) {
			fprintf(stderr, "dpmail-bench report: %s: not a dpmail-bench run (%s)\n", argv[i],
				j ? "unknown format" : e.text);
			rc = 1;
		} else {
			n++;
		}
		json_decref(j);
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	print_rows(rows, n, md);
	print_idle(rows, n, md);
	if (svg && write_plots(svg, rows, n) < 0)
		rc = 1;
	free(rows);
	return rc;
}

/* ---- verify ------------------------------------------------------------------------------- */

static int load_ids(const char *path, struct bench_idset *set, uint64_t *lines, uint64_t *dups)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "dpmail-bench verify: cannot read %s\n", path);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		(*lines)++;
		if (bench_idset_add(set, line, (size_t)n) == 0)
			(*dups)++;
	}
	free(line);
	fclose(f);
	return 0;
}

struct verify_ctx {
	const struct bench_idset *other;
	uint64_t missing;
	const char *example;
};

static void count_missing(void *p, const char *id)
{
	struct verify_ctx *v = p;
	if (!bench_idset_has(v->other, id, strlen(id))) {
		v->missing++;
		if (!v->example)
			v->example = id;
	}
}

int bench_verify_main(int argc, char **argv)
{
	const char *json = NULL;
	if (argc == 5 && strcmp(argv[3], "--json") == 0)
		json = argv[4];
	else if (argc != 3) {
		fprintf(stderr, "usage: dpmail-bench verify SENT_IDS RECEIVED_IDS [--json FILE]\n");
		return 2;
	}
	struct bench_idset sent, recv;
	bench_idset_init(&sent);
	bench_idset_init(&recv);
	uint64_t ns = 0, sd = 0, nr = 0, rd = 0;
	int rc = 2;
	if (load_ids(argv[1], &sent, &ns, &sd) < 0 || load_ids(argv[2], &recv, &nr, &rd) < 0)
		goto out;
	struct verify_ctx lost = { .other = &recv }, extra = { .other = &sent };
	bench_idset_each(&sent, count_missing, &lost);
	bench_idset_each(&recv, count_missing, &extra);
	printf("sent %lu (dup %lu), received %lu (unique %lu), lost %lu, duplicates %lu, unexpected %lu\n",
	       (unsigned long)ns, (unsigned long)sd, (unsigned long)nr, (unsigned long)recv.count,
	       (unsigned long)lost.missing, (unsigned long)rd, (unsigned long)extra.missing);
	if (lost.example)
		printf("  first lost: %s\n", lost.example);
	if (json) {
		json_t *j = json_pack("{ss ss sI sI sI sI sI}", "tool", "dpmail-bench", "mode", "verify",
				      "sent", (json_int_t)ns, "received", (json_int_t)nr, "lost",
				      (json_int_t)lost.missing, "duplicates", (json_int_t)rd,
				      "unexpected", (json_int_t)extra.missing);
		bench_json_save(j, json);
		json_decref(j);
	}
	rc = lost.missing == 0 && rd == 0 && sd == 0 ? 0 : 1;
out:
	bench_idset_free(&sent);
	bench_idset_free(&recv);
	return rc;
}
