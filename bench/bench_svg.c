/* SPDX-License-Identifier: MIT */
/*
 * bench_svg.c: a small SVG line-chart writer for the reports (throughput and latency against
 * concurrency): axes with "nice" ticks, optional log-scale x, one polyline with markers per
 * series, a legend. Output is plain SVG 1.1 that any browser renders.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define W 760
#define H 440
#define ML 80
#define MR 170
#define MT 40
#define MB 60

static const char *const colors[BENCH_SVG_MAX_SERIES] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
};

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* A tick step of 1, 2 or 5 x 10^k giving about n ticks over span. */
static double nice_step(double span, int n)
{
	double raw = span / n;
	double p = pow(10, floor(log10(raw)));
	double m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void fmt_num(char *buf, size_t len, double v)
{
	if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (fabs(v) >= 1e4)
		snprintf(buf, len, "%.4gk", v / 1e3);
	else
		snprintf(buf, len, "%.4g", v);
}

struct scale {
	double x0, x1, y1;
	bool logx;
};

static double px(const struct scale *sc, double x)
{
	double a = sc->logx ? log10(x > 0 ? x : 1) : x, a0 = sc->logx ? log10(sc->x0) : sc->x0,
	       a1 = sc->logx ? log10(sc->x1) : sc->x1;
	return ML + (a1 > a0 ? (a - a0) / (a1 - a0) : 0.5) * (W - ML - MR);
}

static double py(const struct scale *sc, double y)
{
	return H - MB - (sc->y1 > 0 ? y / sc->y1 : 0) * (H - MT - MB);
}

static void axes(FILE *f, const struct scale *sc, const char *xlabel, const char *ylabel)
{
	char b[32];
	fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#000'/>\n", ML, H - MB, W - MR, H - MB);
	fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#000'/>\n", ML, MT, ML, H - MB);
	double ys = nice_step(sc->y1, 5);
	for (double y = 0; y <= sc->y1 * 1.0001; y += ys) {
		fmt_num(b, sizeof(b), y);
		fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>"
			   "<text x='%d' y='%.1f' text-anchor='end' font-size='12'>%s</text>\n",
			ML, py(sc, y), W - MR, py(sc, y), ML - 6, py(sc, y) + 4, b);
	}
	if (sc->logx) {
		for (double x = pow(10, floor(log10(sc->x0))); x <= sc->x1 * 1.0001; x *= 10)
			for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
				double v = x * m;
				if (v < sc->x0 * 0.9999 || v > sc->x1 * 1.0001)
					continue;
				fmt_num(b, sizeof(b), v);
				fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle' font-size='12'>%s</text>\n",
					px(sc, v), H - MB + 18, b);
			}
	} else {
		double xs = nice_step(sc->x1 - sc->x0 > 0 ? sc->x1 - sc->x0 : 1, 6);
		for (double x = ceil(sc->x0 / xs) * xs; x <= sc->x1 * 1.0001; x += xs) {
			fmt_num(b, sizeof(b), x);
			fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle' font-size='12'>%s</text>\n",
				px(sc, x), H - MB + 18, b);
		}
	}
	fprintf(f, "<text x='%d' y='%d' text-anchor='middle' font-size='13'>", (ML + W - MR) / 2, H - 18);
	xml_text(f, xlabel);
	fprintf(f, "</text>\n<text transform='translate(18,%d) rotate(-90)' text-anchor='middle' "
		   "font-size='13'>", (MT + H - MB) / 2);
	xml_text(f, ylabel);
	fputs("</text>\n", f);
}

int bench_svg_write(const char *path, const char *title, const char *xlabel, const char *ylabel,
		    const struct bench_svg_series *s, unsigned nseries, bool logx)
{
	struct scale sc = { .x0 = INFINITY, .x1 = -INFINITY, .y1 = 0, .logx = logx };
	for (unsigned i = 0; i < nseries; i++)
		for (unsigned k = 0; k < s[i].n; k++) {
			sc.x0 = fmin(sc.x0, s[i].x[k]);
			sc.x1 = fmax(sc.x1, s[i].x[k]);
			sc.y1 = fmax(sc.y1, s[i].y[k]);
		}
	if (!isfinite(sc.x0)) {
		sc.x0 = 1;
		sc.x1 = 10;
	}
	if (logx && sc.x0 <= 0)
		sc.x0 = 1;
	if (sc.x1 <= sc.x0)
		sc.x1 = sc.x0 * (logx ? 10 : 1) + (logx ? 0 : 1);
	sc.y1 = sc.y1 > 0 ? sc.y1 * 1.1 : 1;
	sc.y1 = ceil(sc.y1 / nice_step(sc.y1, 5)) * nice_step(sc.y1, 5);
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' "
		   "width='%d' height='%d' viewBox='0 0 %d %d' font-family='sans-serif'>\n"
		   "<rect width='100%%' height='100%%' fill='#fff'/>\n<text x='%d' y='24' "
		   "font-size='15' font-weight='bold'>", W, H, W, H, ML);
	xml_text(f, title);
	fputs("</text>\n", f);
	axes(f, &sc, xlabel, ylabel);
	for (unsigned i = 0; i < nseries && i < BENCH_SVG_MAX_SERIES; i++) {
		const char *col = colors[i];
		fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", col);
		for (unsigned k = 0; k < s[i].n; k++)
			fprintf(f, "%.1f,%.1f ", px(&sc, s[i].x[k]), py(&sc, s[i].y[k]));
		fputs("'/>\n", f);
		for (unsigned k = 0; k < s[i].n; k++)
			fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'/>\n", px(&sc, s[i].x[k]),
				py(&sc, s[i].y[k]), col);
		fprintf(f, "<rect x='%d' y='%d' width='14' height='4' fill='%s'/><text x='%d' y='%d' "
			   "font-size='12'>", W - MR + 14, MT + 10 + 20 * (int)i, col, W - MR + 34,
			MT + 15 + 20 * (int)i);
		xml_text(f, s[i].name);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}
