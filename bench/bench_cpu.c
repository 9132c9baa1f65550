/* SPDX-License-Identifier: MIT */
/*
 * bench_cpu.c: CPU time of the system under test, from /proc/PID/stat. A relay like Postfix is
 * a tree of processes (master, smtpd, cleanup, qmgr, smtp...) that come and go, so the sample
 * is the sum over every live process of the trees rooted at the given pids of utime + stime +
 * cutime + cstime: a child that exited and was reaped has its time in its parent's c-times,
 * so each CPU second is counted once.
 */
#include "bench.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int bench_cpu_parse(struct bench_cpu *c, const char *list)
{
	memset(c, 0, sizeof(*c));
	const char *p = list;
	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v <= 0 || c->npids == BENCH_MAX_PIDS)
			return -1;
		c->pids[c->npids++] = (int)v;
		if (*end == ',')
			end++;
		else if (*end != 0)
			return -1;
		p = end;
	}
	return c->npids ? 0 : -1;
}

struct proc_row {
	int pid, ppid;
	double cpu_s;
};

/* Reads pid, ppid and the four CPU fields of one /proc/PID/stat; 0 or -1. */
static int read_stat(const char *pid, struct proc_row *row, double tick)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
	if (!rp)
		return -1;
	unsigned long long ut, st;
	long long cut, cst;
	int ppid;
	/* fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime */
	if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &ppid,
		   &ut, &st, &cut, &cst) != 5)
		return -1;
	row->pid = atoi(pid);
	row->ppid = ppid;
	row->cpu_s = (double)(ut + st + (unsigned long long)cut + (unsigned long long)cst) / tick;
	return 0;
}

double bench_cpu_seconds(const struct bench_cpu *c)
{
	double tick = (double)sysconf(_SC_CLK_TCK);
	size_t n = 0, cap = 1024;
	struct proc_row *rows = malloc(cap * sizeof(*rows));
	DIR *d = opendir("/proc");
	if (!rows || !d) {
		free(rows);
		if (d)
			closedir(d);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (n == cap) {
			struct proc_row *r2 = realloc(rows, 2 * cap * sizeof(*rows));
			if (!r2)
				break;
			rows = r2;
			cap *= 2;
		}
		if (read_stat(de->d_name, &rows[n], tick) == 0)
			n++;
	}
	closedir(d);
	/* mark the trees: repeat until no new member (process trees are shallow) */
	char *in = calloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < c->npids; k++)
			if (rows[i].pid == c->pids[k])
				in[i] = 1;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++)
				if (in[j] && rows[j].pid == rows[i].ppid) {
					in[i] = 1;
					grew = true;
					break;
				}
		}
	}
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i])
			sum += rows[i].cpu_s;
	free(in);
	free(rows);
	return sum;
}

double bench_self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
